"""`StageConfig`: one training stage as data (optimiser, schedule, loop, checkpoints)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from heartcare.errors import ConfigError


@dataclass(frozen=True)
class StageConfig:
    """Settings of one training stage (defaults = the paper's Beat stage: AdamW 1e-4,
    cosine, batch 32, clip 1.0)."""

    name: str = "beat"
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100  # linear warm-up, then cosine decay to min_learning_rate_ratio
    min_learning_rate_ratio: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    seed: int = 0
    max_steps: int | None = None  # stop after this many optimiser steps in total (None = all epochs)
    checkpoint_every_steps: int | None = None  # extra mid-epoch checkpoints (always one per epoch)
    log_every_steps: int = 10
    progress: bool = True  # rich progress bar
    threads: int | None = None  # torch intra-op threads (None = leave as is)

    def __post_init__(self) -> None:
        def fail(problem: str) -> None:
            raise ConfigError(f"StageConfig {self.name!r}", problem)

        if self.epochs <= 0 or self.batch_size <= 0:
            fail(f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}")
        if self.learning_rate <= 0:
            fail(f"learning_rate must be positive, got {self.learning_rate}")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            fail("warmup_steps, grad_clip and weight_decay must be >= 0")
        if not 0.0 <= self.min_learning_rate_ratio <= 1.0:
            fail(f"min_learning_rate_ratio must be in [0, 1], got {self.min_learning_rate_ratio}")
        if self.max_steps is not None and self.max_steps <= 0:
            fail(f"max_steps must be positive, got {self.max_steps}")
        if self.checkpoint_every_steps is not None and self.checkpoint_every_steps <= 0:
            fail(f"checkpoint_every_steps must be positive, got {self.checkpoint_every_steps}")
        object.__setattr__(self, "betas", tuple(self.betas))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StageConfig:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError("StageConfig", f"unknown field(s) {sorted(unknown)}")
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
