"""Training checkpoints: model, optimiser and RNG states as safetensors, counters as JSON.

Layout of a checkpoint folder (no pickle anywhere, so a checkpoint is safe to load):
    trainer.json             step, epoch, batch within epoch, world size, stage, optimiser
                             hyper-parameters and scalars, fp16 grad-scaler state
    model.safetensors        trainable parameters and buffers (tensors sharing memory stored once, see "aliases")
    optimizer.safetensors    optimiser per-parameter state ("state.<index>.<name>")
                             A parameter whose leading rows never train (an LLM's own embedding rows
                             while only the added ECG token rows do) is stored from its first trained
                             row on, with its optimiser moments ("row_offsets" in each file's metadata):
                             the frozen rows come back from the rebuilt model, their moments as the zeros
                             they are. A joint-stage state of SmolLM2 + LoRA r 16: 40 MB instead of 380 MB.
    rng.<rank>.safetensors   each process's torch CPU/CUDA, numpy and Python RNG states
The folder is built under a sibling staging name and swapped in, so a crash never
leaves half a checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartcare.errors import ConfigError, UnreadableFileError
from heartcare.train.rng import capture_rng, restore_rng

TRAINER_FILE = "trainer.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
FORMAT = 2  # 1: RNG (torch CPU only) inside optimizer.safetensors, no world size
ROW_OFFSETS = "row_offsets"
FROZEN_ROW_SUMS = "frozen_row_sums"
SHARDED = ("FSDP", "DEEPSPEED")  # accelerate DistributedType names whose optimiser state is split over ranks


def rng_file(rank: int) -> str:
    return f"rng.{rank}.safetensors"


@dataclass
class TrainerState:
    """Where training stands: `step` optimiser steps done; `epoch` and `batch` say
    which micro-batch of which epoch comes next (per process)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0


def _unshared(tensors: dict) -> tuple[dict, dict[str, str]]:
    """Drop tensors that alias an earlier one (tied embeddings): safetensors refuses shared memory.
    Returns (tensors to write, {dropped name: kept name})."""
    kept: dict[tuple, str] = {}
    unique, aliases = {}, {}
    for name, tensor in tensors.items():
        tensor = tensor.detach()
        key = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tuple(tensor.stride()), tensor.dtype)
        if tensor.numel() and key in kept:
            aliases[name] = kept[key]
            continue
        kept[key] = name
        unique[name] = tensor
    # Partly overlapping views still share memory: give those their own copy.
    seen: set[int] = set()
    for name, tensor in unique.items():
        pointer = tensor.untyped_storage().data_ptr()
        unique[name] = tensor.clone().contiguous() if pointer in seen and tensor.numel() else tensor.contiguous()
        seen.add(pointer)
    return unique, aliases


def save_checkpoint(directory: Path, model, optimizer, state: TrainerState, extra: dict[str, Any],
                    accelerator=None) -> None:
    """Write a full checkpoint atomically. With an `accelerator`, every process must call this
    (the model state is gathered, each rank writes its RNG); the main process writes the rest."""
    from safetensors.torch import save_file

    directory = Path(directory)
    rank = accelerator.process_index if accelerator is not None else 0
    main = accelerator.is_main_process if accelerator is not None else True

    def barrier() -> None:
        if accelerator is not None:
            accelerator.wait_for_everyone()

    # A collective under FSDP / ZeRO-3 (gathers the shards), so every rank takes part.
    model_state = accelerator.get_state_dict(model) if accelerator is not None else model.state_dict()
    # Frozen parameters never change, and the model rebuilds them from its config: only what trains
    # (and buffers) is saved, or an LLM stage would write the whole frozen backbone at every checkpoint.
    keep = saved_names(model, accelerator)
    model_state = {name: tensor for name, tensor in model_state.items() if name in keep}
    staging = directory.with_name(f".{directory.name}.staging")
    barrier()
    if main:
        if staging.exists():
            shutil.rmtree(staging)  # left by a run killed mid-save
        staging.mkdir(parents=True)
    barrier()
    try:
        rng_tensors, rng_metadata = capture_rng()
        save_file(rng_tensors, str(staging / rng_file(rank)), metadata=rng_metadata)
        if main:
            tensors, aliases = _unshared({k: v for k, v in model_state.items() if hasattr(v, "untyped_storage")})
            offsets = frozen_leading_rows(model, accelerator)
            tensors, row_offsets, sums = _trim_rows(tensors, offsets)
            save_file(tensors, str(staging / MODEL_FILE), metadata={"aliases": json.dumps(aliases),
                                                                    ROW_OFFSETS: json.dumps(row_offsets),
                                                                    FROZEN_ROW_SUMS: json.dumps(sums)})
            names = _parameter_names(model, optimizer, accelerator) if offsets else {}
            starts = {index: offsets[name] for index, name in names.items() if name in offsets}
            _write_optimizer(staging, optimizer, state, extra, accelerator, starts)
        barrier()
        if main:
            previous = directory.with_name(f".{directory.name}.previous")
            if directory.exists():
                os.replace(directory, previous)
            os.replace(staging, directory)
            if previous.exists():
                shutil.rmtree(previous)
    finally:
        if main and staging.exists():
            shutil.rmtree(staging)
    barrier()


