"""Where VGG16's weights come from: ImageNet via Keras' cache, a local file, or none.

The worker never downloads (a run loads ImageNet weights from Keras' cache by
path); the Train page downloads them first, with progress, through Keras'
md5-checked `get_file`. When offline, `offline_message` says which file to put
where. A run records `weights_source` so Compare can tell runs from different
files apart.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnn_core.base import settings
from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.schema.config import Vgg16Spec

# Keras' ImageNet weights without the classifier (keras.applications.VGG16, include_top=False).
WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + WEIGHTS_FILE
WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"  # the hash Keras checks
WEIGHTS_BYTES = 58_889_256  # 58.9 MB


def weights_source(vgg: Vgg16Spec, digest_bytes: int = 6) -> str:
    """Where a run's VGG16 weights come from, for its status record and the Compare table.

    'ImageNet (Keras download)', 'none (random, not pretrained)', or for a local
    file 'my_vgg16.h5 · 58.9 MB · sha256 1a2b3c4d5e6f' (the digest of its bytes,
    so two runs from the same file can be told from runs from another).

    Raises:
        OSError: the local file cannot be read.
    """
    if vgg.weights == "imagenet":
        return "ImageNet (Keras download)"
    if vgg.weights != "file":
        return "none (random, not pretrained)"
    path = Path(vgg.weights_file).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    size = path.stat().st_size
    return f"{path.name} · {size / 1e6:.1f} MB · sha256 {digest.hexdigest()[: 2 * digest_bytes]}"


def keras_models_dir() -> Path:
    """Where Keras caches model weights: `$KERAS_HOME/models` (default ~/.keras/models)."""
    return settings.keras_home() / "models"


def imagenet_weights_path() -> Path:
    """Where the ImageNet weights are (or will be, once downloaded)."""
    return keras_models_dir() / WEIGHTS_FILE


def offline_message() -> str:
    """What to do when the ImageNet weights cannot be downloaded."""
    return (
        f"The ImageNet weights are not downloaded. Download them here, or put Keras' file "
        f"{WEIGHTS_FILE} ({WEIGHTS_BYTES / 1e6:.1f} MB, from {WEIGHTS_URL}) in "
        f"{keras_models_dir()}/, or choose 'a local weights file' and give its path."
    )


def weights_problem(vgg: Vgg16Spec) -> str:
    """Why the chosen weights cannot be loaded now ('' when they can)."""
    if vgg.weights == "imagenet" and not imagenet_weights_path().is_file():
        return offline_message()
    if vgg.weights == "file":
        path = Path(vgg.weights_file).expanduser()
        if not path.is_file():
            return f"the VGG16 weights file {path} does not exist"
        if not path.name.endswith(".h5"):
            return f"the VGG16 weights file {path} is not a Keras .h5 weights file"
    return ""


def resolve_weights(vgg: Vgg16Spec) -> str | None:
    """The `weights` argument for keras.applications.VGG16: a file path, or None.

    ImageNet weights are loaded from Keras' cache by path, so a run never
    downloads inside the worker (the Train page downloads them first).

    Raises:
        UserError: the file is missing (the message says which file to put where).
    """
    problem = weights_problem(vgg)
    if problem:
        raise UserError(problem)
    if vgg.weights == "imagenet":
        return str(imagenet_weights_path())
    if vgg.weights == "file":
        return str(Path(vgg.weights_file).expanduser())
    return None


def download_imagenet_weights(
    on_progress: Callable[[int, int], None] | None = None, poll_s: float = 0.25
) -> Path:
    """Download the ImageNet weights through Keras (md5-checked), reporting progress.

    Keras' `get_file` runs in a thread; `on_progress(bytes_so_far, total_bytes)`
    is called from this thread every `poll_s` seconds while the file grows.

    Returns:
        The weights file's path.

    Raises:
        UserError: the download failed (offline, or a corrupt file).
    """
    keras = import_keras()
    target = imagenet_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            outcome["path"] = keras.utils.get_file(
                WEIGHTS_FILE,
                WEIGHTS_URL,
                cache_dir=str(target.parent.parent),
                cache_subdir=target.parent.name,
                file_hash=WEIGHTS_MD5,
            )
        except Exception as error:  # noqa: BLE001 - urllib, hash and OS errors vary
            outcome["error"] = error

    thread = threading.Thread(target=fetch, name="vgg16-weights", daemon=True)
    thread.start()
    while thread.is_alive():
        if on_progress is not None:
            size = target.stat().st_size if target.exists() else 0
            on_progress(size, WEIGHTS_BYTES)
        thread.join(poll_s)
    if "error" in outcome:
        raise UserError(
            f"could not download {WEIGHTS_FILE} ({outcome['error']}). {offline_message()}"
        ) from outcome["error"]
    if on_progress is not None:
        on_progress(WEIGHTS_BYTES, WEIGHTS_BYTES)
    return Path(outcome["path"])
