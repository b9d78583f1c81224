"""Training data for the loop: a dict of tensors (Beat) or a map-style Dataset + collate_fn (LLM).

Batch order is a seeded permutation that depends on (seed, epoch) only, so a resumed
run replays exactly the batches a straight run would see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


class TensorDictDataset:
    """A dict of tensors sharing their first dimension; DataLoader fetches a whole batch with
    `__getitems__([i, j, ...])` -> {name: tensor[[i, j, ...]]} (one gather, not one per row)."""

    def __init__(self, tensors: dict) -> None:
        sizes = {name: len(tensor) for name, tensor in tensors.items()}
        if not sizes or len(set(sizes.values())) != 1:
            from heartcare.errors import ConfigError

            raise ConfigError("train_data", f"needs tensors sharing their first dimension, got sizes {sizes}")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict:
        return {name: tensor[index] for name, tensor in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict:
        import torch

        index = torch.as_tensor(indices, dtype=torch.long)
        return {name: tensor[index] for name, tensor in self.tensors.items()}


class EpochSampler:
    """A permutation of range(size) drawn from (seed, epoch) alone; `set_epoch` picks the epoch."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


def batch_source(data, collate_fn: Callable[[list], Any] | None):
    """(dataset, collate_fn) for a DataLoader with a batch sampler."""
    if isinstance(data, dict):
        if collate_fn is not None:
            from heartcare.errors import ConfigError

            raise ConfigError("collate_fn", "is for a Dataset; a dict of tensors is batched by indexing")
        return TensorDictDataset(data), _identity
    if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
        from heartcare.errors import ConfigError

        raise ConfigError("train_data", f"expected a dict of tensors or a map-style Dataset, got {type(data).__name__}")
    if collate_fn is None:
        from torch.utils.data import default_collate

        collate_fn = default_collate
    return data, collate_fn


def _identity(batch):
    return batch


def make_loader(data, batch_size: int, seed: int, collate_fn: Callable[[list], Any] | None = None):
    """A DataLoader yielding whole batches in (seed, epoch) order -> (loader, its EpochSampler)."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader

    dataset, collate = batch_source(data, collate_fn)
    sampler = EpochSampler(len(dataset), seed)
    # accelerate shards and skips the batch sampler's batches; the loader's own generator
    # keeps iterator creation from drawing on the global torch RNG, which dropout shares
    # (a resumed run starts its iterator at a different point than a straight one).
    loader = DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
                        collate_fn=collate, generator=torch.Generator().manual_seed(seed))
    return loader, sampler


def evaluate_logs(model, data, batch_size: int, collate_fn: Callable[[list], Any] | None = None,
                  accelerator=None) -> dict[str, float]:
    """Mean of the model's logs over `data` in eval mode, weighted by batch size.

    With an `accelerator`, process r takes batches r, r + P, ... and the sums are added up
    across processes; a process with no batch left runs batch 0 with weight 0, so every
    rank makes the same number of forward calls (FSDP / ZeRO-3 need that).
    """
    import torch

    dataset, collate = batch_source(data, collate_fn)
    size = len(dataset)
    starts = list(range(0, size, batch_size))
    processes = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if accelerator is not None else 0
    rounds = -(-len(starts) // processes)
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    with torch.no_grad():
        for round_index in range(rounds):
            position = round_index * processes + rank
            weight_on = position < len(starts)
            start = starts[position] if weight_on else 0
            indices = list(range(start, min(start + batch_size, size)))
            batch = collate(_fetch(dataset, indices))
            if accelerator is not None:
                from accelerate.utils import send_to_device

                batch = send_to_device(batch, accelerator.device)
            _, logs = model(batch)
            count = len(indices) if weight_on else 0
            for name, value in logs.items():
                totals[name] = totals.get(name, 0.0) + float(value) * count
    model.train(was_training)
    names = list(totals)
    if accelerator is not None and processes > 1:
        summed = accelerator.reduce(torch.tensor([totals[name] for name in names], dtype=torch.float64,
                                                 device=accelerator.device), "sum")
        totals = dict(zip(names, summed.tolist(), strict=True))
    return {name: totals[name] / max(size, 1) for name in names}


def _fetch(dataset, indices: list[int]):
    """What a DataLoader hands its collate_fn for `indices`."""
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    return [dataset[index] for index in indices]
