"""Train: design a model, launch a run in a worker process, watch it live."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from cnn_core.base import workspace
from cnn_core.base.cpu import has_bfloat16
from cnn_core.base.errors import UserError
from cnn_core.charts.training import batch_loss_figure, training_curves_figure
from cnn_core.insight.doctor.diagnosis import healthy
from cnn_core.insight.labels import (
    CLIPNORM_LABEL,
    LABEL_SMOOTHING_LABEL,
    MIXED_PRECISION_LABEL,
    format_bytes,
    format_duration,
    learning_rate_text,
    no_model_text,
    optimizer_title,
    percent,
    run_badge,
    run_label,
    schedule_title,
)
from cnn_core.models.plan import describe_model, estimate_batch_memory
from cnn_core.schema.config import (
    ACTIVATIONS,
    CONV_BLOCKS_RANGE,
    DEFAULT_PRESET,
    DENSE_LAYERS_RANGE,
    LR_SCHEDULES,
    MAX_NAME_CHARS,
    OPTIMIZERS,
    PADDINGS,
    PRESETS,
    ConfigError,
    ConvBlock,
    DenseLayer,
    FitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainConfig,
    validate,
)
from cnn_core.schema.records import Progress, RunState, whole_epochs
from cnn_core.sharing.config_files import config_file_name, config_file_text
from cnn_core.store import access
from cnn_core.store.folder import run_folder
from cnn_core.store.runs import RunSummary, list_runs, load_run
from cnn_core.training.plan import planned_epochs
from cnn_core.training.worker import launch_run, max_concurrent
from pages._shared.common import (
    CURRENT_RUN,
    dataset_picker,
    ensure_app_navigation,
    follow_choice,
    require_dataset,
    run_page_links,
    validation_size_input,
)
from pages._shared.compare_actions import compare_with_control
from pages._shared.doctor_view import findings_section, run_findings
from pages._shared.fast_recipe import fast_recipe_choice, reach_line, time_estimate
from pages._shared.loss_options import loss_view_ui
from pages._shared.lr_finder_view import lr_finder_section
from pages._shared.my_images import augment_inputs
from pages._shared.vgg16_options import vgg16_inputs, vgg16_summary, weights_ready

KEEP = "session"  # the form widgets' persist_state: values survive page changes
MONITORED = "train_monitor_run"  # the run the Runs section watches
POLL_SECONDS = 1.0
CNN_PRESETS = [name for name, spec in PRESETS.items() if spec.kind == "cnn"]
DEFAULT = TrainConfig()  # the form starts from TrainConfig's own defaults, never restated
FORM_DEFAULTS: dict[str, Any] = {
    "train_kind": DEFAULT.model.kind,
    "train_preset": DEFAULT_PRESET,
    "train_optimizer": DEFAULT.optimizer.name,
    "train_lr": DEFAULT.optimizer.learning_rate,
    "train_schedule": DEFAULT.optimizer.schedule,
    "train_momentum": DEFAULT.optimizer.momentum,
    "train_batch": DEFAULT.fit.batch_size,
    "train_epochs": DEFAULT.fit.epochs,
    "train_early": DEFAULT.fit.early_stopping,
    "train_patience": DEFAULT.fit.patience,
    "train_restore": DEFAULT.fit.restore_best_weights,
    "train_label_smoothing": DEFAULT.fit.label_smoothing,
    "train_mixed_precision": DEFAULT.fit.mixed_precision,
    "train_seed": DEFAULT.seed,
    "train_subset": DEFAULT.train_subset,
    "train_name": DEFAULT.name,
}


def conv_block_values(i: int, block: ConvBlock) -> dict[str, Any]:
    """Conv block `i`'s widget keys and the values that show `block`."""
    return {
        f"conv{i}_filters": block.filters,
        f"conv{i}_kernel": block.kernel_size,
        f"conv{i}_padding": block.padding,
        f"conv{i}_activation": block.activation,
        f"conv{i}_pool": block.pool,
        f"conv{i}_bn": block.batch_norm,
    }


def dense_layer_values(j: int, dense: DenseLayer) -> dict[str, Any]:
    """Dense layer `j`'s widget keys and the values that show `dense`."""
    return {f"dense{j}_units": dense.units, f"dense{j}_dropout": dense.dropout}


def apply_preset() -> None:
    """Copy the chosen preset's layers into the layer widgets."""
    spec = PRESETS[st.session_state["train_preset"]]
    st.session_state["train_n_blocks"] = len(spec.conv_blocks)
    for i, block in enumerate(spec.conv_blocks):
        st.session_state.update(conv_block_values(i, block))
    st.session_state["train_n_dense"] = len(spec.dense_layers)
    for j, dense in enumerate(spec.dense_layers):
        st.session_state.update(dense_layer_values(j, dense))


