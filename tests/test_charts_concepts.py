"""cnn_core.charts.concepts: the Concepts tab's figures and worked sums."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.charts.concepts import (
    dot_product_text,
    kernel_demo_figure,
    mark_cells,
    panels_figure,
)
from cnn_core.insight import concepts


def test_panels_are_as_wide_as_their_arrays_and_coloured_by_sign() -> None:
    signed = np.array([[-1.0, 2.0], [0.5, 0.0]] * 2)  # (4, 2)
    pooled = np.ones((2, 1))
    fig = panels_figure([("conv", signed), ("pool", pooled)], title="t")
    first, second = fig.data
    assert first.colorscale[0][1] != second.colorscale[0][1]  # red/blue vs grey
    assert (first.zmin, first.zmax) == (-2.0, 2.0)  # symmetric about 0
    widths = [fig.layout.xaxis.domain[1] - fig.layout.xaxis.domain[0]]
    widths.append(fig.layout.xaxis2.domain[1] - fig.layout.xaxis2.domain[0])
    assert widths[0] == pytest.approx(2 * widths[1], rel=0.01)
    assert [a.text for a in fig.layout.annotations] == ["conv (4x2)", "pool (2x1)"]


def test_shared_scale_uses_one_range() -> None:
    before = np.full((3, 3), 1.0)
    after = concepts.dropout(before, 0.5, seed=1)  # zeros and 2.0
    own = panels_figure([("a", before), ("b", after)])
    shared = panels_figure([("a", before), ("b", after)], shared_scale=True)
    assert own.data[0].zmin == own.data[0].zmax == 1.0
    assert {(t.zmin, t.zmax) for t in shared.data} == {(0.0, 2.0)}


@pytest.mark.parametrize("panels", [[], [("flat", np.ones(4))], [("empty", np.ones((0, 3)))]])
def test_panels_figure_refuses_bad_input(panels) -> None:
    with pytest.raises(ValueError):
        panels_figure(panels)


def test_mark_cells_outlines_the_window_on_a_copy() -> None:
    fig = panels_figure([("a", np.ones((5, 5))), ("b", np.ones((3, 3)))])
    marked = mark_cells(fig, 2, row=1, col=0, height=2, width=3)
    (shape,) = marked.layout.shapes
    assert (shape.xref, shape.yref) == ("x2", "y2")
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (-0.5, 2.5, 0.5, 2.5)
    assert fig.layout.shapes == ()  # the argument is left as it was
    twice = mark_cells(marked, 1, row=0, col=0)
    assert [s.xref for s in twice.layout.shapes] == ["x2", "x"] and len(marked.layout.shapes) == 1


def test_kernel_demo_shows_signed_output_on_the_diverging_scale() -> None:
    image = np.random.default_rng(1).uniform(0, 1, size=(7, 7)).astype(np.float32)
    kernel = concepts.KERNELS["laplacian"]
    out = concepts.conv2d(image, kernel)
    demo = kernel_demo_figure(image, kernel, out, title="laplacian")
    assert [a.text for a in demo.layout.annotations] == ["input 7x7", "kernel 3x3", "output 5x5"]
    grey, weights, result = demo.data
    assert weights.zmin == -weights.zmax == -4.0  # symmetric about 0, from the -4 centre
    assert out.min() < 0 and result.zmid == 0 and grey.colorscale != result.colorscale
    with pytest.raises(ValueError, match="kernel"):
        kernel_demo_figure(image, np.ones(3), out)


def test_dot_product_text_adds_up_to_the_convolution_output() -> None:
    image = np.random.default_rng(0).uniform(0, 1, size=(6, 6)).astype(np.float32)
    kernel = concepts.KERNELS["sobel vertical"]
    out = concepts.conv2d(image, kernel)
    text = dot_product_text(image[2:5, 1:4], kernel)
    assert text.count("×") == 9 and "×(-2)" in text
    assert float(text.rsplit("= ", 1)[1]) == pytest.approx(out[2, 1], abs=5e-4)
    with pytest.raises(ValueError):
        dot_product_text(np.ones((2, 2)), kernel)
