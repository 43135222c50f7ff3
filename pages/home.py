"""Home: what CNN Studio does, recent runs, and where to go next.

Renders without TensorFlow: it reads only the run store.
"""

import pandas as pd
import streamlit as st

from cnn_core.formatting import run_row
from cnn_core.runs import list_runs, runs_root
from pages.common import ensure_app_navigation

RECENT_RUNS = 15


def render_home() -> None:
    st.title("🧠 CNN Studio")
    st.markdown(
        "Build, train, inspect and use **convolutional image classifiers** in your "
        "browser, without writing code. Pick a dataset, design a network (or start from "
        "a classic preset), and watch it learn epoch by epoch."
    )
    cols = st.columns(3)
    with cols[0].container(border=True):
        st.markdown("#### 1 · Data")
        st.caption(
            "MNIST digits, Fashion-MNIST clothing or CIFAR-10 photos: samples, "
            "split sizes and class balance."
        )
        st.page_link("pages/data.py", label="Browse the data", icon=":material/photo_library:")
    with cols[1].container(border=True):
        st.markdown("#### 2 · Train")
        st.caption(
            "Softmax baseline or a configurable CNN; live loss and accuracy charts, "
            "early stopping, Stop at any batch; runs keep going in the background."
        )
        st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
    with cols[2].container(border=True):
        st.markdown("#### 3 · Evaluate")
        st.caption(
            "Test accuracy, per-class precision and recall, a clickable confusion matrix "
            "and the images the model gets wrong."
        )
        st.page_link("pages/evaluate.py", label="Evaluate a model", icon=":material/fact_check:")

    st.subheader("Recent runs")
    runs = list_runs()
    if not runs:
        st.info(f"No runs yet. Runs are stored in `{runs_root()}`. Start one on the Train page.")
        return
    frame = pd.DataFrame([run_row(r) for r in runs[:RECENT_RUNS]])
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "best val acc": st.column_config.NumberColumn(format="percent"),
            "test acc": st.column_config.NumberColumn(format="percent"),
        },
        key="home_runs",
    )
    active = sum(r.active for r in runs)
    st.caption(
        f"{len(runs)} runs in `{runs_root()}` · {active} training or queued. "
        "TensorBoard works too: `tensorboard --logdir runs`."
    )


ensure_app_navigation()
render_home()
