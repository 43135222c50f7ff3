"""What this machine's CPU can do, read without TensorFlow (`/proc/cpuinfo` on Linux).

Mixed precision (bfloat16 arithmetic, float32 weights) trains faster only on CPUs
with bfloat16 instructions: Intel's AMX or AVX-512 BF16. Elsewhere TensorFlow
emulates bfloat16 and training is slower than in float32, so the fast recipe uses
it only where `has_bfloat16` says the CPU has them (`recipes.fast_name`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # Linux's names for the instructions


def cpuinfo_field(text: str, field: str) -> str | None:
    """A field's value in a `/proc/cpuinfo` text (its first processor's), or None."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field:
            return value.strip()
    return None


def cpu_flags(text: str) -> frozenset[str]:
    """The feature flags in a `/proc/cpuinfo` text (its first processor's `flags` line)."""
    return frozenset((cpuinfo_field(text, "flags") or "").split())


@cache
def has_bfloat16() -> bool:
    """Whether this machine's CPU computes in bfloat16 natively (False where unknown)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(cpu_flags(text) & BFLOAT16_FLAGS)
