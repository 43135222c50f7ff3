"""Short human-readable texts shared by pages: durations, sizes, run rows.

A completed run's status carries the training doctor's verdict ("completed ·
learned nothing", `run_status_text`, `run_badge`): a run that learned nothing never
reads as a plain success. `percent` lives in `percents` and is re-exported here.
"""

from __future__ import annotations

import time
from typing import Any

from cnn_core.data.registry import dataset_title
from cnn_core.insight.doctor.verdict import verdict, verdict_words
from cnn_core.insight.percents import percent as percent  # re-exported: pages use it
from cnn_core.models.vgg16 import vgg16_label
from cnn_core.schema.records import EpochRecord, RunState
from cnn_core.store.runs import RunSummary

# Plain words for tables and pickers (which show no icons); `state_badge` for Markdown.
STATE_LABELS = {state: state.value for state in RunState}
# (Streamlit badge colour, Material icon): fonts ship them, unlike emoji.
STATE_STYLES = {
    RunState.QUEUED: ("gray", "schedule"),
    RunState.RUNNING: ("blue", "directions_run"),
    RunState.COMPLETED: ("green", "check_circle"),
    RunState.STOPPED: ("orange", "stop_circle"),
    RunState.FAILED: ("red", "error"),
    RunState.INTERRUPTED: ("orange", "warning"),
    RunState.BROKEN: ("red", "block"),
}


def state_badge(state: RunState, stopping: bool = False) -> str:
    """The state as a Markdown badge with a Material icon: ':green-badge[...]'; an
    active run whose Stop was pressed reads "stopping…"."""
    if stopping:
        return ":orange-badge[:material/stop_circle: stopping…]"
    colour, icon = STATE_STYLES[state]
    return f":{colour}-badge[:material/{icon}: {state.value}]"


# A completed run with a doctor's finding, by its severity: (badge colour, Material
# icon). A problem (learned nothing, NaN loss) takes the colour of runs that did not
# end well; a warning (overfitting, a weak class) still trained a usable model, so it
# reads as a caution, apart from both the green success and the orange problems.
VERDICT_STYLES = {"problem": ("orange", "warning"), "warning": ("yellow", "info")}


def run_status_text(run: RunSummary) -> str:
    """A run's state in plain words for tables: "completed", "stopping…", or for a
    completed run the doctor finds wrong, "completed · learned nothing"."""
    if run.stopping:
        return "stopping…"
    finding = verdict(run)
    label = STATE_LABELS[run.state]
    return f"{label} · {verdict_words(finding)}" if finding else label


def run_badge(run: RunSummary) -> str:
    """`state_badge` for a run's status line, with the doctor's verdict on a completed
    run: ':orange-badge[:material/warning: completed · learned nothing]'."""
    finding = None if run.stopping else verdict(run)
    if finding is None:
        return state_badge(run.state, run.stopping)
    colour, icon = VERDICT_STYLES[finding.severity]
    return f":{colour}-badge[:material/{icon}: {run_status_text(run)}]"


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


# Gradient clipping's one label: the Train form's input and Compare's settings table.
CLIPNORM_LABEL = "Gradient clipping (max norm)"


def clipnorm_text(clipnorm: float) -> str:
    """A run's gradient clipping for tables: 'off' (0) or the norm, '1'."""
    return f"{clipnorm:g}" if clipnorm > 0 else "off"


# Label smoothing's one label: the Train form's input and Compare's settings table.
LABEL_SMOOTHING_LABEL = "Label smoothing"


def label_smoothing_text(smoothing: float) -> str:
    """A run's label smoothing for tables: 'off' (0) or the share, '0.1'."""
    return f"{smoothing:g}" if smoothing > 0 else "off"