def form_defaults() -> None:
    """Give the form its defaults on a session's first visit.

    Every input widget of the form is created with `persist_state=KEEP`, so
    Streamlit itself keeps its value while another page is open; nothing is
    written back into widget keys (a button's or uploader's key refuses writes).
    """
    for key, value in FORM_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    if "train_n_blocks" not in st.session_state:
        apply_preset()


def conv_block_inputs(i: int) -> ConvBlock:
    for key, value in conv_block_values(i, ConvBlock()).items():  # a block added by hand
        st.session_state.setdefault(key, value)
    with st.container(border=True):
        top = st.columns(4)
        filters = top[0].number_input(
            f"Block {i + 1} filters", step=8, key=f"conv{i}_filters", persist_state=KEEP
        )
        kernel = top[1].number_input(
            "Kernel size", step=1, key=f"conv{i}_kernel", persist_state=KEEP
        )
        padding = top[2].selectbox("Padding", PADDINGS, key=f"conv{i}_padding", persist_state=KEEP)
        activation = top[3].selectbox(
            "Activation", ACTIVATIONS, key=f"conv{i}_activation", persist_state=KEEP
        )
        bottom = st.columns(2)
        pool = bottom[0].checkbox("2x2 max-pool", key=f"conv{i}_pool", persist_state=KEEP)
        batch_norm = bottom[1].checkbox("Batch norm", key=f"conv{i}_bn", persist_state=KEEP)
    return ConvBlock(int(filters), int(kernel), padding, activation, pool, batch_norm)


def dense_layer_inputs(j: int) -> DenseLayer:
    for key, value in dense_layer_values(j, DenseLayer()).items():  # a layer added by hand
        st.session_state.setdefault(key, value)
    cols = st.columns(2)
    units = cols[0].number_input(
        f"Dense {j + 1} units", step=32, key=f"dense{j}_units", persist_state=KEEP
    )
    dropout = cols[1].number_input(
        "dropout", step=0.1, format="%.2f", key=f"dense{j}_dropout", persist_state=KEEP
    )
    return DenseLayer(int(units), float(dropout))


def model_inputs() -> ModelSpec:
    kind = st.radio(
        "Model",
        ["cnn", "softmax", "vgg16"],
        format_func={
            "cnn": "Configurable CNN",
            "softmax": "Softmax regression",
            "vgg16": "Pretrained VGG16",
        }.get,
        horizontal=True,
        key="train_kind",
        persist_state=KEEP,
    )
    if kind == "vgg16":
        return vgg16_inputs()
    if kind == "softmax":
        st.caption(
            "One dense layer from pixels to class probabilities: the classic ~92% MNIST baseline."
        )
        return ModelSpec(kind="softmax")
    st.selectbox(
        "Preset", CNN_PRESETS, key="train_preset", persist_state=KEEP, on_change=apply_preset
    )
    n_blocks = st.number_input(
        "Conv blocks", *CONV_BLOCKS_RANGE, key="train_n_blocks", persist_state=KEEP
    )
    blocks = tuple(conv_block_inputs(i) for i in range(int(n_blocks)))
    n_dense = st.number_input(
        "Dense layers", *DENSE_LAYERS_RANGE, key="train_n_dense", persist_state=KEEP
    )
    dense = tuple(dense_layer_inputs(j) for j in range(int(n_dense)))
    return ModelSpec(kind="cnn", conv_blocks=blocks, dense_layers=dense)


def optimizer_inputs() -> OptimizerSpec:
    name = st.selectbox(
        "Optimizer",
        OPTIMIZERS,
        format_func=optimizer_title,
        key="train_optimizer",
        persist_state=KEEP,
    )
    learning_rate = st.number_input(
        "Learning rate", step=0.0005, format="%.5f", key="train_lr", persist_state=KEEP
    )
    schedule = st.selectbox(
        "Learning-rate schedule",
        LR_SCHEDULES,
        format_func=schedule_title,
        key="train_schedule",
        persist_state=KEEP,
        help=(
            "Cosine decay glides from the learning rate to 0 over all epochs; "
            "on plateau halves it whenever the validation loss did not improve for an epoch."
        ),
    )
    momentum = OptimizerSpec.momentum
    if name == "sgd":
        momentum = st.number_input("Momentum", step=0.05, key="train_momentum", persist_state=KEEP)
    clipnorm = st.number_input(
        CLIPNORM_LABEL,
        value=OptimizerSpec.clipnorm,
        step=0.5,
        key="train_clipnorm",
        persist_state=KEEP,
        help="0 = off. Otherwise each gradient longer than this is scaled down to it "
        "before the update, so one bad batch cannot throw the weights far: try 1 when "
        "the loss grows or becomes NaN.",
    )
    return OptimizerSpec(name, float(learning_rate), schedule, float(momentum), float(clipnorm))


