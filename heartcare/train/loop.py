"""`train`: the one loop (accelerate, AdamW, warm-up + decay, accumulation, clipping, logs, exact resume).

Models follow one contract, `forward(batch) -> (loss, logs)`; data is a dict of
tensors sharing their first dimension or a map-style Dataset with a collate_fn.
Batch order is a seeded permutation per epoch and every RNG is checkpointed, so a
resumed run replays exactly what a straight run would do. Works as is under
`accelerate launch` (DDP / FSDP / DeepSpeed): logs, bar and files on the main process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartcare.errors import ConfigError, TrainingDivergedError
from heartcare.train.checkpoint import TrainerState, save_checkpoint
from heartcare.train.config import StageConfig
from heartcare.train.data import evaluate_logs, make_loader
from heartcare.train.hardware import make_accelerator
from heartcare.train.log import MetricLog
from heartcare.train.progress import ProgressBar
from heartcare.train.resume import resume_from
from heartcare.train.schedule import SCHEDULES

__all__ = ["CHECKPOINT_DIR", "TrainResult", "evaluate_logs", "train"]

CHECKPOINT_DIR = "training"


@dataclass
class TrainResult:
    """What a run did: steps taken, seconds spent, the last train and validation logs."""

    steps: int
    seconds: float
    train_logs: dict[str, float] = field(default_factory=dict)
    valid_logs: dict[str, float] = field(default_factory=dict)


def _mean_across_processes(accelerator, values: dict[str, float]) -> dict[str, float]:
    """Average scalar logs over processes (every rank logs the same names at the same steps)."""
    import torch

    if accelerator.num_processes == 1:
        return values
    names = list(values)
    tensor = torch.tensor([values[name] for name in names], dtype=torch.float64, device=accelerator.device)
    return dict(zip(names, accelerator.reduce(tensor, "mean").tolist(), strict=True))


def _refuse_non_finite(loss, grad_norm, step: int, checkpoint_dir: Path) -> None:
    """Stop before a non-finite update is applied: one NaN step would poison every later step and checkpoint.

    The gradient norm (reduced across processes, so every process stops together) is checked
    when the stage clips gradients, else this process's loss."""
    value, what = (float(grad_norm), "gradient norm") if grad_norm is not None else (float(loss.detach()), "loss")
    if not math.isfinite(value):
        raise TrainingDivergedError(checkpoint_dir, f"step {step}: the {what} is {value}; the step was not applied and "
                                    f"the last checkpoint here is intact (resume with --resume after lowering the learning "
                                    f"rate or switching mixed precision off)")


