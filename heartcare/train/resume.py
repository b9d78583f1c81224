"""Resuming a run: refuse a checkpoint of another stage, preset or process count, then restore it."""

from __future__ import annotations

from pathlib import Path

from heartcare.errors import ConfigError
from heartcare.train.checkpoint import TrainerState, load_checkpoint, read_trainer_document
from heartcare.train.config import RESUME_FREE_FIELDS, StageConfig


def check_resumable(directory: Path, stage: StageConfig, world_size: int) -> None:
    """Raise ConfigError unless the checkpoint in `directory` was written by this stage on as many processes."""
    document = read_trainer_document(directory)
    saved = document.get("stage")
    if not isinstance(saved, dict):
        raise ConfigError(directory, "holds no stage settings; cannot check that resuming it is exact")
    conflicts = stage.resume_conflicts(saved)
    if conflicts:
        raise ConfigError(directory, f"was written by another stage ({'; '.join(conflicts)}); resume with the "
                                     f"original stage (only {', '.join(sorted(RESUME_FREE_FIELDS))} may change) "
                                     "or train into another folder")
    saved_world = document.get("world_size", 1)
    if saved_world != world_size:
        raise ConfigError(directory, f"was written by {saved_world} process(es), this run has {world_size}; "
                                     "batch order and random states only replay exactly on the same count")


def resume_from(directory: Path, stage: StageConfig, model, optimizer, accelerator) -> TrainerState:
    """Check, then restore model, optimiser, this rank's RNG and the grad scaler -> the counters."""
    check_resumable(directory, stage, accelerator.num_processes)
    return load_checkpoint(directory, model, optimizer, rank=accelerator.process_index,
                           scaler=getattr(accelerator, "scaler", None))
