"""The Concepts tab of "Inside the CNN": the classic CNN tutorial ideas on a real image.

A helper of ``pages/inside.py``, not a page. Convolution as a sliding dot
product, the output-size rule for stride and padding (checked against a real
Keras layer), ReLU, pooling, softmax and dropout, each with the numbers behind
it. Renders only; the operations are ``cnn_core.insight.concepts``, the figures
``cnn_core.charts``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.base.digests import array_digest
from cnn_core.charts.concepts import (
    dot_product_text,
    kernel_demo_figure,
    mark_cells,
    panels_figure,
)
from cnn_core.charts.model_views import probability_bar_figure
from cnn_core.insight import concepts
from cnn_core.insight.labels import class_names
from cnn_core.store.runs import RunSummary
from pages._shared.common import cached_model

DEFAULT_LOGITS = (2.0, 1.0, 0.1, -1.0, 0.5)
SIZE_RULES = {  # LaTeX for the output length along one axis
    "valid": r"\left\lfloor \frac{{n - k}}{{s}} \right\rfloor + 1"
    r" = \left\lfloor \frac{{{n} - {k}}}{{{s}}} \right\rfloor + 1",
    "same": r"\left\lceil \frac{{n}}{{s}} \right\rceil"
    r" = \left\lceil \frac{{{n}}}{{{s}}} \right\rceil",
    "full": r"\left\lfloor \frac{{n + k - 2}}{{s}} \right\rfloor + 1"
    r" = \left\lfloor \frac{{{n} + {k} - 2}}{{{s}}} \right\rfloor + 1",
}
REFUSED = "0 (refused)"  # what Keras' answer reads when it refuses the layer
RUN_FILTER = "this run: "  # menu labels of the run's own first-layer filters start so


def go_to_strongest(gray: np.ndarray, kernels: dict[str, np.ndarray]) -> None:
    """Points the dot-product example at the chosen kernel's strongest output."""
    kernel = kernels[st.session_state["concept_kernel"]]
    row, col = concepts.strongest_position(gray, kernel)
    st.session_state["concept_row"], st.session_state["concept_col"] = row, col


def run_kernels(model: Any, gray: np.ndarray) -> dict[str, np.ndarray]:
    """The run's first-layer filters that fit on the image, by their menu label."""
    found = concepts.first_layer_filters(model) if model is not None else None
    if found is None:
        return {}
    layer, filters = found
    if filters.shape[1] > gray.shape[0] or filters.shape[2] > gray.shape[1]:
        return {}
    return {f"{RUN_FILTER}{layer}, filter {i}": kernel for i, kernel in enumerate(filters)}


