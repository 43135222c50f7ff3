"""Home: what CNN Studio does, recent runs, and where to go next.

Renders without TensorFlow: it reads only the run store. The first visit to a
fresh server paints quickly because nothing but Streamlit is imported before the
title and cards are sent: the run store, its formatting (numpy) and pandas load
after them, for the runs table (`benchmarks/bench_home_paint.py` measures it).
"""

import streamlit as st

RECENT_RUNS = 15
CARDS_PER_ROW = 4
# (title, what it offers, page, link label, icon): one card each, in workflow order,
# numbered on the page, CARDS_PER_ROW to a row.
STEPS = [
    (
        "Data",
        "MNIST digits, Fashion-MNIST clothing, CIFAR-10 photos or your own image "
        "folders: samples, split sizes and class balance.",
        "pages/data.py",
        "Browse",
        ":material/photo_library:",
    ),
    (
        "Train",
        "Softmax baseline, a configurable CNN or pretrained VGG16; live loss and "
        "accuracy charts, early stopping, Stop at any batch.",
        "pages/train.py",
        "Train",
        ":material/model_training:",
    ),
    (
        "Evaluate",
        "Test accuracy, per-class precision and recall, a clickable confusion "
        "matrix and the images the model gets wrong.",
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
    ),
    (
        "Look inside",
        "Filters, feature maps and Grad-CAM of a trained network, and the "
        "ideas behind convolution, pooling and softmax.",
        "pages/inside.py",
        "Look inside",
        ":material/neurology:",
    ),
    (
        "Compare",
        "Any runs' curves and settings side by side; another model on the same "
        "split in one click; repeats over seeds.",
        "pages/compare.py",
        "Compare",
        ":material/compare:",
    ),
    (
        "Predict",
        "Upload images or draw a digit: a starter model works right away.",
        "pages/predict.py",
        "Predict",
        ":material/draw:",
    ),
    (
        "Runs",
        "Rename, tag, filter and delete runs; download a model (.keras, .tflite) "
        "or a whole run as a bundle, and import bundles.",
        "pages/runs.py",
        "Manage",
        ":material/folder_managed:",
    ),
]


def render_intro() -> None:
    """The title, what the app does, and one card per step."""
    st.title("CNN Studio")
    st.markdown(
        "Build, train, inspect and use **convolutional image classifiers** in your "
        "browser, without writing code. Pick a dataset, design a network (or start from "
        "a classic preset), and watch it learn epoch by epoch."
    )
    for start in range(0, len(STEPS), CARDS_PER_ROW):
        cols = st.columns(CARDS_PER_ROW)
        for number, col, (title, text, page, label, icon) in zip(
            range(start + 1, len(STEPS) + 1), cols, STEPS[start:], strict=False
        ):
            with col.container(border=True, height="stretch"):
                st.markdown(f"#### {number} · {title}")
                st.caption(text)
                st.page_link(page, label=label, icon=icon)


def render_recent_runs() -> None:
    """The newest runs as a table, or how to start one."""
    from cnn_core.formatting import run_row
    from cnn_core.runs import list_runs, runs_root

    st.subheader("Recent runs")
    runs = list_runs()
    if not runs:
        st.info(f"No runs yet. Runs are stored in `{runs_root()}`. Start one on the Train page.")
        return
    st.dataframe(
        run_table([run_row(r) for r in runs[:RECENT_RUNS]]),
        hide_index=True,
        key="home_runs",
    )
    active = sum(r.active for r in runs)
    st.caption(
        f"{len(runs)} runs in `{runs_root()}` · {active} training or queued. "
        "TensorBoard works too: `tensorboard --logdir runs`."
    )


render_intro()  # on its way to the browser while the imports below run
# After the intro, not first as on the other pages: importing pages._shared.common loads
# numpy, and here it can only rerun a legacy deep link to /home on a fresh server
# (which then shows this page again, through app.py).
from pages._shared.common import ensure_app_navigation, run_table  # noqa: E402

ensure_app_navigation()
render_recent_runs()
