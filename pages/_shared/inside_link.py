"""Links into "Inside the CNN" on one test image: `/inside?run=<id>&image=<index>`.

Evaluate's and Compare's galleries link each image with `image_link`; the
Inside page calls `link_pending` (to switch its source to the test set) and
`linked_index` (to select the image) before drawing its widgets. A link wins
once, on arrival; after that the page writes the shown image back to the URL
(`remember_image`), so a later choice by hand stands and a copied link opens it.
"""

from __future__ import annotations

import streamlit as st

from pages._shared.common import RUN_PARAM
from pages._shared.page_registry import page

INSIDE_PAGE = page("pages/inside.py").path
IMAGE_PARAM = "image"
LINKED_IMAGE = "inside_image_linked"  # the `image` value last applied or written


def image_link(column: st.delta_generator.DeltaGenerator, run_id: str, index: int) -> None:
    """A short "Inside" link under a gallery image (it fits an 8-column gallery):
    that run, that test image."""
    column.page_link(
        INSIDE_PAGE,
        label="Inside",
        icon=":material/biotech:",
        query_params={RUN_PARAM: run_id, IMAGE_PARAM: str(int(index))},
        help=f"Open Inside the CNN on test image #{int(index)}: feature maps, Grad-CAM.",
    )


def link_pending() -> bool:
    """True when the URL names a test image this session has not applied yet."""
    link = st.query_params.get(IMAGE_PARAM)
    return link is not None and link != st.session_state.get(LINKED_IMAGE)


def linked_index(count: int) -> int | None:
    """The URL's test-image index when it is new and valid (0..count-1), else None.

    A new but bad value (not a whole number, out of range) gets a warning; either way
    it counts as applied, so it is said once and never overrides a later choice.
    """
    if not link_pending():
        return None
    link = str(st.query_params.get(IMAGE_PARAM))
    st.session_state[LINKED_IMAGE] = link
    index = int(link) if link.strip().isdigit() else -1
    if not 0 <= index < count:
        shown = link if len(link) <= 40 else link[:40] + "…"
        st.warning(
            f"The link's test image {shown!r} is not a test-image number of this dataset "
            f"(0-{count - 1}): showing another image."
        )
        return None
    return index


def remember_image(index: int) -> None:
    """Put the shown test image in the URL (a copied link opens it)."""
    st.query_params[IMAGE_PARAM] = st.session_state[LINKED_IMAGE] = str(int(index))
