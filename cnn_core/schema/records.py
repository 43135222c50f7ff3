"""The typed records a run folder stores, with one schema version and migration on read.

Every JSON record of a run (its config, status, progress, evaluation and each
line of its epoch log) carries `schema_version`. Readers go through
`from_dict`, which accepts older versions (migrating them) and refuses newer
ones with a message a user can act on; `source` names the record in messages
(the run store passes the file's name). Version history:

    1  (CNN Studio before December 2026) epoch lines had no version, the config
       was flat and repeated the version inside `config`, runs recorded before
       learning-rate schedules had neither `lr_schedule` nor `learning_rate`.
    2  one version per file, the config in typed pieces (`optimizer`, `fit`),
       a version on every epoch line.

Which file holds which record, and where run folders live, is `cnn_core.store.runs`'
business; this module is pure data and never touches the disk.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from cnn_core.base.errors import UserError

SCHEMA_VERSION = 2


class RecordError(UserError):
    """A stored record that cannot be read: malformed, or from a newer CNN Studio."""


def record_version(record: dict[str, Any], what: str) -> int:
    """The schema version of a stored record (1 when it has none).

    Raises:
        RecordError: the version is not a whole number >= 1, or is newer than
            this code reads.
    """
    version = record.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(f"{what} has an invalid schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{what} was written by a newer CNN Studio (schema version {version}; this one "
            f"reads versions up to {SCHEMA_VERSION}): update CNN Studio to open it"
        )
    return version


def stamped(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with the current schema version first, ready for JSON."""
    return {"schema_version": SCHEMA_VERSION, **record}


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, NaN, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _known(cls: type, record: dict[str, Any]) -> dict[str, Any]:
    """The entries of `record` that are fields of the dataclass `cls`."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in record.items() if key in names}


class RunState(StrEnum):
    """Where a run stands. The first five are stored in the status record; the last
    two are derived when a folder is read: INTERRUPTED (stored as active, but its
    worker process is gone) and BROKEN (the folder cannot be read as a run)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    BROKEN = "broken"

    @property
    def active(self) -> bool:
        """Waiting for or holding a training slot."""
        return self in (RunState.QUEUED, RunState.RUNNING)

    @property
    def final(self) -> bool:
        """Ended as the worker recorded it (with or without a model)."""
        return self in (RunState.COMPLETED, RunState.STOPPED, RunState.FAILED)

    @property
    def stored(self) -> bool:
        """A state the worker writes (the derived ones never are)."""
        return self.active or self.final


@dataclass(frozen=True)
class Status:
    """The status record: the run's state and the facts the worker learned on the way.

    Times are Unix seconds; None where not known (yet).
    """

    state: RunState
    created: float | None = None
    updated: float | None = None
    heartbeat: float | None = None
    started: float | None = None  # got a training slot
    train_started: float | None = None  # model.fit began
    ended: float | None = None
    train_seconds: float | None = None
    test_accuracy: float | None = None
    n_train: int | None = None
    n_val: int | None = None
    pid: int | None = None
    pid_start: str | None = None  # the kernel's start time of pid, to spot a reused pid
    message: str = ""
    strategy: str = "default"  # cnn_core.training.distribute: default, mirrored or multiworker
    devices: list[str] | None = None  # the devices it trained on ("/device:CPU:0", ...)
    replicas: int | None = None  # model replicas in sync; global batch = batch x replicas
    # Two-phase (VGG16) runs: {phase: [total, trainable]} parameters of each phase
    phase_parameters: dict[str, list[int]] | None = None
    # Training images of each class in the run's split (None for runs before it was kept)
    train_class_counts: list[int] | None = None
    # VGG16 runs: where the weights came from (`transfer.weights_source`); None in
    # runs recorded before it was kept, and in other models' runs
    weights_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return stamped(asdict(self))

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "the status record") -> Status:
        """Read a stored status (any version up to SCHEMA_VERSION).

        Raises:
            RecordError: newer version, or a state this code does not know.
        """
        record_version(record, source)
        try:
            state = RunState(record.get("state"))
        except ValueError as error:
            raise RecordError(f"{source} has an unknown state {record.get('state')!r}") from error
        if not state.stored:
            raise RecordError(f"{source} holds the derived state {state!r}")
        values = _known(Status, record)
        values["state"] = state
        values["message"] = str(values.get("message") or "")
        return Status(**values)


