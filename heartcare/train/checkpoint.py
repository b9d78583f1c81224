"""Training checkpoints: model + optimiser + RNG state as safetensors, counters as JSON.

Layout of a checkpoint folder:
    trainer.json          step, epoch, batch within epoch, stage config, optimiser hyper-parameters
    model.safetensors     model state_dict
    optimizer.safetensors optimiser per-parameter state ("state.<index>.<name>") + RNG state
Both are written to temporary names and renamed, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartcare.errors import UnreadableFileError

TRAINER_FILE = "trainer.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"


@dataclass
class TrainerState:
    """Where training stands: `step` optimiser steps done; `epoch` and `batch` say
    which batch of which epoch comes next."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def save_checkpoint(directory: Path, model, optimizer, state: TrainerState, extra: dict[str, Any]) -> None:
    """Write a full checkpoint atomically: build it in a sibling temp folder, then swap."""
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(staging / MODEL_FILE))
        optimizer_state = optimizer.state_dict()
        tensors = {"rng.torch": torch.get_rng_state()}
        scalars: dict[str, dict[str, float]] = {}
        for index, values in optimizer_state["state"].items():
            for name, value in values.items():
                if torch.is_tensor(value):
                    tensors[f"state.{index}.{name}"] = value.detach().contiguous()
                else:
                    scalars.setdefault(str(index), {})[name] = value
        save_file(tensors, str(staging / OPTIMIZER_FILE))
        document = {
            "step": state.step,
            "epoch": state.epoch,
            "batch": state.batch,
            "param_groups": optimizer_state["param_groups"],
            "optimizer_scalars": scalars,
            **extra,
        }
        (staging / TRAINER_FILE).write_text(json.dumps(document, indent=2, default=str))
        previous = directory.with_name(f".{directory.name}.previous")
        if directory.exists():
            os.replace(directory, previous)
        os.replace(staging, directory)
        if previous.exists():
            shutil.rmtree(previous)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def load_checkpoint(directory: Path, model, optimizer) -> TrainerState:
    """Restore model, optimiser and RNG from `directory`; returns the trainer counters."""
    import torch
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (TRAINER_FILE, MODEL_FILE, OPTIMIZER_FILE):
        if not (directory / name).is_file():
            raise UnreadableFileError(directory / name, "missing; cannot resume from this checkpoint")
    document = json.loads((directory / TRAINER_FILE).read_text())
    model.load_state_dict(load_file(str(directory / MODEL_FILE)))
    tensors = load_file(str(directory / OPTIMIZER_FILE))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in document.get("optimizer_scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": document["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    return TrainerState(step=document["step"], epoch=document["epoch"], batch=document["batch"])


def read_trainer_document(directory: Path) -> dict[str, Any]:
    """The JSON part of a checkpoint (for reporting)."""
    path = Path(directory) / TRAINER_FILE
    if not path.is_file():
        raise UnreadableFileError(path, "missing; not a training checkpoint")
    return json.loads(path.read_text())
