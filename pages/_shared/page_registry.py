"""The app's pages, declared once: app.py's navigation and Home's cards both read them.

Imports nothing but the standard library, so Home can list the pages before
anything heavy loads (it must never import TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass

HOME_SECTION = "CNN Studio"


@dataclass(frozen=True)
class PageEntry:
    """One page: its file, the title and icon the sidebar shows, and Home's card text."""

    path: str  # relative to the project root, as st.Page and st.page_link take it
    title: str
    icon: str  # a Material icon, ":material/<name>:" (Debian's Chromium has no emoji font)
    section: str  # the sidebar heading it is listed under
    blurb: str = ""  # what the page offers, on its Home card ("" for Home itself)
    default: bool = False  # the page "/" opens


PAGES: tuple[PageEntry, ...] = (
    PageEntry("pages/home.py", "Home", ":material/home:", HOME_SECTION, default=True),
    PageEntry(
        "pages/data.py",
        "Data",
        ":material/photo_library:",
        "Build and train",
        "MNIST digits, Fashion-MNIST clothing, CIFAR-10 photos or your own image "
        "folders: samples, split sizes and class balance.",
    ),
    PageEntry(
        "pages/train.py",
        "Train",
        ":material/model_training:",
        "Build and train",
        "Softmax baseline, a configurable CNN or pretrained VGG16; live loss and "
        "accuracy charts, early stopping, Stop at any batch.",
    ),
    PageEntry(
        "pages/runs.py",
        "Runs",
        ":material/folder_managed:",
        "Build and train",
        "Rename, tag, filter and delete runs; download a model (.keras, .tflite) "
        "or a whole run as a bundle, and import bundles.",
    ),
    PageEntry(
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
        "Evaluate and inspect",
        "Test accuracy, per-class precision and recall, a clickable confusion "
        "matrix and the images the model gets wrong.",
    ),
    PageEntry(
        "pages/inside.py",
        "Inside the CNN",
        ":material/neurology:",
        "Evaluate and inspect",
        "Filters, feature maps and Grad-CAM of a trained network, and the "
        "ideas behind convolution, pooling and softmax.",
    ),
    PageEntry(
        "pages/compare.py",
        "Compare",
        ":material/compare:",
        "Evaluate and inspect",
        "Any runs' curves and settings side by side; another model on the same "
        "split in one click; repeats over seeds.",
    ),
    PageEntry(
        "pages/predict.py",
        "Predict",
        ":material/draw:",
        "Use",
        "Upload images or draw a digit: a starter model works right away.",
    ),
)


def sections() -> dict[str, list[PageEntry]]:
    """The pages under their sidebar headings, in navigation order."""
    grouped: dict[str, list[PageEntry]] = {}
    for entry in PAGES:
        grouped.setdefault(entry.section, []).append(entry)
    return grouped


def card_pages() -> list[PageEntry]:
    """The pages Home shows a card for: every page but Home itself, in navigation order."""
    return [entry for entry in PAGES if not entry.default]


def page(path: str) -> PageEntry:
    """The registered page at `path` ("pages/inside.py"), for links and switches; a
    KeyError names a page that is not in PAGES (a link to it could never open)."""
    for entry in PAGES:
        if entry.path == path:
            return entry
    raise KeyError(f"no page {path!r} in the page registry")
