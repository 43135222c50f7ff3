"""Compare with another model: the partner run's config for a finished run.

`ALTERNATIVES` is the registry of choices: each maps a finished run's config to a
new config on the same dataset, split and seed with another model
(`paired_config`). New kinds of model (VGG16 feature extraction, fine-tuning)
are one more entry. VGG16 choices whose weights are not on this machine are
listed apart (`alternatives_without_weights`), so the page can offer a download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from cnn_core.base.errors import UserError
from cnn_core.data.registry import find_dataset
from cnn_core.models.vgg16 import vgg16_spec
from cnn_core.models.vgg16_weights import weights_problem
from cnn_core.schema.config import (
    DEFAULT_PRESET,
    MAX_NAME_CHARS,
    PRESETS,
    ConfigError,
    ModelSpec,
    TrainConfig,
    validate_model,
    with_model,
)


def _with_model(spec: ModelSpec) -> Callable[[TrainConfig], TrainConfig]:
    """An alternative that swaps in `spec` and keeps everything else it can take."""
    return lambda config: with_model(config, spec)


# "Compare with another model": label -> function(config) -> the partner's config.
# paired_config keeps the dataset, split and seed and names the run, whatever the
# function returns; a VGG16 entry is one more line here.
ALTERNATIVES: dict[str, Callable[[TrainConfig], TrainConfig]] = {
    "Softmax regression (baseline)": _with_model(PRESETS["Softmax regression"]),
    "Studio default CNN": _with_model(PRESETS[DEFAULT_PRESET]),
    "Keras MNIST convnet (dropout 0.5)": _with_model(
        PRESETS["Keras MNIST convnet: 3x3 conv 32 -> 3x3 conv 64 -> dense 128 + dropout 0.5"]
    ),
    "Small RGB net (3 conv blocks)": _with_model(
        PRESETS["Small RGB net: 3x3 conv 32 -> 32 -> 64 -> dense 128"]
    ),
    "VGG16 feature extraction (ImageNet, 32 px)": _with_model(vgg16_spec("feature_extraction")),
    "VGG16 fine-tuned (ImageNet, 32 px)": _with_model(vgg16_spec("fine_tune")),
}


def alternatives_for(config: TrainConfig) -> list[str]:
    """The registry's labels whose model differs from `config`'s, fits its dataset and
    can run here (see `alternatives_without_weights` for the VGG16 ones that cannot)."""
    blocked = set(alternatives_without_weights(config))
    return [label for label in _fitting_alternatives(config) if label not in blocked]


def alternatives_without_weights(config: TrainConfig) -> list[str]:
    """The fitting VGG16 alternatives whose weights are not on this machine (the worker
    never downloads; the Train page gets the ImageNet weights first)."""
    labels = []
    for label in _fitting_alternatives(config):
        vgg = ALTERNATIVES[label](config).model.vgg16
        if vgg is not None and weights_problem(vgg):
            labels.append(label)
    return labels


def _fitting_alternatives(config: TrainConfig) -> list[str]:
    """The registry's labels whose model differs from `config`'s and fits its dataset."""
    info = find_dataset(config.dataset)
    if info is None:  # not on this server: a partner could not train
        return []
    labels = []
    for label, alternative in ALTERNATIVES.items():
        spec = alternative(config).model
        if spec != config.model and not validate_model(spec, info.image_shape):
            labels.append(label)
    return labels


def paired_config(config: TrainConfig, label: str, origin: str) -> TrainConfig:
    """The config that trains alternative `label` on `config`'s dataset, split and seed.

    Args:
        config: the finished run's config.
        label: a key of ALTERNATIVES.
        origin: the finished run's name or id, for the new run's name.

    Returns:
        The partner's config: same dataset, validation, train_subset and seed, no group.

    Raises:
        UserError: an unknown label, a dataset that is not on this server, or a model
            that does not fit the dataset's images.
    """
    if label not in ALTERNATIVES:
        raise UserError(f"unknown model to compare with: {label!r}")
    info = find_dataset(config.dataset)
    if info is None:
        raise UserError(f"the dataset {config.dataset!r} is not on this server")
    partner = ALTERNATIVES[label](config)
    name = f"{label.split(' (')[0]} vs {origin}"[:MAX_NAME_CHARS]
    partner = replace(
        partner,
        dataset=config.dataset,
        validation=config.validation,
        train_subset=config.train_subset,
        seed=config.seed,
        group="",
        name=name,
    )
    problems = validate_model(partner.model, info.image_shape)
    if problems:
        raise ConfigError(problems)
    return partner
