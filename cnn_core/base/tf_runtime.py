"""TensorFlow start-up: environment settings that must precede its import.

On CPUs without AVX-512 VNNI/BF16 or AMX, TensorFlow leaves oneDNN off; turning
it on (``TF_ENABLE_ONEDNN_OPTS=1``) trained small CNNs about 1.5x faster on the
2-core machine we measure on (see ``benchmarks/bench_train_throughput.py``).
The variable is read once, when TensorFlow loads, so every path to TensorFlow
in this project goes through `import_keras`.
"""

from __future__ import annotations

import os
from types import ModuleType

TF_ENV_DEFAULTS = {
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",  # hide INFO/WARNING chatter from the C++ runtime
    "KERAS_BACKEND": "tensorflow",
}


def configure_environment() -> None:
    """Set the defaults above unless the user already chose a value."""
    for name, value in TF_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)


def import_keras() -> ModuleType:
    """Import Keras (and TensorFlow) with the project's settings applied first."""
    configure_environment()
    import keras  # lazy: keeps TensorFlow off the Home page

    return keras
