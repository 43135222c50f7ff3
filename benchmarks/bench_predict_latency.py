"""Server-side time from a canvas drawing to class probabilities (Predict page).

Loads the starter MNIST model once, then for 100 synthetic drawings (random
pen strokes on a 280x280 RGBA canvas, as streamlit-drawable-canvas returns
them) times the whole path the page runs: `canvas_to_digit` (the MNIST
recipe, raw pixels in [0, 255]) -> one compiled `Predictor` call. Prints the median and
90th percentile (target: median <= 5 ms on 2 cores), the same model through
`model.predict` and an eager `model(x)` for comparison, and 100 uploaded
28x28 PNGs prepared and predicted in one batched call.

Run: .venv/bin/python benchmarks/bench_predict_latency.py [--drawings 100]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.data.images import canvas_to_digit  # noqa: E402
from cnn_core.insight.predict import Predictor, prepare_uploads  # noqa: E402
from cnn_core.models.cnn import load_trained_model  # noqa: E402
from cnn_core.store.folder import STARTER_ROOT, RunFolder

TARGET_MS = 5.0


def drawing(rng: np.random.Generator) -> np.ndarray:
    """A random 2-4 stroke scribble: uint8 RGBA (280, 280, 4), white on black."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    pen = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 5)):
        points = [tuple(rng.integers(30, 250, 2).tolist()) for _ in range(rng.integers(2, 6))]
        pen.line(points, fill=(255, 255, 255, 255), width=18)
    return np.asarray(image)


def timed_ms(call, *args) -> float:
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drawings", type=int, default=100)
    n = parser.parse_args().drawings
    model = load_trained_model(RunFolder(STARTER_ROOT / "mnist-starter").model_path)
    predictor = Predictor(model)
    rng = np.random.default_rng(0)
    canvases = [drawing(rng) for _ in range(n)]

    def canvas_to_probs(canvas: np.ndarray) -> np.ndarray:
        return predictor.image_probabilities(canvas_to_digit(canvas))

    canvas_to_probs(canvases[0])  # builds the compiled graph once, as the first draw does
    end_to_end = [timed_ms(canvas_to_probs, c) for c in canvases]
    preprocess = [timed_ms(canvas_to_digit, c) for c in canvases]
    x = np.zeros((1, 28, 28, 1), np.float32)
    eager = [timed_ms(lambda: model(x, training=False)) for _ in range(20)]
    predict = [timed_ms(lambda: model.predict(x, verbose=0)) for _ in range(10)]

    pngs = []
    for canvas in canvases[:100]:
        buffer = io.BytesIO()
        Image.fromarray(canvas).convert("L").resize((28, 28)).save(buffer, format="PNG")
        pngs.append((f"{len(pngs)}.png", buffer.getvalue()))
    start = time.perf_counter()
    prepared = prepare_uploads(pngs, predictor.input_shape)
    probs = predictor.probabilities(prepared.batch())
    batch_ms = (time.perf_counter() - start) * 1000

    print(f"machine: {os.cpu_count()} CPUs; model: starter MNIST CNN; {n} drawings")
    print(f"{'path':44s} {'median ms':>10s} {'p90 ms':>8s}")
    for label, times in (
        ("canvas -> probabilities (whole path)", end_to_end),
        ("  of which preprocessing (MNIST recipe)", preprocess),
        ("eager model(x), one image", eager),
        ("model.predict(x), one image", predict),
    ):
        print(f"{label:44s} {statistics.median(times):10.2f} {np.percentile(times, 90):8.2f}")
    print(
        f"100 uploaded 28x28 PNGs, decoded + one batched call: {batch_ms:.0f} ms "
        f"({len(probs)} predictions)"
    )
    median = statistics.median(end_to_end)
    verdict = "PASS" if median <= TARGET_MS else "MISS"
    print(
        f"{verdict}: median {median:.2f} ms from canvas to probabilities (target <= {TARGET_MS} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