@dataclass(frozen=True)
class EpochRecord:
    """One line of the epoch log: what one finished epoch measured.

    `learning_rate` is the rate the epoch started with (None for runs recorded
    before rates were logged); `partial` marks an epoch cut short by Stop (a
    run's last; its loss is the mean of the batches it trained, it has no
    validation metrics since December 2026, and `whole_epochs` leaves it out;
    `batches` is how many of its batches it trained, None for a whole epoch);
    `phase` names the training phase of a two-phase run ("head", "fine-tune"),
    None for single-phase runs.
    """

    epoch: int
    seconds: float | None = None
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    learning_rate: float | None = None
    partial: bool = False
    phase: str | None = None
    batches: int | None = None  # of a partial epoch: the batches it trained

    def to_dict(self) -> dict[str, Any]:
        return stamped({k: v for k, v in asdict(self).items() if v is not None})

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "an epoch record") -> EpochRecord:
        """Read one stored epoch line (version 1 lines have no version).

        Raises:
            RecordError: newer version, or no whole epoch number.
        """
        record_version(record, source)
        epoch = record.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
            raise RecordError(f"{source} has no valid epoch number: {epoch!r}")
        values = {name: _number(value) for name, value in _known(EpochRecord, record).items()}
        values.update(epoch=epoch, partial=bool(record.get("partial", False)))
        batches = record.get("batches")
        values["batches"] = batches if isinstance(batches, int) and batches >= 0 else None
        phase = record.get("phase")
        values["phase"] = phase if isinstance(phase, str) and phase else None
        return EpochRecord(**values)


def whole_epochs(history: list[EpochRecord]) -> list[EpochRecord]:
    """The epochs that ran all their batches: what curves, counts and best-epoch
    choices use. An epoch cut short by Stop saw only some batches (its running
    loss is a mean over those few), so it is kept in the log but never compared."""
    return [record for record in history if not record.partial]


