"""Learning-rate schedule: linear warm-up then cosine decay (a pure function of the step)."""

from __future__ import annotations

import math


def cosine_with_warmup(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based).

    Being a pure function of the step, it needs no state in checkpoints, which
    makes resumption exact.
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
