"""Run bundles: a whole run as one zip file, to keep it or move it to another deployment.

A bundle holds a manifest and the run's records, predictions, model and notes,
flat (no folders):

    manifest.json   {"schema_version", "kind": "cnn-studio-run", "run_id", "files"}
    config, status, metrics, evaluation, predictions, model and notes files
                    under the names `cnn_core.store.folder.RunFolder` gives them

An imported bundle is untrusted input. `import_bundle` checks all of it before
anything is written to the run store: the zip's structure (flat, known names,
no `..`, absolute paths, symlinks, encrypted or nested archives), sizes per
entry and in total (read with a limit, whatever the headers claim), every
record's schema version and content (through `cnn_core.schema.records`), the
predictions' arrays, and the model (`cnn_core.sharing.model_check`: a
`.keras` zip of CNN Studio's own layers only, then loaded in Keras' safe mode).
The checked run is written to a hidden staging folder in the store and renamed
into place under a fresh run id; any failure removes the staging folder, so a
refused bundle leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from cnn_core.base.errors import UserError
from cnn_core.base.upload_limits import BUNDLE_MB, MB
from cnn_core.data.registry import DatasetInfo, find_dataset
from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import (
    EpochRecord,
    Evaluation,
    RecordError,
    RunNotes,
    RunState,
    Status,
    record_version,
    stamped,
)
from cnn_core.sharing.model_check import ZIP_MAGIC, check_model
from cnn_core.store.atomic import atomic_write_json
from cnn_core.store.folder import RunFolder, new_run_id, predictions_problem, run_folder, runs_root
from cnn_core.store.runs import load_run

MANIFEST = "manifest.json"
BUNDLE_KIND = "cnn-studio-run"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
H5_SUFFIXES = (".h5", ".hdf5", ".he5")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class BundleLimits:
    """Size caps for an imported bundle, in uncompressed bytes."""

    model: int = 100 * MB  # the .keras file (the default CNN with Adam: ~5 MB)
    predictions: int = 32 * MB  # the .npz file (10,000 x 10 probabilities: ~0.4 MB)
    record: int = 16 * MB  # each JSON record and the epoch log
    total: int = BUNDLE_MB * MB  # the bundle, and all its entries together (its upload limit)
    entries: int = 16  # number of entries


@dataclass(frozen=True)
class _Parts:
    """The checked content of a bundle, ready to be written."""

    source_id: str  # the run id the bundle was exported from
    config: TrainConfig
    dataset: DatasetInfo  # what the model was trained on (recorded, else this server's)
    status: Status
    history: list[EpochRecord]
    evaluation: Evaluation | None
    notes: RunNotes
    predictions: bytes | None
    model: bytes


def _names(folder: RunFolder) -> dict[str, str]:
    """Bundle entry name of each run file that travels in a bundle."""
    return {
        "config": folder.config_path.name,
        "status": folder.status_path.name,
        "metrics": folder.metrics_path.name,
        "evaluation": folder.evaluation_path.name,
        "predictions": folder.predictions_path.name,
        "model": folder.model_path.name,
        "notes": folder.notes_path.name,
    }


ENTRY = _names(RunFolder(Path("bundle")))
REQUIRED = ("config", "status", "model")


# Export ---------------------------------------------------------------------


def export_bundle(folder: RunFolder) -> bytes:
    """The run in `folder` as a zip bundle.

    Raises:
        UserError: the run is still training, broken, or has no model.
    """
    run = load_run(folder.path)
    if run.active:
        raise UserError(f"run {run.run_id} is still training: export it after it ends")
    if run.state == RunState.BROKEN:
        raise UserError(f"run {run.run_id} cannot be exported: {run.message}")
    if not run.has_model:
        raise UserError(f"run {run.run_id} has no saved model to export")
    paths = {
        kind: getattr(folder, f"{kind}_path")
        for kind in ENTRY
        if kind not in ("notes", "config") and getattr(folder, f"{kind}_path").is_file()
    }
    config: dict[str, Any] = {"config": run.config.to_dict()} if run.config else {}
    if run.dataset is not None:  # so the run can be used where its dataset is not
        config["dataset"] = run.dataset.to_record()
    files = sorted([ENTRY["config"], *(ENTRY[k] for k in paths)])
    manifest = stamped({"kind": BUNDLE_KIND, "run_id": run.run_id, "files": files})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
        archive.writestr(ENTRY["config"], json.dumps(stamped(config), indent=1))
        for kind, path in paths.items():
            stored = kind in ("model", "predictions")  # zips already
            archive.write(path, ENTRY[kind], zipfile.ZIP_STORED if stored else None)
        archive.writestr(ENTRY["notes"], json.dumps(run.notes.to_dict(), indent=1))
    return buffer.getvalue()


def bundle_file_name(run_id: str) -> str:
    """'<run id>.cnnrun.zip', the download's file name."""
    return f"{run_id}.cnnrun.zip"


