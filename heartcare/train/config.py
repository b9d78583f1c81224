"""`StageConfig`: one training stage as data (optimiser, schedule, parts, precision, checkpoints)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from heartcare.errors import ConfigError
from heartcare.train.schedule import SCHEDULES

PRECISIONS = ("no", "bf16", "fp16")
# Fields a resumed run may change: they set how long to go on and what to report, not
# the path already taken (fit's --epochs extends a run; the schedule follows the new total).
# gradient_checkpointing trades memory for time, the gradients stay the same.
RESUME_FREE_FIELDS = frozenset({"epochs", "max_steps", "checkpoint_every_steps", "log_every_steps", "progress", "threads",
                                "gradient_checkpointing"})


@dataclass(frozen=True)
class StageConfig:
    """Settings of one training stage (defaults = the paper's Beat stage: AdamW 1e-4,
    cosine, batch 32, clip 1.0)."""

    name: str = "beat"
    epochs: int = 50
    batch_size: int = 32  # per process and micro-batch; the optimiser sees batch_size x accumulation x processes
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100  # linear warm-up, then `schedule` decay to min_learning_rate_ratio
    min_learning_rate_ratio: float = 0.0
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    seed: int = 0
    max_steps: int | None = None  # stop after this many optimiser steps in total (None = all epochs)
    checkpoint_every_steps: int | None = None  # extra mid-epoch checkpoints (always one per epoch)
    log_every_steps: int = 10
    valid_every_steps: int | None = None  # also evaluate valid_data every N steps (None = at epoch ends only)
    progress: bool = True  # rich progress bar
    threads: int | None = None  # torch intra-op threads (None = leave as is)
    gradient_accumulation_steps: int = 1  # micro-batches per optimiser step
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # used only where the hardware has it
    schedule: Literal["cosine", "linear"] = "cosine"  # decay after warm-up (linear: the paper's stage 3)
    preset: str | None = None  # name of the preset the stage came from (a resume must keep it)
    trainable: dict[str, float] = field(default_factory=dict)  # part name -> learning rate; {} = all at learning_rate
    # recompute each decoder layer's activations in the backward pass instead of keeping them (HeartcareGPT)
    gradient_checkpointing: bool = False

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
        if self.valid_every_steps is not None and self.valid_every_steps <= 0:
            fail(f"valid_every_steps must be positive, got {self.valid_every_steps}")
        if self.log_every_steps <= 0:
            fail(f"log_every_steps must be positive, got {self.log_every_steps}")
        if isinstance(self.gradient_accumulation_steps, bool) or self.gradient_accumulation_steps < 1:
            fail(f"gradient_accumulation_steps must be >= 1, got {self.gradient_accumulation_steps}")
        if self.mixed_precision not in PRECISIONS:
            fail(f"mixed_precision must be one of {', '.join(PRECISIONS)}, got {self.mixed_precision!r}")
        if self.schedule not in SCHEDULES:
            fail(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not isinstance(self.trainable, dict):
            fail(f"trainable must map part names to learning rates, got {type(self.trainable).__name__}")
        for part, rate in self.trainable.items():
            if not isinstance(part, str) or not part:
                fail(f"trainable part names must be non-empty strings, got {part!r}")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
                fail(f"trainable[{part!r}] must be a positive learning rate, got {rate!r}")
        object.__setattr__(self, "betas", tuple(self.betas))
        object.__setattr__(self, "trainable", {part: float(rate) for part, rate in self.trainable.items()})

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

    def resume_conflicts(self, saved: dict[str, Any]) -> list[str]:
        """Differences from the stage a checkpoint was written with ("field old -> new"), leaving
        out RESUME_FREE_FIELDS; fields the checkpoint predates count as their defaults."""
        try:
            previous = StageConfig.from_dict(saved)
        except ConfigError as error:
            return [f"unreadable saved stage ({error.problem})"]
        return [
            f"{item.name} {getattr(previous, item.name)!r} -> {getattr(self, item.name)!r}"
            for item in fields(self)
            if item.name not in RESUME_FREE_FIELDS and getattr(previous, item.name) != getattr(self, item.name)
        ]
