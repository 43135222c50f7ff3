"""Streamlit's clean-up after each script run, without the full garbage collection.

After every script run (every page render of every session) Streamlit 1.67 calls
`keras.backend.clear_session()` once Keras is imported (`_clean_problem_modules`
in `streamlit/runtime/scriptrunner/script_runner.py`). Keras then runs a full
`gc.collect()`, which with TensorFlow's heap loaded holds the GIL for about half a
second on the 2-core deployment: every other session's render stalls meanwhile
(benchmarks/profile_renders.py: 80 renders, 37 s of collection under a 10-session
load). The same reason made `runner.postScriptGC = false` in .streamlit/config.toml.

`use_light_cleanup` swaps in the same clean-up with
`clear_session(free_memory=False)`: Keras' global state is still reset and
TensorFlow's graph and kernel cache cleared, Python's generational collector
still frees memory, only the full collection per render is gone.
tests/test_script_cleanup.py fails when a Streamlit upgrade changes the function
replaced here.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any


def light_cleanup() -> None:
    """Streamlit's `_clean_problem_modules` with Keras' full collection left out."""
    keras: Any = sys.modules.get("keras")
    if keras is not None:
        with contextlib.suppress(Exception):  # as Streamlit's: never break the app over it
            keras.backend.clear_session(free_memory=False)
    pyplot: Any = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        with contextlib.suppress(Exception):
            pyplot.close("all")


def use_light_cleanup() -> None:
    """Make Streamlit's script runner call `light_cleanup` after each run (idempotent)."""
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = light_cleanup
