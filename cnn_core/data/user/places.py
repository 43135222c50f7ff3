"""Where imported datasets live, and which server folders may be imported.

Datasets are kept in `<data dir>/my_images/<slug>/`, or with private workspaces in
`<data dir>/.workspaces/<id>/my_images/<slug>/` (`workspace.data_folder`), so every
path here is the current workspace's.
"""

from __future__ import annotations

from pathlib import Path

from cnn_core.base import settings, workspace
from cnn_core.base.errors import UserError
from cnn_core.data.builtin import keras_cache_dir
from cnn_core.data.user.names import key_slug, shown

ROOT_NAME = "my_images"  # folder under the (workspace's) data directory


def data_dir() -> Path:
    """The configured data directory: `$CNN_DATA_DIR`, else Keras' dataset cache."""
    configured = settings.data_dir()
    return configured if configured is not None else keras_cache_dir()


def user_root() -> Path:
    """The current workspace's folder of imported datasets."""
    return workspace.data_folder(data_dir()) / ROOT_NAME


def dataset_folder(key: str) -> Path:
    """The folder of an imported dataset (UserError for a malformed key)."""
    return user_root() / key_slug(key)


def server_folder(path: str) -> Path:
    """A server-side folder the user named, accepted only inside the data directory.

    Relative paths are taken relative to the data directory. Symlinks are resolved
    before the check, so a link cannot lead outside.

    Raises:
        UserError: outside the data directory, missing, or not a folder.
    """
    base = data_dir().resolve()
    raw = Path(str(path).strip()).expanduser()
    resolved = (raw if raw.is_absolute() else base / raw).resolve()
    if resolved != base and base not in resolved.parents:
        raise UserError(
            f"only folders inside the data directory {base} can be read on the server "
            f"(set CNN_DATA_DIR to choose it). Received: {shown(str(path))}"
        )
    if not resolved.is_dir():
        raise UserError(f"no folder {shown(str(path))} inside the data directory {base}")
    if resolved == user_root().resolve() or user_root().resolve() in resolved.parents:
        raise UserError("that folder holds imported datasets; choose the folder of your images")
    if workspace.WORKSPACES_DIR in resolved.relative_to(base).parts:
        raise UserError("that folder belongs to a workspace; choose the folder of your images")
    return resolved