def mixed_precision_input(kind: str) -> bool:
    """The mixed-precision switch (not for VGG16, which trains in float32)."""
    if kind == "vgg16":
        return False
    here = (
        "This machine's CPU has them."
        if has_bfloat16()
        else "This machine's CPU has none: here it would train slower, not faster."
    )
    mixed = st.checkbox(
        MIXED_PRECISION_LABEL,
        key="train_mixed_precision",
        persist_state=KEEP,
        help="Multiply in bfloat16 while training, keep the weights in float32: 2.7 times "
        "as fast on CPUs with bfloat16 instructions (Intel AMX or AVX-512 BF16), with the "
        f"same accuracy in our measurements. {here} The saved model is float32 either way.",
    )
    if mixed and not has_bfloat16():
        st.caption(
            ":material/warning: This machine's CPU has no bfloat16 instructions: "
            "mixed precision trains slower here than float32."
        )
    return mixed


def fit_inputs(kind: str) -> FitSpec:
    cols = st.columns(2)
    batch_size = int(
        cols[0].number_input("Batch size", step=16, key="train_batch", persist_state=KEEP)
    )
    epochs = int(cols[1].number_input("Epochs", step=1, key="train_epochs", persist_state=KEEP))
    smoothing = float(
        st.number_input(
            LABEL_SMOOTHING_LABEL,
            step=0.05,
            format="%.2f",
            key="train_label_smoothing",
            persist_state=KEEP,
            help="0 = off. Otherwise the loss aims a little below 100% for the true class "
            "and spreads the rest over the others, so the network stops pushing its "
            "confident answers further: 0.1 usually gains a few tenths of a point. "
            "The loss it reports is then higher (it cannot reach 0).",
        )
    )
    mixed = mixed_precision_input(kind)
    early = st.checkbox(
        "Early stopping",
        key="train_early",
        persist_state=KEEP,
        help="Stop when the validation loss stops improving.",
    )
    if not early:
        return FitSpec(batch_size, epochs, False, label_smoothing=smoothing, mixed_precision=mixed)
    patience = int(
        st.number_input("Patience (epochs)", step=1, key="train_patience", persist_state=KEEP)
    )
    restore = st.checkbox("Restore best weights", key="train_restore", persist_state=KEEP)
    return FitSpec(batch_size, epochs, True, patience, restore, smoothing, mixed)


def run_inputs() -> tuple[int, int, str]:
    """(seed, training subset, run name)."""
    seed = int(st.number_input("Random seed", step=1, key="train_seed", persist_state=KEEP))
    subset = int(
        st.number_input(
            "Training subset (0 = all)",
            step=1000,
            key="train_subset",
            persist_state=KEEP,
            help="0 uses them all; a few thousand make a quick experiment.",
        )
    )
    name = st.text_input(
        "Run name (optional)", key="train_name", persist_state=KEEP, max_chars=MAX_NAME_CHARS
    )
    return seed, subset, name


def summary_table(config: TrainConfig, input_shape: tuple[int, int, int], n_classes: int) -> None:
    rows = describe_model(config.model, input_shape, n_classes, config.augment)
    frame = pd.DataFrame(
        [
            {
                "layer": r.name,
                "type": r.kind,
                "output shape": " x ".join(map(str, r.output_shape)),
                "parameters": f"{r.params:,}",
            }
            for r in rows
        ]
    )
    total = sum(r.params for r in rows)
    memory = estimate_batch_memory(rows, config.fit.batch_size, config.optimizer.name)
    cols = st.columns(3)
    cols[0].metric("Parameters", f"{total:,}")
    cols[1].metric("Trainable", f"{sum(r.trainable for r in rows):,}")
    cols[2].metric(
        "Memory per batch (est.)",
        format_bytes(memory),
        help="Weights, gradients, optimizer state and the activations of one batch.",
    )
    st.dataframe(frame, hide_index=True, key="train_summary")