def convolution_section(gray: np.ndarray, model: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """A chosen kernel (textbook, or one of the run's first-layer filters) slid over the
    image, and one output pixel worked out.

    Returns:
        The kernel (kh, kw) and the valid, stride-1 output (H - kh + 1, W - kw + 1).
    """
    st.subheader("Convolution: a sliding dot product")
    st.caption(
        "A kernel slides over the image (pixels scaled to 0-1, as the model's Rescaling "
        "layer does). At each position the output is the sum of the pixels under it times "
        "the weights. Pick a textbook kernel or one this run learned in its first layer."
    )
    kernels = dict(concepts.KERNELS) | run_kernels(model, gray)
    if st.session_state.get("concept_kernel") not in kernels:
        st.session_state.pop("concept_kernel", None)  # another run's filter: start over
    cols = st.columns([1.3, 1, 1, 1], vertical_alignment="bottom")
    name = cols[0].selectbox(
        "Kernel",
        list(kernels),
        index=2,
        key="concept_kernel",
        persist_state="page",
        on_change=go_to_strongest,
        args=(gray, kernels),
    )
    kernel = kernels[name]
    kh, kw = kernel.shape
    out = concepts.conv2d(gray, kernel)
    strongest = concepts.strongest_position(gray, kernel)
    row, col = (
        cols[1 + axis].number_input(
            f"Output {label} (0-{out.shape[axis] - 1})",
            min_value=0,
            max_value=out.shape[axis] - 1,
            value=strongest[axis],
            key=f"concept_{key}",
            persist_state="page",
        )
        for axis, (label, key) in enumerate((("row", "row"), ("column", "col")))
    )
    cols[3].button(
        "Strongest output",
        icon=":material/my_location:",
        on_click=go_to_strongest,
        args=(gray, kernels),
        key="concept_strongest",
        help="Move to the output pixel with the largest absolute value.",
    )
    fig = kernel_demo_figure(gray, kernel, out, title=f"{name} kernel, stride 1, valid padding")
    fig = mark_cells(mark_cells(fig, 1, row, col, kh, kw), 3, row, col)
    st.plotly_chart(fig, key="concept_conv_figure")
    if name.startswith(RUN_FILTER):
        st.caption(
            f"A {kh}x{kw} filter this run learned, summed over its input channels (what it "
            "does to a grey image), without its bias: the model adds the bias, then ReLU."
        )
    window = gray[row : row + kh, col : col + kw]
    st.markdown(f"output[{row}, {col}] = {dot_product_text(window, kernel)}")
    return kernel, out


def stride_padding_section(gray: np.ndarray, kernel: np.ndarray) -> None:
    """The output-size rule for valid / same / full padding, checked against Keras."""
    st.subheader("Stride and padding")
    st.caption(
        "Stride s skips positions; padding adds zeros round the border: valid adds none, "
        "same adds just enough to keep ceil(n / s), full adds k - 1 on each side."
    )
    cols = st.columns(4)
    n = cols[0].number_input(
        "Input size n", 1, 512, value=gray.shape[0], key="concept_n", persist_state="page"
    )
    k = cols[1].number_input("Kernel size k", 1, 15, value=3, key="concept_k", persist_state="page")
    s = cols[2].number_input("Stride s", 1, 8, value=1, key="concept_s", persist_state="page")
    padding = cols[3].radio(
        "Padding", concepts.PADDINGS, horizontal=True, key="concept_padding", persist_state="page"
    )
    n, k, s = int(n), int(k), int(s)
    size = concepts.output_size(n, k, s, padding)
    rule = SIZE_RULES[padding].format(n=n, k=k, s=s)
    st.latex(rf"\text{{{padding}}}: \quad {rule} = {size}")
    if padding == "valid" and k > n:
        st.caption("k > n: the kernel fits nowhere in the input, so there is no output.")
    results = st.columns(3)
    results[0].metric("Output size", size)
    keras_size = concepts.keras_output_size(n, k, s, padding)
    results[1].metric(
        "Keras Conv2D says",
        REFUSED if keras_size is None else keras_size,
        help="compute_output_shape of a real keras.layers.Conv2D (full: ZeroPadding2D(k-1) first)",
    )
    out = concepts.conv2d(gray, kernel, stride=s, padding=padding)
    results[2].metric(
        f"On this {gray.shape[0]}x{gray.shape[1]} image, "
        f"{kernel.shape[0]}x{kernel.shape[1]} kernel",
        f"{out.shape[0]}x{out.shape[1]}",
    )
    st.plotly_chart(
        panels_figure([("input", gray), (f"{padding}, stride {s}", out)], height=260),
        key="concept_stride_figure",
    )


def relu_pool_section(feature: np.ndarray) -> np.ndarray:
    """ReLU on the convolution output, then max and average pooling of the result."""
    st.subheader("ReLU: keep the positives")
    rectified = concepts.relu(feature)
    negative = int((feature < 0).sum())
    st.caption(
        f"ReLU replaces every negative value by 0: here {negative:,} of {feature.size:,} "
        f"outputs ({negative / feature.size:.0%}). Without it, stacked convolutions would "
        "collapse into one linear filter."
    )
    st.plotly_chart(
        panels_figure([("convolution output", feature), ("after ReLU", rectified)], height=260),
        key="concept_relu_figure",
    )
    st.subheader("Pooling: max or average")
    size = st.radio(
        "Window (stride = window)",
        [2, 3],
        horizontal=True,
        key="concept_pool",
        persist_state="page",
    )
    pooled = {mode: concepts.pool2d(rectified, size, mode=mode) for mode in concepts.POOL_MODES}
    r, c = np.unravel_index(int(pooled["max"].argmax()), pooled["max"].shape)
    window = rectified[r * size : (r + 1) * size, c * size : (c + 1) * size]
    values = ", ".join(f"{v:.2f}" for v in window.ravel())
    st.caption(
        f"Each {size}x{size} window becomes one number. Strongest window, at pooled "
        f"[{r}, {c}]: [{values}] -> max {pooled['max'][r, c]:.2f}, average "
        f"{pooled['avg'][r, c]:.2f}. Max keeps whether a feature is present; average blurs it."
    )
    fig = panels_figure(
        [("after ReLU", rectified), ("max pool", pooled["max"]), ("average pool", pooled["avg"])],
        height=260,
    )
    fig = mark_cells(mark_cells(fig, 1, r * size, c * size, size, size), 2, r, c)
    st.plotly_chart(mark_cells(fig, 3, r, c), key="concept_pool_figure")
    return rectified


def textbook_logits() -> tuple[np.ndarray, list[str]]:
    """Logits typed in by the reader (3 to 5 classes), named z0, z1..."""
    count = st.radio(
        "Classes", [3, 4, 5], index=1, horizontal=True, key="concept_classes", persist_state="page"
    )
    cols = st.columns(count)
    logits = np.array(
        [
            cols[i].number_input(
                f"logit z{i}",
                -50.0,
                50.0,
                value=DEFAULT_LOGITS[i],
                step=0.5,
                key=f"concept_logit_{i}",
                persist_state="page",
            )
            for i in range(count)
        ]
    )
    return logits, [f"z{i}" for i in range(count)]


@st.cache_data(max_entries=32, show_spinner=False)
def _run_logits(
    model_path: str, version: float, image_key: str, _image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return concepts.model_logits(cached_model(model_path, version), _image)


def run_logits(run: RunSummary, image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The run's own logits for the image, named by class, checked against its output."""
    key = (str(run.model_path), run.model_version(), array_digest(image))
    logits, probs = _run_logits(*key, image)
    names = class_names(run, len(logits))
    gap = float(np.abs(concepts.softmax(logits) - probs).max())
    st.caption(
        "The logits are what this run's output layer computes for the image (its weighted "
        f"sums, before softmax). Softmax of them gives the model's own probabilities "
        f"(largest difference {gap:.1e})."
    )
    return logits, names


def softmax_section(run: RunSummary | None = None, image: np.ndarray | None = None) -> None:
    """Logits turned into probabilities: typed in, or the run's own for the image."""
    st.subheader("Softmax: scores to probabilities")
    st.latex(r"p_i = \frac{e^{z_i}}{\sum_j e^{z_j}}")
    sources = ["typed"] + (["run"] if run is not None and image is not None else [])
    source = st.radio(
        "Logits",
        sources,
        format_func={"typed": "Typed in", "run": "This run on this image"}.get,
        horizontal=True,
        key="concept_logit_source",
        persist_state="page",
    )
    if source == "run" and run is not None and image is not None:
        logits, names = run_logits(run, image)
    else:
        logits, names = textbook_logits()
    probs = concepts.softmax(logits)
    table = pd.DataFrame(
        {
            "logit z": logits,
            "e^(z - max z)": np.exp(logits - logits.max()),
            "probability": probs,
        },
        index=names,
    )
    cols = st.columns([1, 1], gap="large")
    cols[0].dataframe(
        table.style.format(
            {"logit z": "{:.2f}", "e^(z - max z)": "{:.4f}", "probability": "{:.1%}"}
        ),
        key="concept_softmax_table",
    )
    cols[0].caption(
        "Subtracting the largest logit first changes nothing (softmax ignores a shift) but "
        "keeps e^z from overflowing. Adding 1 to a logit multiplies its probability "
        "against every other class by e = 2.72."
    )
    cols[1].plotly_chart(probability_bar_figure(probs, names), key="concept_softmax_bars")


def dropout_section(feature: np.ndarray) -> None:
    """Inverted dropout on the rectified map, with the numbers that keep the mean."""
    st.subheader("Dropout")
    cols = st.columns([2, 1])
    rate = cols[0].slider(
        "Rate", 0.0, 0.9, value=0.5, step=0.05, key="concept_dropout_rate", persist_state="page"
    )
    seed = cols[1].number_input(
        "Seed", 0, 10_000, value=0, key="concept_dropout_seed", persist_state="page"
    )
    dropped = concepts.dropout(feature, rate, int(seed))
    kept = concepts.dropout(np.ones_like(feature), rate, int(seed)) > 0  # the same mask
    st.caption(
        f"During training each value is zeroed with probability {rate:.2f}: here "
        f"{int((~kept).sum()):,} of {feature.size:,}. The rest are multiplied by "
        f"1 / (1 - {rate:.2f}) = {1 / (1 - rate):.2f}, so the mean stays about the same "
        f"({feature.mean():.3f} before, {dropped.mean():.3f} after). At prediction time "
        "dropout does nothing."
    )
    st.plotly_chart(
        panels_figure(
            [("before", feature), ("after dropout", dropped)], shared_scale=True, height=260
        ),
        key="concept_dropout_figure",
    )


def render_concepts(image: np.ndarray, run: RunSummary | None = None) -> None:
    """The classic tutorial ideas, on the chosen image in grey.

    Args:
        image: (H, W, C) raw pixels in [0, 255], as the model takes them.
        run: the run being inspected: its first-layer filters join the kernels and
            its logits for `image` can feed the softmax demo.
    """
    gray = concepts.rescaled_grayscale(image)  # float32 (H, W) in [0, 1]
    model = cached_model(str(run.model_path), run.model_version()) if run else None
    kernel, out = convolution_section(gray, model)
    st.divider()
    stride_padding_section(gray, kernel)
    st.divider()
    rectified = relu_pool_section(out)
    st.divider()
    softmax_section(run, image)
    st.divider()
    dropout_section(rectified)