def frozen_leading_rows(model, accelerator=None) -> dict[str, int]:
    """{parameter name: rows that never train} as the model declares it (`frozen_leading_rows()`), else {}."""
    module = accelerator.unwrap_model(model) if accelerator is not None else model
    declare = getattr(module, "frozen_leading_rows", None)
    return dict(declare()) if callable(declare) else {}


def _trim_rows(tensors: dict, offsets: dict[str, int]) -> tuple[dict, dict[str, int], dict[str, float]]:
    """Cut the frozen leading rows off the named tensors -> (tensors, {name: offset}, {name: sum of the cut rows})."""
    trimmed, row_offsets, sums = dict(tensors), {}, {}
    for name, start in offsets.items():
        tensor = trimmed.get(name)
        if tensor is None or tensor.ndim < 1 or not 0 < start < tensor.shape[0]:
            continue
        sums[name] = float(tensor[:start].double().sum())  # checked on load: the rebuilt rows must be these
        trimmed[name] = tensor[start:].contiguous()
        row_offsets[name] = start
    return trimmed, row_offsets, sums


def _parameter_names(model, optimizer, accelerator) -> dict[int, str]:
    """Optimiser state index -> parameter name (torch numbers parameters over param_groups in order)."""
    module = accelerator.unwrap_model(model) if accelerator is not None else model
    names = {id(parameter): name for name, parameter in module.named_parameters()}
    ordered = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    return {index: names[id(parameter)] for index, parameter in enumerate(ordered) if id(parameter) in names}


def _write_optimizer(staging: Path, optimizer, state: TrainerState, extra: dict[str, Any], accelerator,
                     row_starts: dict[int, int] | None = None) -> None:
    """optimizer.safetensors and trainer.json into `staging`; moments of frozen leading rows are left out
    when they are exactly zero (they are when those rows' gradients are zeroed and they have no weight decay)."""
    import torch
    from safetensors.torch import save_file

    # Sharded optimisers (FSDP, DeepSpeed ZeRO) hold a slice per rank in their own layout; the
    # main rank's slice is not the whole state, so none is written and resuming is refused.
    sharded = str(getattr(accelerator, "distributed_type", "")).split(".")[-1] in SHARDED
    optimizer_state = {"state": {}, "param_groups": []} if sharded else optimizer.state_dict()
    tensors, scalars, row_offsets = {}, {}, {}
    for index, values in optimizer_state["state"].items():
        start = (row_starts or {}).get(int(index), 0)
        for name, value in values.items():
            if torch.is_tensor(value):
                key = f"state.{index}.{name}"
                value = value.detach()
                if value.ndim >= 1 and 0 < start < value.shape[0] and not bool(value[:start].any()):
                    value, row_offsets[key] = value[start:], start
                tensors[key] = value.contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    save_file(tensors, str(staging / OPTIMIZER_FILE), metadata={ROW_OFFSETS: json.dumps(row_offsets)})
    scaler = getattr(accelerator, "scaler", None)
    document = {
        "format": FORMAT,
        "step": state.step,
        "epoch": state.epoch,
        "batch": state.batch,
        "world_size": accelerator.num_processes if accelerator is not None else 1,
        "optimizer_saved": not sharded,
        "param_groups": optimizer_state["param_groups"],
        "optimizer_scalars": scalars,
        "grad_scaler": scaler.state_dict() if scaler is not None else None,
        **extra,
    }
    (staging / TRAINER_FILE).write_text(json.dumps(document, indent=2, default=str))


def saved_names(model, accelerator) -> set[str]:
    """State-dict names a checkpoint holds: trainable parameters and every buffer."""
    module = accelerator.unwrap_model(model) if accelerator is not None else model
    wanted = {name for name, parameter in module.named_parameters() if parameter.requires_grad} | {name for name, _ in module.named_buffers()}
    return wanted & set(module.state_dict())  # non-persistent buffers (e.g. rotary tables) are rebuilt, never saved


