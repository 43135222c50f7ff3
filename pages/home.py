"""Home: what CNN Studio does, recent runs, and where to go next.

Renders without TensorFlow: it reads only the run store. The first visit to a
fresh server paints quickly because nothing but Streamlit is imported before the
title and cards are sent: the run store, its formatting (numpy) and pandas load
after them, for the runs table (`benchmarks/bench_home_paint.py` measures it).
"""

import streamlit as st

from pages._shared.page_registry import card_pages

RECENT_RUNS = 15
CARDS_PER_ROW = 4


def render_intro() -> None:
    """The title, what the app does, and one card per page, numbered in the sidebar's order."""
    st.title("CNN Studio")
    st.markdown(
        "Build, train, inspect and use **convolutional image classifiers** in your "
        "browser, without writing code. Pick a dataset, design a network (or start from "
        "a classic preset), and watch it learn epoch by epoch."
    )
    cards = card_pages()  # the sidebar's pages, titles and order
    for start in range(0, len(cards), CARDS_PER_ROW):
        cols = st.columns(CARDS_PER_ROW)
        for number, col, entry in zip(
            range(start + 1, len(cards) + 1), cols, cards[start:], strict=False
        ):
            with col.container(border=True, height="stretch"):
                st.markdown(f"#### {number} · {entry.title}")
                st.caption(entry.blurb)
                st.page_link(entry.path, label=f"Open {entry.title}", icon=entry.icon)


def render_recent_runs() -> None:
    """The newest runs as a table, or how to start one."""
    import shlex

    from cnn_core.insight.labels import run_row
    from cnn_core.store.folder import runs_root
    from cnn_core.store.runs import list_runs

    st.subheader("Recent runs")
    runs = list_runs()
    if not runs:
        st.info(f"No runs yet. Runs are stored in `{runs_root()}`. Start one on the Train page.")
        return
    show_run_table([run_row(r) for r in runs[:RECENT_RUNS]], "home_runs")
    active = sum(r.active for r in runs)
    st.caption(
        f"{len(runs)} runs in `{runs_root()}` · {active} training or queued. "
        f"TensorBoard works too: `tensorboard --logdir {shlex.quote(str(runs_root()))}`."
    )


render_intro()  # on its way to the browser while the imports below run
# After the intro, not first as on the other pages: importing pages._shared.common loads
# numpy, and here it can only rerun a legacy deep link to /home on a fresh server
# (which then shows this page again, through app.py).
from pages._shared.common import ensure_app_navigation, show_run_table  # noqa: E402

ensure_app_navigation()
render_recent_runs()
