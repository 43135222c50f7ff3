"""What the training doctor reports: a `Finding`, and how serious it is.

Its own module so that the checks (`curve_checks`, `class_checks`) and the
doctor that runs them (`doctor`) share one type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("problem", "warning", "info")  # most serious first


@dataclass(frozen=True)
class Finding:
    """One thing the doctor noticed.

    `title` names it in a few words, `evidence` gives the numbers behind it,
    `advice` the concrete next step; `change` (when not empty) is what
    `corrected_config` changes for a retry, by setting name, e.g.
    {"learning_rate": 0.0001}; `change_text` says it in words. `alternative` (with
    `alternative_text`) is a second retry for advice with an "or" in it, e.g.
    "lower the rate, or clip gradients": {"clipnorm": 1.0}.
    """

    kind: str
    severity: str  # one of SEVERITIES
    title: str
    evidence: str
    advice: str
    change: dict[str, Any] = field(default_factory=dict)
    change_text: str = ""
    alternative: dict[str, Any] = field(default_factory=dict)
    alternative_text: str = ""