def train(
    model,
    train_data,
    stage: StageConfig,
    out: str | Path,
    valid_data=None,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    batch_transform: Callable[[Any, object], Any] | None = None,
    collate_fn: Callable[[list], Any] | None = None,
) -> TrainResult:
    """Train `model` for `stage` and keep `out/training/` as a resumable checkpoint.

    train_data / valid_data: {name: Tensor [N, ...]} or a map-style Dataset batched by
    `collate_fn` (default: torch's default_collate). With `resume`, model, optimiser,
    RNG and counters come back from the checkpoint and training goes on as if never
    interrupted; a checkpoint of another stage or preset is refused. The model may
    choose its trainable parts with `parameter_groups(stage)`. `on_epoch_end(epoch,
    valid_logs)` (main process only) lets callers save their own artefacts.
    `batch_transform(batch, generator)` turns each CPU batch into the model's input
    (e.g. random crops); its generator is seeded by the step, so resumed runs draw
    the same randomness.
    """
    import torch
    from accelerate.utils import send_to_device

    from heartcare.train.groups import parameter_groups

    if stage.threads:
        torch.set_num_threads(stage.threads)
    out = Path(out)
    accelerator, precision = make_accelerator(stage)
    main, rank, processes = accelerator.is_main_process, accelerator.process_index, accelerator.num_processes
    if stage.gradient_checkpointing:
        enable = getattr(model, "gradient_checkpointing_enable", None)
        if enable is None:
            raise ConfigError(f"StageConfig {stage.name!r}",
                              f"gradient_checkpointing: {type(model).__name__} cannot recompute its activations")
        enable()
    groups = parameter_groups(model, stage)
    names = [group.pop("name") for group in groups]
    base_rates = [group["lr"] for group in groups]
    optimizer = torch.optim.AdamW(groups, lr=stage.learning_rate, betas=stage.betas)
    loader, sampler = make_loader(train_data, stage.batch_size, stage.seed, collate_fn)
    checkpoint_dir = out / CHECKPOINT_DIR
    state = TrainerState()
    if resume and checkpoint_dir.exists():  # before prepare: weights load into the plain model
        state = resume_from(checkpoint_dir, stage, model, optimizer, accelerator)
    log = MetricLog(out / "logs") if main else None
    if log is not None:
        log.truncate_after(state.step)  # rows past the checkpoint (or all, for a fresh run) are replayed
    model, optimizer = accelerator.prepare(model, optimizer)
    # Batches stay on the CPU until batch_transform has run (it may index CPU tensors).
    loader = accelerator.prepare_data_loader(loader, device_placement=False)
    accumulation = stage.gradient_accumulation_steps
    batches_per_epoch = len(loader)  # per process
    steps_per_epoch = -(-batches_per_epoch // accumulation)
    total_steps = stage.epochs * steps_per_epoch
    if stage.max_steps is not None:
        total_steps = min(total_steps, stage.max_steps)
    schedule = SCHEDULES[stage.schedule]

    def checkpoint() -> None:
        save_checkpoint(checkpoint_dir, model, optimizer, state,
                        {"stage": stage.to_dict(), "total_steps": total_steps, "mixed_precision_used": precision},
                        accelerator)

    validated_at: list[int] = []  # steps whose validation is logged by this call

    def validate() -> dict[str, float]:
        logs = evaluate_logs(model, valid_data, stage.batch_size, None if isinstance(valid_data, dict) else collate_fn,
                             accelerator)
        if log is not None:
            log.write("valid", state.step, {"epoch": state.epoch, **logs})
        validated_at.append(state.step)
        return logs

    progress = ProgressBar(stage.name, total_steps, state.step, enabled=stage.progress and main)
    started = time.perf_counter()
    train_logs: dict[str, float] = {}
    valid_logs: dict[str, float] = {}
    first_step = state.step
    model.train()
    try:
        while state.step < total_steps and state.epoch < stage.epochs:
            sampler.set_epoch(state.epoch)
            loader.set_epoch(state.epoch)
            # Resuming mid-epoch: the epoch's order is rebuilt and the batches already seen are skipped.
            epoch_loader = accelerator.skip_first_batches(loader, state.batch) if state.batch else loader
            sums: dict[str, float] = {}
            for batch in epoch_loader:
                group_first = state.batch // accumulation * accumulation  # groups align to the epoch's start
                group_size = min(accumulation, batches_per_epoch - group_first)
                micro = state.batch - group_first
                if batch_transform is not None:
                    draw = (state.step * accumulation + micro) * processes + rank
                    batch = batch_transform(batch, torch.Generator().manual_seed(stage.seed * 1_000_003 + draw))
                batch = send_to_device(batch, accelerator.device)
                multiplier = schedule(state.step, total_steps, stage.warmup_steps, stage.min_learning_rate_ratio)
                for group, rate in zip(optimizer.param_groups, base_rates, strict=True):
                    group["lr"] = rate * multiplier
                with accelerator.accumulate(model):
                    loss, logs = model(batch)
                    # accelerate divides by the full accumulation count; an epoch's last, shorter
                    # group is rescaled so its gradient is still the mean over its micro-batches.
                    accelerator.backward(loss * (accumulation / group_size) if group_size < accumulation else loss)
                    if accelerator.sync_gradients != (micro + 1 == group_size):
                        raise RuntimeError(f"accumulation out of step at micro-batch {state.batch} of epoch {state.epoch}")
                    grad_norm = None
                    if accelerator.sync_gradients and stage.grad_clip:
                        grad_norm = accelerator.clip_grad_norm_(model.parameters(), stage.grad_clip)
                    if accelerator.sync_gradients:
                        _refuse_non_finite(loss, grad_norm, state.step + 1, checkpoint_dir)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                state.batch += 1
                for name, value in {"loss": float(loss.detach()), **logs}.items():
                    sums[name] = sums.get(name, 0.0) + float(value)
                if not accelerator.sync_gradients:
                    continue
                state.step += 1
                train_logs = _mean_across_processes(accelerator, {name: value / group_size for name, value in sums.items()})
                sums = {}
                if grad_norm is not None:
                    train_logs["grad_norm"] = float(grad_norm)
                train_logs["lr"] = optimizer.param_groups[0]["lr"]
                train_logs.update({f"lr/{name}": group["lr"] for name, group in zip(names, optimizer.param_groups, strict=True)})
                if accelerator.device.type == "cuda":  # what a larger backbone or batch would have to fit into
                    train_logs["gpu_memory_gib"] = torch.cuda.max_memory_allocated(accelerator.device) / 2**30
                if log is not None and (state.step % stage.log_every_steps == 0 or state.step == total_steps):
                    log.write("train", state.step, {"epoch": state.epoch, **train_logs})
                progress.update(state.step, f"loss {train_logs['loss']:.4f}")
                if valid_data is not None and stage.valid_every_steps and state.step % stage.valid_every_steps == 0:
                    valid_logs = validate()  # a learning curve inside an epoch (LLM stages rarely finish one on a CPU)
                if stage.checkpoint_every_steps and state.step % stage.checkpoint_every_steps == 0:
                    checkpoint()
                if state.step >= total_steps:
                    break
            if state.batch >= batches_per_epoch:
                state.epoch += 1
                state.batch = 0
                if valid_data is not None:
                    valid_logs = validate()
                checkpoint()
                if on_epoch_end is not None and main:
                    on_epoch_end(state.epoch, valid_logs)
                accelerator.wait_for_everyone()
        checkpoint()
        if valid_data is not None and state.step > first_step and state.step not in validated_at:
            # A run that stops at max_steps inside an epoch never reaches the epoch-end validation;
            # its last figure would otherwise be up to valid_every_steps old. After the checkpoint,
            # so a resumed run continues from the same state as a straight one.
            valid_logs = validate()
    finally:
        progress.stop()
        accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the caller's model without autocast hooks
    return TrainResult(state.step, time.perf_counter() - started, train_logs, valid_logs)
