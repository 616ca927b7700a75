"""Learning-rate schedule: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