def setup_section() -> TrainConfig | None:
    """The new-run form; returns a valid config, or None after showing the problems."""
    data_col, model_col, fit_col = st.columns([1, 2.2, 1.1], gap="medium")
    with data_col:
        st.subheader("Data")
        key = dataset_picker("train_dataset")
        dataset = require_dataset(key)
        validation = validation_size_input("train", len(dataset.y_train), key)
        fast_recipe_choice(dataset, apply_preset)
    with model_col:
        st.subheader("Model")
        spec = model_inputs()
    with fit_col:
        st.subheader("Training")
        optimizer = optimizer_inputs()
        finder = st.container()  # under the rate input; filled once the config is known
        fit = fit_inputs(spec.kind)
        seed, subset, name = run_inputs()
    augment = augment_inputs("train", dataset.x_train[0])
    config = TrainConfig(
        dataset=key,
        model=spec,
        optimizer=optimizer,
        fit=fit,
        validation=validation,
        train_subset=subset,
        seed=seed,
        name=name,
        augment=augment,
    )
    with finder:
        lr_finder_section(config, dataset)
    info = dataset.info
    try:
        validate(config, info.image_shape, len(dataset.y_train))
    except ConfigError as error:
        st.error(
            "Fix these settings before training:\n\n" + "\n".join(f"- {p}" for p in error.problems)
        )
        return None
    time_estimate(config, dataset)
    with st.expander("Model summary", expanded=True):
        summary_table(config, info.image_shape, len(info.class_names))
        if spec.kind == "vgg16":
            n_images = config.train_subset or len(dataset.y_train)
            n_test = len(dataset.y_test)
            vgg16_summary(config, info.image_shape, len(info.class_names), n_images, n_test)
    if spec.kind == "vgg16" and not weights_ready(spec.vgg16):
        return None
    return config


def launch_button(config: TrainConfig | None) -> None:
    row = st.container(horizontal=True)
    clicked = row.button(
        "Train",
        type="primary",
        icon=":material/play_arrow:",
        disabled=config is None,
        key="train_start",
    )
    row.download_button(
        "Export config (JSON)",
        data=config_file_text(config) if config else "",
        file_name=config_file_name(config),
        mime="application/json",
        icon=":material/file_download:",
        disabled=config is None,
        on_click="ignore",
        key="train_export_config",
        help="Train this setup headless on another machine: "
        "python -m cnn_core.training.worker --config FILE",
    )
    if not clicked or config is None:
        return
    try:
        folder, created = launch_run(config)
    except UserError as error:
        st.error(str(error))
        return
    st.session_state[MONITORED] = st.session_state[CURRENT_RUN] = folder.run_id
    if created:
        st.toast(f"Run {folder.run_id} started")
    else:
        st.info("That run was started a moment ago (double click): watching it below.")


def progress_text(progress: Progress) -> str:
    return (
        f"Epoch {progress.epoch}/{progress.epochs} · batch {progress.batch}/{progress.batches}"
        f" · elapsed {format_duration(progress.elapsed)} · ETA {format_duration(progress.eta)}"
    )


def stop_run(run: RunSummary) -> None:
    """Stop's callback: ask the worker to stop (through the workspace gate)."""
    try:
        access.request_stop(run)
    except UserError as error:
        st.toast(str(error))


def stopping_text(run: RunSummary) -> str:
    """What a run that was asked to stop is doing (the worker's own words once it has
    seen the request: `cnn_core.training.callbacks.STOP_STEPS`)."""
    if run.message.startswith("Stopping"):
        return run.message
    if run.state == RunState.QUEUED:
        return "Stopping… this run will not start training."
    return "Stopping… the worker ends the epoch after its current batch."


def state_view(run: RunSummary) -> None:
    """What the run is doing now: waiting, a progress bar, or why it ended without a model."""
    if run.state == RunState.QUEUED:
        if run.stopping:
            st.info(stopping_text(run))
        else:
            st.info(f"Waiting for a free training slot ({max_concurrent()} at a time)…")
    elif run.state == RunState.RUNNING:
        progress = run.read_progress()
        if run.stopping:
            st.progress(progress.fraction if progress else 0.0, text=stopping_text(run))
        elif progress:
            st.progress(progress.fraction, text=progress_text(progress))
        else:
            st.progress(0.0, text=run.message or "Loading data and building the model…")
    elif run.state == RunState.FAILED:
        st.error(f"Training failed: {run.message}")
    elif run.state == RunState.INTERRUPTED:
        st.warning(
            f"Interrupted: the worker process ended after {run.epochs_done} epoch(s). "
            "The finished epochs are shown below."
        )
    elif run.state == RunState.BROKEN:
        st.error(run.message)
    elif why := no_model_text(run):
        st.info(why)


