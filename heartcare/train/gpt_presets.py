"""HeartcareGPT's training stages as data: per preset, the model settings and what stages 2 and 3 train.

Stage 1 is Beat (`heartcare beat train`). Stage 2, "warmup", trains the projectors and
the ECG token rows with the LLM frozen; stage 3, "joint", adds LoRA on attention.
`paper` holds the paper's settings (lr 2e-4 on a fifth of the QA; then LoRA r 64 /
alpha 128 / dropout 0.05, lr 2e-5, effective batch 16, linear schedule with 100
warm-up steps, 1 epoch; bf16 autocast where the hardware has it). `cpu` is what fits 2 cores, resumable across sessions:
fewer signal tokens (latents pooled in fives), a smaller LoRA, higher learning
rates for far fewer steps, multiple-choice targets written text first. `tiny` is for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heartcare.errors import ConfigError
from heartcare.model.config import PROJECTORS
from heartcare.train.config import StageConfig

STAGES = ("warmup", "joint")
TASKS = ("closed_qa", "open_qa", "comparison_qa", "report", "signal_prediction")


@dataclass(frozen=True)
class StageData:
    """Which train items a stage reads: tasks, the fraction kept (hash-ranked, so stable) and a cap."""

    tasks: tuple[str, ...] = TASKS
    fraction: float = 1.0
    max_items: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1 or (self.max_items is not None and self.max_items <= 0):
            raise ConfigError("StageData", "fraction must be in (0, 1] and max_items positive")
        unknown = set(self.tasks) - set(TASKS)
        if unknown:
            raise ConfigError("StageData", f"unknown task(s) {sorted(unknown)}; expected some of {', '.join(TASKS)}")


@dataclass(frozen=True)
class GptPreset:
    """A preset: model overrides (GptConfig fields) and, per stage, (StageConfig, StageData)."""

    name: str
    model: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, tuple[StageConfig, StageData]] = field(default_factory=dict)

    def stage(self, name: str) -> tuple[StageConfig, StageData]:
        if name not in self.stages:
            raise ConfigError(f"preset {self.name!r}", f"unknown stage {name!r}; expected one of {', '.join(STAGES)}")
        return self.stages[name]


def _stage(name: str, preset: str, trainable: dict[str, float], **settings: Any) -> StageConfig:
    return StageConfig(name=name, preset=preset, trainable=trainable, schedule="linear", **settings)


def _paper() -> GptPreset:
    projectors = {**dict.fromkeys(PROJECTORS, 2e-4), "finding_readers": 2e-4, "token_rows": 2e-4}
    joint = {**dict.fromkeys(PROJECTORS, 2e-5), "finding_readers": 2e-5, "lora": 2e-5, "token_rows": 2e-5}
    return GptPreset("paper", {}, {
        "warmup": (_stage("warmup", "paper", projectors, epochs=1, batch_size=16, learning_rate=2e-4, warmup_steps=100,
                          valid_every_steps=500, mixed_precision="bf16"),
                   StageData(fraction=0.2)),
        "joint": (_stage("joint", "paper", joint, epochs=1, batch_size=4, gradient_accumulation_steps=4,
                         learning_rate=2e-5, warmup_steps=100, valid_every_steps=500, mixed_precision="bf16"), StageData()),
    })


def _cpu() -> GptPreset:
    projectors = {**dict.fromkeys(PROJECTORS, 1e-3), "finding_readers": 1e-3, "token_rows": 1e-3}
    joint = {**dict.fromkeys(PROJECTORS, 3e-4), "finding_readers": 3e-4, "lora": 3e-4, "token_rows": 3e-4}
    # Reports are long answers (a tenth of the items, half the tokens): left to the paper preset.
    short = StageData(tasks=("closed_qa", "comparison_qa", "open_qa", "signal_prediction"))
    # Text-first answers: with the dataset's "B: text" targets a 135M backbone at this budget learns
    # the letter prior (the ablation grid's letter-first `full` answered "A" on all 170 items), while
    # the same run with "text (B)" spread its answers over the four letters.
    model = {"signal_pool": 5, "lora_rank": 16, "lora_alpha": 32, "answer_format": "text-first"}
    return GptPreset("cpu", model, {
        "warmup": (_stage("warmup", "cpu", projectors, epochs=1, batch_size=16, learning_rate=1e-3, warmup_steps=20,
                          max_steps=150, checkpoint_every_steps=25, valid_every_steps=50, threads=2), short),
        "joint": (_stage("joint", "cpu", joint, epochs=1, batch_size=8, gradient_accumulation_steps=2, learning_rate=3e-4,
                         warmup_steps=30, max_steps=1500, checkpoint_every_steps=25, valid_every_steps=50, threads=2), short),
    })


def _tiny() -> GptPreset:
    projectors = {**dict.fromkeys(PROJECTORS, 5e-3), "finding_readers": 5e-3, "token_rows": 5e-3}
    joint = {**projectors, "lora": 5e-3}
    return GptPreset("tiny", {"lora_rank": 4, "lora_alpha": 8, "max_length": 1024}, {
        "warmup": (_stage("warmup", "tiny", projectors, epochs=1, batch_size=4, learning_rate=5e-3, warmup_steps=2,
                          max_steps=6, progress=False, log_every_steps=1), StageData()),
        "joint": (_stage("joint", "tiny", joint, epochs=1, batch_size=2, gradient_accumulation_steps=2,
                         learning_rate=5e-3, warmup_steps=2, max_steps=6, progress=False, log_every_steps=1), StageData()),
    })


PRESETS = {"paper": _paper, "cpu": _cpu, "tiny": _tiny}


def preset(name: str) -> GptPreset:
    if name not in PRESETS:
        raise ConfigError("--preset", f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]()
