"""`train`: the one loop (AdamW, warm-up + cosine, grad clipping, logs, checkpoints, exact resume).

Models follow one contract, `forward(batch) -> (loss, logs)`; data is a dict of
tensors sharing their first dimension. Batch order is a seeded permutation per
epoch, so a resumed run replays exactly the batches a straight run would see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from heartcare.train.checkpoint import TrainerState, load_checkpoint, save_checkpoint
from heartcare.train.config import StageConfig
from heartcare.train.log import MetricLog
from heartcare.train.schedule import cosine_with_warmup

CHECKPOINT_DIR = "training"


@dataclass
class TrainResult:
    """What a run did: steps taken, seconds spent, the last train and validation logs."""

    steps: int
    seconds: float
    train_logs: dict[str, float] = field(default_factory=dict)
    valid_logs: dict[str, float] = field(default_factory=dict)


def _batches(size: int, batch_size: int, seed: int, epoch: int):
    import torch

    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(size, generator=generator)
    return [order[start : start + batch_size] for start in range(0, size, batch_size)]


def evaluate_logs(model, data: dict, batch_size: int) -> dict[str, float]:
    """Mean of the model's logs over `data` in eval mode, weighted by batch size."""
    import torch

    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    size = len(next(iter(data.values())))
    with torch.no_grad():
        for start in range(0, size, batch_size):
            batch = {name: tensor[start : start + batch_size] for name, tensor in data.items()}
            _, logs = model(batch)
            count = len(next(iter(batch.values())))
            for name, value in logs.items():
                totals[name] = totals.get(name, 0.0) + value * count
    model.train(was_training)
    return {name: value / max(size, 1) for name, value in totals.items()}


def train(
    model,
    train_data: dict,
    stage: StageConfig,
    out: str | Path,
    valid_data: dict | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    batch_transform: Callable[[dict, object], dict] | None = None,
) -> TrainResult:
    """Train `model` for `stage` and keep `out/training/` as a resumable checkpoint.

    train_data / valid_data: {name: Tensor [N, ...]}. With `resume`, model,
    optimiser, RNG and counters come back from the checkpoint and training goes on
    as if never interrupted. `on_epoch_end(epoch, valid_logs)` lets callers save
    their own artefacts (e.g. `save_pretrained`). `batch_transform(batch, generator)`
    turns each sliced batch into the model's input (e.g. random crops); its
    generator is seeded by the step, so resumed runs draw the same randomness.
    """
    import torch

    if stage.threads:
        torch.set_num_threads(stage.threads)
    out = Path(out)
    size = len(next(iter(train_data.values())))
    steps_per_epoch = -(-size // stage.batch_size)
    total_steps = stage.epochs * steps_per_epoch
    if stage.max_steps is not None:
        total_steps = min(total_steps, stage.max_steps)
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": stage.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=stage.learning_rate,
        betas=stage.betas,
    )
    log = MetricLog(out / "logs")
    state = TrainerState()
    checkpoint_dir = out / CHECKPOINT_DIR
    if resume and checkpoint_dir.exists():
        state = load_checkpoint(checkpoint_dir, model, optimizer)
    log.truncate_after(state.step)  # rows past the checkpoint (or all, for a fresh run) are replayed

    def checkpoint() -> None:
        save_checkpoint(checkpoint_dir, model, optimizer, state, {"stage": stage.to_dict(), "total_steps": total_steps})

    progress = None
    if stage.progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
        task = progress.add_task(stage.name, total=total_steps, completed=state.step, status="")
        progress.start()
    started = time.perf_counter()
    train_logs: dict[str, float] = {}
    valid_logs: dict[str, float] = {}
    model.train()
    try:
        while state.step < total_steps and state.epoch < stage.epochs:
            batches = _batches(size, stage.batch_size, stage.seed, state.epoch)
            while state.batch < len(batches) and state.step < total_steps:
                index = batches[state.batch]
                batch = {name: tensor[index] for name, tensor in train_data.items()}
                if batch_transform is not None:
                    batch = batch_transform(batch, torch.Generator().manual_seed(stage.seed * 1_000_003 + state.step))
                for group in optimizer.param_groups:
                    group["lr"] = stage.learning_rate * cosine_with_warmup(
                        state.step, total_steps, stage.warmup_steps, stage.min_learning_rate_ratio
                    )
                loss, train_logs = model(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if stage.grad_clip:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), stage.grad_clip)
                    train_logs["grad_norm"] = float(norm)
                optimizer.step()
                state.step += 1
                state.batch += 1
                train_logs["lr"] = optimizer.param_groups[0]["lr"]
                if state.step % stage.log_every_steps == 0 or state.step == total_steps:
                    log.write("train", state.step, {"epoch": state.epoch, **train_logs})
                if progress is not None:
                    progress.update(task, completed=state.step, status=f"loss {train_logs['loss']:.4f}")
                if stage.checkpoint_every_steps and state.step % stage.checkpoint_every_steps == 0:
                    checkpoint()
            if state.batch >= len(batches):
                state.epoch += 1
                state.batch = 0
                if valid_data is not None:
                    valid_logs = evaluate_logs(model, valid_data, stage.batch_size)
                    log.write("valid", state.step, {"epoch": state.epoch, **valid_logs})
                checkpoint()
                if on_epoch_end is not None:
                    on_epoch_end(state.epoch, valid_logs)
        checkpoint()
    finally:
        if progress is not None:
            progress.stop()
    return TrainResult(state.step, time.perf_counter() - started, train_logs, valid_logs)
