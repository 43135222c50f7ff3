"""Streamlit's after-run clean-up without Keras' full collection.

See pages/_shared/script_cleanup.py.
"""

from __future__ import annotations

import gc
import inspect

import pytest
from streamlit.runtime.scriptrunner import script_runner

from pages._shared.script_cleanup import light_cleanup
from tests.apptest_support import assert_no_exception, open_app

UPGRADE = (
    "Streamlit changed its clean-up after script runs, which pages/_shared/script_cleanup.py "
    "replaces: check that the replacement still does what the original does. "
)


def test_streamlit_still_clears_the_keras_session_after_each_run() -> None:
    source = inspect.getsource(script_runner)
    assert "_log_if_error(_clean_problem_modules)" in source, UPGRADE + "no longer called"
    original = source[source.index("def _clean_problem_modules") :]
    original = original[: original.index("\ndef ")]
    assert "backend.clear_session()" in original, UPGRADE + "Keras is no longer cleared"
    assert 'plt).close("all")' in original, UPGRADE + "matplotlib is no longer closed"


def test_light_cleanup_resets_keras_without_a_full_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keras

    collections = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args) or 0)
    keras.backend.clear_session(free_memory=False)
    assert keras.layers.Dense(2).name == "dense"
    assert keras.layers.Dense(2).name == "dense_1"
    light_cleanup()
    assert keras.layers.Dense(2).name == "dense"  # Keras' global state was reset
    assert collections == []
    keras.backend.clear_session()  # the original, for comparison: it does collect
    assert collections


def test_the_app_installs_it() -> None:
    at = open_app()
    assert_no_exception(at)
    assert script_runner._clean_problem_modules is light_cleanup