@dataclass(frozen=True)
class Progress:
    """The progress record: where the running epoch is, written every ~0.5 s."""

    epoch: int  # 1-based, the epoch under way
    epochs: int
    batch: int  # batches done in this epoch
    batches: int
    elapsed: float  # seconds since training began
    eta: float | None = None  # seconds left, None until a rate is known
    loss: float | None = None  # running training loss of this epoch
    # (batch, running loss) at each write of this epoch, batch ascending, at most
    # MAX_LOSS_POINTS: what the live chart draws while an epoch takes minutes
    losses: tuple[tuple[int, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return stamped(asdict(self))

    @property
    def fraction(self) -> float:
        """Share of this epoch's batches done, in [0, 1]."""
        return min(1.0, max(0, self.batch) / max(1, self.batches))

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "the progress record") -> Progress:
        record_version(record, source)
        values = _known(Progress, record)
        try:
            values["losses"] = tuple(
                (int(batch), float(loss)) for batch, loss in values.get("losses", ())
            )
            return Progress(**values)
        except (TypeError, ValueError) as error:
            raise RecordError(f"{source} is incomplete: {error}") from error


MAX_LOSS_POINTS = 120  # the live loss series of one epoch keeps at most this many points


def add_loss_point(
    points: tuple[tuple[int, float], ...], batch: int, loss: float | None
) -> tuple[tuple[int, float], ...]:
    """`points` with (batch, loss) appended, thinned to at most MAX_LOSS_POINTS.

    When full, every other point is dropped (the newest kept), so a long epoch
    keeps an even sample of its whole course in a record of bounded size.

    Args:
        points: the epoch's (batch, running loss) series so far.
        batch: batches done, >= 1; a repeated batch replaces the last point.
        loss: the running loss, or None (then `points` is returned unchanged).
    """
    if loss is None or batch < 1:
        return points
    if points and points[-1][0] >= batch:
        points = points[:-1]
    points = (*points, (batch, loss))
    if len(points) > MAX_LOSS_POINTS:
        points = points[-1::-2][::-1]
    return points


@dataclass(frozen=True)
class PerClass:
    """Per-class test metrics, in label order; ratios in [0, 1]."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]  # test images of each class


@dataclass(frozen=True)
class Evaluation:
    """The evaluation record: the test-set metrics of a run's final model."""

    n: int  # test images
    correct: int
    accuracy: float  # correct / n
    loss: float  # mean cross-entropy
    class_names: tuple[str, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted
    per_class: PerClass
    # A run with test-time flips (`AugmentSpec.mirror_average`): everything above is of
    # the mirror-averaged predictions, this is the accuracy of single images (what an
    # exported model gives); None for other runs.
    single_accuracy: float | None = None

    @property
    def errors(self) -> int:
        return self.n - self.correct

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["class_names"] = list(self.class_names)
        record["confusion_matrix"] = [list(row) for row in self.confusion_matrix]
        record["per_class"] = {k: list(v) for k, v in asdict(self.per_class).items()}
        return stamped(record)

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "the evaluation record") -> Evaluation:
        """Read a stored evaluation (versions 1 and 2 share one layout).

        Raises:
            RecordError: newer version, a missing field, or sizes that disagree.
        """
        record_version(record, source)
        try:
            names = tuple(str(name) for name in record["class_names"])
            matrix = tuple(tuple(int(c) for c in row) for row in record["confusion_matrix"])
            per_class = PerClass(
                **{
                    key: tuple(float(v) for v in record["per_class"][key])
                    for key in ("precision", "recall", "f1")
                },
                support=tuple(int(v) for v in record["per_class"]["support"]),
            )
            evaluation = Evaluation(
                n=int(record["n"]),
                correct=int(record["correct"]),
                accuracy=float(record["accuracy"]),
                loss=float(record["loss"]),
                class_names=names,
                confusion_matrix=matrix,
                per_class=per_class,
                single_accuracy=optional_fraction(record.get("single_accuracy")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"{source} is incomplete or malformed ({error!r})") from error
        k = len(names)
        if len(matrix) != k or any(len(row) != k for row in matrix) or len(per_class.recall) != k:
            raise RecordError(f"{source}: its tables do not fit its {k} classes")
        return evaluation

    def accuracy_text(self) -> str:
        """'98.61% (9,861 / 10,000)'."""
        return f"{100 * self.accuracy:.2f}% ({self.correct:,} / {self.n:,})"


def optional_fraction(value: Any) -> float | None:
    """A stored fraction in [0, 1], or None where none was stored.

    Raises:
        ValueError: a value that is not a number in [0, 1].
    """
    if value is None:
        return None
    if isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"not a fraction in [0, 1]: {value!r}")
    return float(value)


MAX_TAGS = 12
MAX_TAG_CHARS = 30
MAX_NOTE_CHARS = 5000
TAG_PATTERN = re.compile(r"^[\w][\w .+-]*$")


def clean_tags(tags: Any) -> tuple[str, ...]:
    """Tags as stored: stripped, lower-cased, unique, in the order given.

    Raises:
        RecordError: more than MAX_TAGS, or a tag that is too long or has
            characters other than letters, digits, space and `_ . + -`.
    """
    if isinstance(tags, str) or not isinstance(tags, list | tuple):
        raise RecordError(f"tags must be a list of words. Received: tags={tags!r}")
    cleaned: list[str] = []
    for tag in tags:
        text = str(tag).strip().lower()
        if not text or text in cleaned:
            continue
        if len(text) > MAX_TAG_CHARS or not TAG_PATTERN.match(text):
            raise RecordError(
                f"a tag is up to {MAX_TAG_CHARS} letters, digits, spaces or _ . + - "
                f"Received: tag={text[:60]!r}"
            )
        cleaned.append(text)
    if len(cleaned) > MAX_TAGS:
        raise RecordError(f"a run has at most {MAX_TAGS} tags. Received: {len(cleaned)} tags")
    return tuple(cleaned)


@dataclass(frozen=True)
class RunNotes:
    """The notes record: what people add to a run after it was launched.

    (The run's name lives in its config, next to what was trained.)
    """

    tags: tuple[str, ...] = ()  # `clean_tags` form
    text: str = ""  # free notes, up to MAX_NOTE_CHARS
    imported_from: str | None = None  # the run id in the bundle this run came from

    def to_dict(self) -> dict[str, Any]:
        return stamped(
            {"tags": list(self.tags), "text": self.text, "imported_from": self.imported_from}
        )

    @staticmethod
    def create(tags: Any = (), text: str = "", imported_from: str | None = None) -> RunNotes:
        """Checked notes.

        Raises:
            RecordError: bad tags (see `clean_tags`) or a text over MAX_NOTE_CHARS.
        """
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
            raise RecordError(f"notes are text of at most {MAX_NOTE_CHARS:,} characters")
        if imported_from is not None and not isinstance(imported_from, str):
            raise RecordError(f"imported_from must be a run id. Received: {imported_from!r}")
        return RunNotes(clean_tags(tags), text, imported_from)

    @staticmethod
    def from_dict(record: dict[str, Any], source: str = "the notes record") -> RunNotes:
        """Read stored notes (new in schema version 2; no migration needed).

        Raises:
            RecordError: newer version, or tags/text that `create` refuses.
        """
        record_version(record, source)
        try:
            return RunNotes.create(
                record.get("tags", []), record.get("text", ""), record.get("imported_from")
            )
        except RecordError as error:
            raise RecordError(f"{source}: {error}") from error
