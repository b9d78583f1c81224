"""Collect one model's answers to a list of items: batched, retried, cached, never dropped.

A batch that raises is retried (with a short backoff) up to `retries` times, then each
of its items alone; an item that still raises is recorded as failed with the error's
text and later scored as wrong. Items already answered in the cache are not asked
again; items that failed in an earlier run are asked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from heartcare.bench.cache import AnswerCache
from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import BenchModel, Output


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _attempt(model: BenchModel, batch: list[BenchItem], retries: int, backoff_s: float) -> list[Output]:
    for attempt in range(retries + 1):
        try:
            outputs = model.respond(batch)
            if len(outputs) != len(batch):
                raise RuntimeError(f"{model.name} returned {len(outputs)} answers for {len(batch)} items")
            return outputs
        except Exception:
            if attempt == retries:
                raise
            time.sleep(backoff_s * (2**attempt))
    raise AssertionError("unreachable")


def collect_answers(
    model: BenchModel,
    items: list[BenchItem],
    cache: AnswerCache,
    retries: int = 2,
    backoff_s: float = 0.5,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, tuple[Output, str | None]]:
    """item id -> (output, failure reason or None) for every item, in any order."""
    cached = cache.load()
    answers: dict[str, tuple[Output, str | None]] = {}
    pending = []
    for item in items:
        record = cached.get(item.id)
        if record is not None and not record.get("failed"):
            answers[item.id] = (cache.output(record), None)
        else:
            pending.append(item)
    if on_progress:
        on_progress(len(items) - len(pending))
    # Same-task items together: text adapters batch by generation budget, waveform adapters by window.
    pending.sort(key=lambda item: (item.task, item.modality))
    size = max(1, int(getattr(model, "batch_size", 1)))
    for start in range(0, len(pending), size):
        batch = pending[start : start + size]
        began = time.perf_counter()
        try:
            results = [(output, None) for output in _attempt(model, batch, retries, backoff_s)]
        except Exception:
            results = []
            for item in batch:  # one bad item must not sink its batch-mates
                try:
                    results.append((_attempt(model, [item], retries=0, backoff_s=backoff_s)[0], None))
                except Exception as error:
                    results.append((Output(), _describe(error)))
        seconds = (time.perf_counter() - began) / len(batch)
        cache.append([(item.id, output, failure, seconds) for item, (output, failure) in zip(batch, results, strict=True)])
        for item, result in zip(batch, results, strict=True):
            answers[item.id] = result
        if on_progress:
            on_progress(len(batch))
    return answers