def load_checkpoint(directory: Path, model, optimizer, rank: int = 0, scaler=None) -> TrainerState:
    """Restore model, optimiser, this rank's RNG (and the fp16 grad scaler) from `directory`;
    returns the trainer counters. Call before `accelerator.prepare`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (TRAINER_FILE, MODEL_FILE, OPTIMIZER_FILE):
        if not (directory / name).is_file():
            raise UnreadableFileError(directory / name, "missing; cannot resume from this checkpoint")
    document = json.loads((directory / TRAINER_FILE).read_text())
    if not document.get("optimizer_saved", True):
        raise ConfigError(directory, "holds no optimiser state (written under FSDP / DeepSpeed); an exact resume "
                                     "is not possible from it")
    model_state = load_file(str(directory / MODEL_FILE))
    with safe_open(str(directory / MODEL_FILE), framework="pt") as handle:
        metadata = handle.metadata() or {}
    _restore_rows(model_state, json.loads(metadata.get(ROW_OFFSETS, "{}")), json.loads(metadata.get(FROZEN_ROW_SUMS, "{}")),
                  model.state_dict(), directory / MODEL_FILE)
    for alias, original in json.loads(metadata.get("aliases", "{}")).items():
        model_state[alias] = model_state[original]
    expected = saved_names(model, None)
    missing, unexpected = sorted(expected - set(model_state)), sorted(set(model_state) - set(model.state_dict()))
    if missing or unexpected:
        raise UnreadableFileError(directory / MODEL_FILE, f"does not fit the model being trained: missing {missing[:3]}, "
                                                          f"unexpected {unexpected[:3]}")
    model.load_state_dict(model_state, strict=False)
    tensors = load_file(str(directory / OPTIMIZER_FILE))
    with safe_open(str(directory / OPTIMIZER_FILE), framework="pt") as handle:
        optimizer_offsets = json.loads((handle.metadata() or {}).get(ROW_OFFSETS, "{}"))
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    for key, start in optimizer_offsets.items():
        index = int(key.split(".")[1])
        if index >= len(parameters) or tuple(tensors[key].shape[1:]) != tuple(parameters[index].shape[1:]):
            raise UnreadableFileError(directory / OPTIMIZER_FILE, f"{key} does not fit the optimiser being resumed")
        full = torch.zeros(parameters[index].shape, dtype=tensors[key].dtype)  # frozen rows' moments were exactly 0
        full[start:] = tensors[key]
        tensors[key] = full
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in document.get("optimizer_scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": document["param_groups"]})
    if scaler is not None and document.get("grad_scaler"):
        scaler.load_state_dict(document["grad_scaler"])
    rng_path = directory / rng_file(rank)
    if rng_path.is_file():
        with safe_open(str(rng_path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        restore_rng(load_file(str(rng_path)), metadata)
    elif "rng.torch" in tensors:  # format 1
        restore_rng({"torch.cpu": tensors["rng.torch"]}, {})
    else:
        raise UnreadableFileError(rng_path, "missing; cannot resume this process's random state")
    return TrainerState(step=document["step"], epoch=document["epoch"], batch=document["batch"])


def _restore_rows(model_state: dict, row_offsets: dict[str, int], frozen_sums: dict[str, float], current: dict,
                  path: Path) -> None:
    """Put the frozen leading rows back (from the rebuilt model) in front of each trimmed tensor, in place."""
    import torch

    for name, start in row_offsets.items():
        if name not in current or tuple(current[name].shape[1:]) != tuple(model_state[name].shape[1:]) or \
                current[name].shape[0] != start + model_state[name].shape[0]:
            raise UnreadableFileError(path, f"{name} does not fit the model being trained")
        frozen = current[name][:start]
        expected = frozen_sums.get(name)
        if expected is not None and not math.isclose(float(frozen.double().sum()), expected, rel_tol=1e-9, abs_tol=1e-6):
            raise UnreadableFileError(path, f"the frozen rows of {name} in the model being resumed differ from those "
                                            "it was trained with (another backbone?)")
        model_state[name] = torch.cat([frozen.detach().to(model_state[name].dtype), model_state[name]])


def read_trainer_document(directory: Path) -> dict[str, Any]:
    """The JSON part of a checkpoint (for reporting)."""
    path = Path(directory) / TRAINER_FILE
    if not path.is_file():
        raise UnreadableFileError(path, "missing; not a training checkpoint")
    return json.loads(path.read_text())
