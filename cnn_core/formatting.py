"""Short human-readable texts shared by pages: durations, sizes, run rows."""

from __future__ import annotations

import time
from typing import Any

from cnn_core.data import DATASETS
from cnn_core.records import EpochRecord, RunState
from cnn_core.runs import RunSummary
from cnn_core.transfer import vgg16_label

STATE_LABELS = {
    RunState.QUEUED: "⏳ queued",
    RunState.RUNNING: "🏃 running",
    RunState.COMPLETED: "✅ completed",
    RunState.STOPPED: "⏹️ stopped",
    RunState.FAILED: "❌ failed",
    RunState.INTERRUPTED: "⚠️ interrupted",
    RunState.BROKEN: "🚫 broken",
}


def format_duration(seconds: float | None) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'; '?' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


SCHEDULE_LABELS = {  # the Train page's choices (capitalised) and the line under the curves
    "constant": "constant",
    "cosine": "cosine decay to 0",
    "plateau": "halved on plateau",
}
OPTIMIZER_LABELS = {"adam": "Adam", "sgd": "SGD with momentum", "rmsprop": "RMSprop"}


def optimizer_title(name: str) -> str:
    """'Adam', 'SGD with momentum': the Train page's choice and Compare's table cell."""
    return OPTIMIZER_LABELS.get(name, name)


def schedule_title(name: str) -> str:
    """'Cosine decay to 0': the Train page's choice and Compare's table cell."""
    label = SCHEDULE_LABELS.get(name, name)
    return label[:1].upper() + label[1:]


def learning_rate_text(history: list[EpochRecord], schedule: str | None) -> str | None:
    """'Learning rate (cosine decay to 0) at the start of epochs 1-10: 0.001, 0.000976, …'.

    Long runs show the first three and last two epochs. None when the history
    holds no rates (runs recorded before rates were logged).
    """
    rates = [(r.epoch, r.learning_rate) for r in history if r.learning_rate is not None]
    if not rates:
        return None
    shown = [f"{rate:.3g}" for _, rate in rates]
    if len(shown) > 6:
        shown = [*shown[:3], "…", *shown[-2:]]
    first, last = rates[0][0], rates[-1][0]
    epochs = f"epoch {first}" if first == last else f"epochs {first}-{last}"
    kind = f" ({SCHEDULE_LABELS.get(schedule, schedule)})" if schedule else ""
    return f"Learning rate{kind} at the start of {epochs}: {', '.join(shown)}"


def format_bytes(count: float) -> str:
    """'512 B', '3.2 MB', '1.4 GB' (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def model_label(run: RunSummary) -> str:
    """'CNN 2 conv / 1 dense', 'Softmax regression' or 'VGG16 fine-tuned, 64 px'."""
    if run.config is None:
        return "?"
    spec = run.config.model
    if spec.kind == "vgg16" and spec.vgg16 is not None:
        return vgg16_label(spec.vgg16)
    if spec.kind == "softmax":
        return "Softmax regression"
    return f"CNN {len(spec.conv_blocks)} conv / {len(spec.dense_layers)} dense"


def run_label(run: RunSummary) -> str:
    """One line naming a run in pickers: name or id, dataset, model, start time.

    It holds nothing that changes while the run trains (no state, no accuracy):
    Streamlit 1.67 selectboxes keep a stale label, or lose the selection, when
    an option's label changes between reruns.
    """
    name = run.config.name if run.config and run.config.name else run.run_id
    dataset = DATASETS[run.config.dataset].title if run.config else "?"
    started = time.strftime("%d %b %H:%M", time.localtime(run.created)) if run.created else ""
    return " · ".join(part for part in (name, dataset, model_label(run), started) if part)


def run_row(run: RunSummary) -> dict[str, Any]:
    """A row for run tables."""
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)) if run.created else ""
    return {
        "run": run.run_id,
        "name": run.config.name if run.config else "",
        "status": STATE_LABELS[run.state],
        "dataset": run.config.dataset if run.config else "",
        "model": model_label(run),
        "epochs": run.epochs_done,
        "best val acc": run.best_val_accuracy,
        "test acc": run.test_accuracy,
        "created": created,
    }


def no_model_text(run: RunSummary) -> str:
    """Why a stopped run has no model ("stopped while queued" ...); "" for any other run."""
    if run.state != RunState.STOPPED or run.has_model:
        return ""
    return f"No model was saved: {run.message or 'stopped before training'}."


def class_names(run: RunSummary, n: int) -> list[str]:
    """The run's dataset class names when they fit the model's n outputs, else "0".."n-1"."""
    if run.config and run.config.dataset in DATASETS:
        names = list(DATASETS[run.config.dataset].class_names)
        if len(names) == n:
            return names
    return [str(i) for i in range(n)]


MARKDOWN_SPECIALS = set("\\`*_{}[]()<>#+-.!|~$")


def markdown_text(text: object) -> str:
    """`text` with every Markdown special character backslash-escaped, so a class
    name from a user's folder (say "[x](http://…)") shows as typed in `st.markdown`."""
    return "".join(f"\\{ch}" if ch in MARKDOWN_SPECIALS else ch for ch in str(text))