# Import ---------------------------------------------------------------------


def import_bundle(
    source: bytes | BinaryIO, root: Path | None = None, limits: BundleLimits = BundleLimits()
) -> RunFolder:
    """Check a bundle completely, then add it to the store as a new run.

    Args:
        source: the bundle's bytes or a binary file object (an upload).
        root: the run store (default `runs_root()`).
        limits: size caps.

    Returns:
        The new run's folder, under a fresh run id.

    Raises:
        UserError: what is wrong with the bundle; nothing was written then.
    """
    entries = read_entries(source, limits)
    parts = _parse(entries)
    check_model(parts.model, ENTRY["model"], parts.dataset)
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = RunFolder(Path(tempfile.mkdtemp(dir=root, prefix=".import-")))
    try:
        _write(staging, parts)
        target = run_folder(new_run_id(parts.config), root)
        os.rename(staging.path, target.path)
    except BaseException:
        shutil.rmtree(staging.path, ignore_errors=True)
        raise
    return target


def read_entries(source: bytes | BinaryIO, limits: BundleLimits = BundleLimits()) -> dict:
    """The bundle's entries {name: bytes}, after the structure and size checks.

    Raises:
        UserError: not a zip, too many or too large entries, a name that is not
            a flat known file, a folder, symlink, encrypted entry or nested archive.
    """
    data = source if isinstance(source, bytes) else source.read(limits.total + 1)
    if len(data) > limits.total:
        raise UserError(f"the bundle is larger than {limits.total / MB:g} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise UserError(f"this is not a CNN Studio bundle (not a zip file: {error})") from error
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.entries:
            raise UserError(f"the bundle has {len(infos)} entries (at most {limits.entries})")
        entries: dict[str, bytes] = {}
        total = 0
        for info in infos:
            _check_entry(info, entries)
            cap = _cap(info.filename, limits)
            if info.file_size > cap:
                raise UserError(f"{info.filename} is larger than {cap / MB:g} MB")
            try:
                with archive.open(info) as handle:
                    content = handle.read(cap + 1)  # the header's size may lie
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
                raise UserError(f"{info.filename} in the bundle is damaged ({error})") from error
            if len(content) > cap:
                raise UserError(f"{info.filename} is larger than {cap / MB:g} MB")
            total += len(content)
            if total > limits.total:
                raise UserError(f"the bundle unpacks to more than {limits.total / MB:g} MB")
            entries[info.filename] = content
    missing = [n for n in (MANIFEST, *(ENTRY[k] for k in REQUIRED)) if n not in entries]
    if missing:
        raise UserError(f"the bundle lacks {', '.join(missing)}: it is not a complete run")
    return entries


def _check_entry(info: zipfile.ZipInfo, seen: dict[str, bytes]) -> None:
    """Refuse an entry that is not one flat, plain, known file."""
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"the bundle holds an absolute path ({name!r}): refused")
    if ".." in path.parts:
        raise UserError(f"the bundle holds a path that leaves its folder ({name!r}): refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UserError(f"the bundle holds a symbolic link ({name!r}): refused")
    if info.is_dir() or len(path.parts) != 1 or "\\" in name:
        raise UserError(f"the bundle holds a folder ({name!r}); a bundle is flat: refused")
    if info.flag_bits & 0x1:
        raise UserError(f"{name} is encrypted: refused")
    lower = name.lower()
    if lower.endswith(H5_SUFFIXES):
        raise UserError(
            f"{name} is an HDF5 (.h5) model: only .keras models are accepted, since the "
            "HDF5 loader ignores Keras' safe mode"
        )
    if lower.endswith(ARCHIVE_SUFFIXES):
        raise UserError(f"the bundle holds another archive ({name}): refused")
    if name != MANIFEST and name not in ENTRY.values():
        raise UserError(f"the bundle holds an unexpected file {name!r}: refused")
    if name in seen:
        raise UserError(f"the bundle holds {name} twice: refused")


def _cap(name: str, limits: BundleLimits) -> int:
    if name == ENTRY["model"]:
        return limits.model
    if name == ENTRY["predictions"]:
        return limits.predictions
    return limits.record


def _json(entries: dict[str, bytes], name: str) -> dict[str, Any]:
    content = entries[name]
    if content.startswith((ZIP_MAGIC, GZIP_MAGIC)):
        raise UserError(f"{name} in the bundle is an archive, not a record: refused")
    try:
        record = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise RecordError(f"{name} in the bundle is not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise RecordError(f"{name} in the bundle does not hold a JSON object")
    return record


def _parse(entries: dict[str, bytes]) -> _Parts:
    """Read every record of the bundle (schema versions through `records`).

    Raises:
        UserError: a newer, malformed or inconsistent record, or a run still training.
    """
    manifest = _json(entries, MANIFEST)
    record_version(manifest, f"the bundle's {MANIFEST}")
    if manifest.get("kind") != BUNDLE_KIND:
        raise UserError(f"this zip is not a CNN Studio run bundle (kind {manifest.get('kind')!r})")
    saved = _json(entries, ENTRY["config"])
    if not isinstance(saved.get("config"), dict):
        raise RecordError(f"{ENTRY['config']} in the bundle holds no config")
    config = TrainConfig.from_dict(saved["config"], record_version(saved, ENTRY["config"]))
    dataset = _bundle_dataset(saved.get("dataset"), config.dataset)
    status = Status.from_dict(_json(entries, ENTRY["status"]), ENTRY["status"])
    if not status.state.final:
        raise UserError("the bundle holds a run that was still training when it was exported")
    notes = RunNotes()
    if ENTRY["notes"] in entries:
        notes = RunNotes.from_dict(_json(entries, ENTRY["notes"]), ENTRY["notes"])
    evaluation = None
    if ENTRY["evaluation"] in entries:
        evaluation = Evaluation.from_dict(_json(entries, ENTRY["evaluation"]), ENTRY["evaluation"])
    predictions = entries.get(ENTRY["predictions"])
    if predictions is not None:
        _check_predictions(predictions, evaluation)
    return _Parts(
        source_id=str(manifest.get("run_id", ""))[:200],
        config=config,
        dataset=dataset,
        status=status,
        history=_history(entries.get(ENTRY["metrics"], b"")),
        evaluation=evaluation,
        notes=notes,
        predictions=predictions,
        model=entries[ENTRY["model"]],
    )


def _bundle_dataset(record: Any, key: str) -> DatasetInfo:
    """The dataset the bundle's run trained on: as the bundle describes it, else this
    server's entry for its key (bundles exported before runs recorded their dataset).

    Raises:
        UserError: a malformed description, or a dataset described nowhere.
    """
    if record is None:
        info = find_dataset(key)
        if info is None:
            raise UserError(
                f"the bundle's run uses a dataset {key!r} that is not on this server, "
                "and the bundle does not describe it"
            )
        return info
    try:
        info = DatasetInfo.from_record(record)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UserError(f"the bundle's dataset description is malformed ({error})") from error
    if info.key != key or len(info.class_names) < 2:
        raise UserError("the bundle's description of its dataset does not fit its run")
    return info


def _history(content: bytes) -> list[EpochRecord]:
    """Every line of the bundle's epoch log; unlike the store's reader, none may be torn."""
    name = ENTRY["metrics"]
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise RecordError(f"{name} in the bundle is not text") from error
    history = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise RecordError(f"{name} line {number} in the bundle is not JSON") from error
        if not isinstance(record, dict):
            raise RecordError(f"{name} line {number} in the bundle is not a record")
        history.append(EpochRecord.from_dict(record, f"{name} line {number}"))
    return history


def _check_predictions(content: bytes, evaluation: Evaluation | None) -> None:
    name = ENTRY["predictions"]
    if evaluation is None:
        raise UserError(f"the bundle has {name} without the evaluation they belong to")
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as data:
            probs, y_true = np.asarray(data["probs"]), np.asarray(data["y_true"])
            extra = set(data.files) - {"probs", "y_true"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{name} in the bundle is damaged ({error})") from error
    problem = predictions_problem(probs, y_true, len(evaluation.class_names))
    if not problem and len(y_true) != evaluation.n:
        problem = f"{len(y_true)} predictions where the evaluation counted {evaluation.n} images"
    if not problem and extra:
        problem = f"unexpected arrays {sorted(extra)}"
    if problem:
        raise UserError(f"{name} in the bundle is damaged: {problem}")


def _write(folder: RunFolder, parts: _Parts) -> None:
    """Write the checked parts into an empty folder, as a run folder."""
    folder.write_config(parts.config, parts.dataset)
    atomic_write_json(folder.status_path, parts.status.to_dict())
    for record in parts.history:
        folder.append_epoch(record)
    if parts.evaluation is not None:
        atomic_write_json(folder.evaluation_path, parts.evaluation.to_dict())
    if parts.predictions is not None:
        folder.predictions_path.write_bytes(parts.predictions)
    folder.model_path.write_bytes(parts.model)
    folder.write_notes(RunNotes(parts.notes.tags, parts.notes.text, parts.source_id or None))
