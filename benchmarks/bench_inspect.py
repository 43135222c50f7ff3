"""How fast the "Inside the CNN" page can answer for one image.

Builds the Train page's default CNN preset with the studio's own `build_model`
(28x28x1: conv 3x3x32 -> pool -> conv 3x3x64 -> pool -> dense 128 -> 10,
untrained: speed does not depend on the weights), wraps it in an Inspector
and prints the median milliseconds over N calls of each view. Every timed
call gets a different image, so the feature-map cache is measured separately
("same image"). Target: feature maps and Grad-CAM under 100 ms each after
load.

Run: .venv/bin/python benchmarks/bench_inspect.py [--calls 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.base.tf_runtime import import_keras  # noqa: E402
from cnn_core.insight.inspection import Inspector  # noqa: E402
from cnn_core.models.cnn import build_model  # noqa: E402
from cnn_core.schema.config import DEFAULT_PRESET, PRESETS  # noqa: E402

TARGET_MS = 100.0


def median_ms(call: Callable[[np.ndarray], object], images: np.ndarray) -> float:
    """Median wall time in ms of ``call(image)`` over the images, one call each."""
    times = []
    for image in images:
        start = time.perf_counter()
        call(image)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Times each view and prints one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="timed calls per view")
    calls = parser.parse_args().calls
    start = time.perf_counter()
    import_keras()
    print(f"import keras: {time.perf_counter() - start:.1f} s; CPUs: {os.cpu_count()}")
    model = build_model(PRESETS[DEFAULT_PRESET], (28, 28, 1), 10, seed=0)
    images = np.random.default_rng(0).uniform(0, 255, (calls, 28, 28, 1)).astype(np.float32)
    one = images[0]

    start = time.perf_counter()
    inspector = Inspector(model)
    print(f"Inspector(model): {(time.perf_counter() - start) * 1000:.1f} ms")
    first = {  # the first call of each traces its graph once
        "image_probabilities": lambda: inspector.image_probabilities(one),
        "feature_maps": lambda: inspector.feature_maps("conv1", one),
        "gradcam": lambda: inspector.gradcam(one),
    }
    for name, call in first.items():
        start = time.perf_counter()
        call()
        print(f"first {name} (traces): {(time.perf_counter() - start) * 1000:.0f} ms")

    rows = [
        ("eager model(x)", lambda image: model(image[None], training=False)),
        ("model.predict (10 calls)", lambda image: model.predict(image[None], verbose=0)),
        ("Inspector.image_probabilities", inspector.image_probabilities),
    ]
    for layer in inspector.conv_layers:
        rows.append(
            (f"feature_maps {layer}", lambda image, n=layer: inspector.feature_maps(n, image))
        )
    rows.append(("feature_maps conv2, same image", lambda _: inspector.feature_maps("conv2", one)))
    rows.append(("gradcam (last conv, predicted class)", inspector.gradcam))
    rows.append(("gradcam conv1, class 3", lambda image: inspector.gradcam(image, 3, "conv1")))
    print(f"median ms over {calls} calls (different image each call unless noted):")
    medians = {}
    for name, call in rows:
        sample = images[:10] if "predict" in name else images
        medians[name] = median_ms(call, sample)
        print(f"  {name:38s} {medians[name]:8.2f}")
    views = {k: v for k, v in medians.items() if k.startswith(("feature_maps", "gradcam"))}
    slowest = max(views, key=views.get)
    verdict = "PASS" if views[slowest] < TARGET_MS else "MISS"
    print(
        f"VERDICT: {verdict} - slowest view after load: {slowest} "
        f"{views[slowest]:.2f} ms median (target < {TARGET_MS:.0f} ms)"
    )


if __name__ == "__main__":
    main()
