"""A run's training config as a file: what the Train page exports for the headless worker.

The file is the stamped JSON record `python -m cnn_core.training.worker --config FILE`
reads, so a run set up in the browser can train on another machine.
"""

from __future__ import annotations

import json

from cnn_core.schema.config import TrainConfig
from cnn_core.schema.records import stamped


def config_file_name(config: TrainConfig | None) -> str:
    """'train-mnist-cnn.json': the exported config's file name."""
    return f"train-{config.dataset}-{config.model.kind}.json" if config else "train.json"


def config_file_text(config: TrainConfig) -> str:
    """A config as the JSON file the headless worker reads (`--config FILE`)."""
    return json.dumps(stamped({"config": config.to_dict()}), indent=1)
