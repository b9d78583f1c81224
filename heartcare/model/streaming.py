"""Per-row control of batched greedy generation: a token budget per row, cancellation, and streamed tokens.

Hugging Face `generate` decodes a whole batch until every row is done. A server batches
requests with different budgets and clients that may hang up: `RowStops` ends a row when
its `cancelled()` turns true, and `RowStreamer` hands each row's new tokens to a callback
as they are decoded, up to the row's budget (the end-of-turn token and the padding that
follows a finished row are never passed on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

TokenCallback = Callable[[int, int], None]  # (row, token id)


class RowStops:
    """A `StoppingCriteria`: row i is done once `cancelled(i)` is true (its client hung up).

    Budgets need no criterion: `generate` runs to the largest budget and cuts each row to its
    own, and `RowStreamer` stops passing a row's tokens on at its budget.
    """

    def __init__(self, cancelled: Callable[[int], bool]) -> None:
        self.cancelled = cancelled

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        flags = [self.cancelled(row) for row in range(input_ids.shape[0])]
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)


class RowStreamer:
    """A `BaseStreamer` duck type: per-row new tokens to `on_token(row, token)` until the row ends."""

    def __init__(self, rows: int, end_token: int, budgets: Sequence[int], on_token: TokenCallback) -> None:
        self.end_token = end_token
        self.budgets = list(budgets)
        self.on_token = on_token
        self.counts = [0] * rows
        self.finished = [False] * rows

    def put(self, value: torch.Tensor) -> None:
        if value.dim() != 1:  # the prompt ids `generate` passes first (empty for embedding inputs)
            return
        for row, token in enumerate(value.tolist()):
            if self.finished[row]:
                continue
            if token == self.end_token:
                self.finished[row] = True
                continue
            self.counts[row] += 1
            self.on_token(row, token)
            if self.counts[row] >= self.budgets[row]:
                self.finished[row] = True

    def end(self) -> None:
        self.finished = [True] * len(self.finished)