# Test-time flips' one label: the Train form's switch, Compare's settings table and the
# pages that predict with such a run.
MIRROR_AVERAGE_LABEL = "Test-time flips"
MIRROR_AVERAGE_HELP = (
    "Each prediction is the mean of the network's probabilities for the image and for its "
    "left-right mirror image: two looks at every picture, for twice the prediction work. "
    "Needs horizontal flips in training (the network must know mirrored pictures)."
)
MIRROR_AVERAGE_CAPTION = (
    ":material/flip: This run predicts with test-time flips: its probabilities are the "
    "mean of the network's for the image and for its mirror image."
)

MIRROR_EXPORT_CAPTION = (
    "This run predicts with test-time flips. The .keras and .tflite models give the "
    "network's probabilities for one image as it is (Evaluate's test-accuracy help gives "
    "that accuracy): to predict as the studio does, average them with those for the "
    "left-right mirror image. A bundle keeps the setting."
)


def mirror_average_text(on: bool) -> str:
    """A run's test-time flips for tables: 'image + mirror' or 'off'."""
    return "image + mirror" if on else "off"


def single_accuracy_text(single: float | None) -> str:
    """The test-accuracy help line of a run with test-time flips: its accuracy on single
    images (what an exported model gives); empty for other runs."""
    if single is None:
        return ""
    return (
        f"With test-time flips (image and mirror averaged). On single images, as an "
        f"exported model predicts: {percent(single)}."
    )


# Mixed precision's one label: the Train form's switch and Compare's settings table.
MIXED_PRECISION_LABEL = "Mixed precision (bfloat16)"


def precision_text(mixed: bool) -> str:
    """A run's arithmetic for tables: 'bfloat16 (mixed)' or 'float32'."""
    return "bfloat16 (mixed)" if mixed else "float32"


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
    dataset = run_dataset_title(run)
    started = time.strftime("%d %b %H:%M", time.localtime(run.created)) if run.created else ""
    return " · ".join(part for part in (name, dataset, model_label(run), started) if part)


PERCENT_COLUMNS = ("test acc", "best val acc")  # fractions in [0, 1], None when unknown


def run_row(run: RunSummary) -> dict[str, Any]:
    """A row for run tables: what people scan first (name, state, accuracy) on the
    left, the long run id last. Accuracies are fractions (None when unknown): tables
    show them through `percent`."""
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)) if run.created else ""
    return {
        "name": run.config.name if run.config and run.config.name else run.run_id,
        "status": run_status_text(run),
        "test acc": run.test_accuracy,
        "best val acc": run.best_val_accuracy,
        "dataset": run_dataset_title(run),
        "model": model_label(run),
        "epochs": run.epochs_done,
        "created": created,
        "run id": run.run_id,
    }


def no_model_text(run: RunSummary) -> str:
    """Why a stopped run has no model ("stopped while queued" ...); "" for any other run."""
    if run.state != RunState.STOPPED or run.has_model:
        return ""
    return f"No model was saved: {run.message or 'stopped before training'}."


def run_dataset_title(run: RunSummary) -> str:
    """The title of the dataset a run trained on (recorded with the run, else the
    registry's), "?" for a run without a readable config."""
    if run.dataset is not None:
        return run.dataset.title
    return dataset_title(run.config.dataset) if run.config else "?"


def class_names(run: RunSummary, n: int) -> list[str]:
    """The class names of the run's dataset when they fit the model's n outputs (from the
    run's record, the registry, or its stored evaluation), else "0".."n-1"."""
    if run.dataset is not None and len(run.dataset.class_names) == n:
        return list(run.dataset.class_names)
    evaluation = run.read_evaluation()  # runs recorded before their dataset was
    if evaluation is not None and len(evaluation.class_names) == n:
        return list(evaluation.class_names)
    return [str(i) for i in range(n)]


MARKDOWN_SPECIALS = set("\\`*_{}[]()<>#+-.!|~$")


def markdown_text(text: object) -> str:
    """`text` with every Markdown special character backslash-escaped, so a class
    name from a user's folder (say "[x](http://…)") shows as typed in `st.markdown`."""
    return "".join(f"\\{ch}" if ch in MARKDOWN_SPECIALS else ch for ch in str(text))
