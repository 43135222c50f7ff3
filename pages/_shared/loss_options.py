"""The loss curves' reading options: a log scale and smoothing, kept for the session."""

from __future__ import annotations

from typing import Any

import streamlit as st

MAX_SMOOTHING = 0.95


def loss_view_ui(prefix: str) -> dict[str, Any]:
    """A log-scale toggle and a smoothing slider; keyword arguments for the curve builders.

    Both keep their value across reruns and page changes (``persist_state="session"``).

    Returns:
        {"log_loss": bool, "smoothing": float in [0, MAX_SMOOTHING]}.
    """
    cols = st.columns([1, 1.4], vertical_alignment="bottom")
    log_loss = cols[0].toggle(
        "Log-scale loss",
        key=f"{prefix}_log_loss",
        persist_state="session",
        help="Every tenfold drop of the loss gets the same height: the late epochs show.",
    )
    smoothing = cols[1].slider(
        "Loss smoothing",
        min_value=0.0,
        max_value=MAX_SMOOTHING,
        value=0.0,
        step=0.05,
        key=f"{prefix}_smoothing",
        persist_state="session",
        help="Exponential moving average of the loss (bias-corrected, as TensorBoard's); "
        "the raw curve stays, faint. 0 shows the raw values only.",
    )
    return {"log_loss": bool(log_loss), "smoothing": float(smoothing)}
