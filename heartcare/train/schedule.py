"""Learning-rate schedules: linear warm-up, then cosine or linear decay (pure functions of the step)."""

from __future__ import annotations

import math
from collections.abc import Callable


def _warmup(step: int, warmup_steps: int) -> float | None:
    """The warm-up multiplier at `step`, or None once warm-up is over."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    return None


def cosine_with_warmup(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based).

    Being a pure function of the step, it needs no state in checkpoints, which
    makes resumption exact.
    """
    warm = _warmup(step, warmup_steps)
    if warm is not None:
        return warm
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def linear_with_warmup(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> float:
    """Warm-up, then a straight line from 1 to `min_ratio` (0 by default) at `total_steps`
    (the paper's stage 3 schedule)."""
    warm = _warmup(step, warmup_steps)
    if warm is not None:
        return warm
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * (1.0 - progress)


# StageConfig.schedule -> multiplier(step, total_steps, warmup_steps, min_ratio)
SCHEDULES: dict[str, Callable[[int, int, int, float], float]] = {
    "cosine": cosine_with_warmup,
    "linear": linear_with_warmup,
}