def render_monitor(run_id: str, was_active: bool) -> None:
    """The live view of one run: status, progress, curves, Stop, results."""
    run = load_run(run_folder(run_id).path)
    if was_active and not run.active:
        st.rerun()  # finished: redraw the page once, without polling
    st.markdown(f"**Status:** {run_badge(run)} · `{run.run_id}`")
    history = run.read_history() if run.state != RunState.BROKEN else []
    epochs = planned_epochs(run.config) if run.config else None
    state_view(run)
    if run.active and st.button(
        "Stopping…" if run.stopping else "Stop",
        icon=":material/stop:",
        key="train_stop",
        disabled=run.stopping,
        on_click=stop_run,  # before this rerun, whose status then says stopping
        args=(run,),
    ):
        st.toast("Stopping at the next batch; the model so far is kept.")
    if run.state.final:
        results(run)
        if workspace.private_enabled():
            share_toggle(run)
    if cut := next((r for r in reversed(history) if r.partial), None):
        n = cut.batches
        of = "" if n is None else f" after {n:,} batch{'' if n == 1 else 'es'}"
        st.caption(
            f"Epoch {cut.epoch} was cut short by Stop{of}: it is left out of the curves "
            "and the epoch count."
        )
    view = loss_view_ui("train") if whole_epochs(history) else {}  # log scale, smoothing
    if whole_epochs(history):
        st.plotly_chart(training_curves_figure(history, epochs, **view), key="train_curves")
        rates = learning_rate_text(history, run.config.optimizer.schedule if run.config else None)
        if rates:
            st.caption(rates)
    elif not run.active:
        st.caption("No finished epoch was recorded.")
    progress = run.read_progress() if run.state == RunState.RUNNING or run.state.final else None
    if progress and progress.losses:  # below the epoch curves, which the browser tests read
        figure = batch_loss_figure(progress, run.state.final, view.get("log_loss", False))
        st.plotly_chart(figure, key="train_batch_loss")


def share_toggle(run: RunSummary) -> None:
    """Private workspaces: share the run read-only with every workspace, or stop sharing."""
    shared = access.is_public(run)
    wanted = st.toggle(
        "Public: every workspace may view and use this run (never change it)",
        value=shared,
        key=f"train_public_{run.run_id}",
    )
    if wanted != shared:
        try:
            access.set_public(run, wanted)
        except UserError as error:
            st.error(str(error))


def results(run: RunSummary) -> None:
    if run.state == RunState.FAILED and not run.has_model:
        return  # the error above says what happened; nothing was trained to show
    evaluation = run.read_evaluation()
    train_seconds = run.status.train_seconds if run.status else None
    cols = st.columns(3)
    if evaluation:
        cols[0].metric(
            "Test accuracy",
            percent(evaluation.accuracy),
            help=f"{evaluation.correct:,} of {evaluation.n:,} test images right",
        )
    cols[1].metric("Training time", format_duration(train_seconds))
    cols[2].metric("Epochs", run.epochs_done)
    findings = run_findings(run)
    if evaluation:
        summary = (
            f"Test accuracy {evaluation.accuracy_text()} · trained in "
            f"{format_duration(train_seconds)}"
            + (" (stopped early by the user)" if run.state == RunState.STOPPED else "")
        )
        # A run that learned nothing (or went wrong) is never shown as a plain success.
        (st.success if healthy(findings) else st.markdown)(summary)
    reach_line(run)
    findings_section(run, "train", findings)
    if run.has_model:
        st.markdown("**Next:** open this run on")
        run_page_links(run, compare=True)
    compare_with_control(run, "train")


def watched_default(runs: list[RunSummary], current: str | None) -> str:
    """The run to watch on arrival: the session's current run if it trains, else a
    training run, else the current run, else the newest."""
    active = [r.run_id for r in runs if r.active]
    ids = [r.run_id for r in runs]
    if current in active:
        return current
    if active:
        return active[0]
    return current if current in ids else ids[0]


def monitor_section() -> None:
    st.header("Runs")
    runs = list_runs()
    if not runs:
        st.info("No runs yet: set up a model above and press Train.")
        return
    ids = [r.run_id for r in runs]
    labels = {r.run_id: run_label(r) for r in runs}
    start = watched_default(runs, st.session_state.get(CURRENT_RUN))
    remember = follow_choice(MONITORED, CURRENT_RUN, ids, start)
    run_id = st.selectbox(
        "Watch run", ids, format_func=labels.get, key=MONITORED, on_change=remember
    )
    active = next(r for r in runs if r.run_id == run_id).active
    st.fragment(render_monitor, run_every=POLL_SECONDS if active else None)(run_id, active)


def render_train() -> None:
    st.title("Train")
    form_defaults()
    config = setup_section()
    launch_button(config)
    st.divider()
    monitor_section()


ensure_app_navigation()
render_train()
