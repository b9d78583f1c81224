"""Per-stage wall time of the record path (load, optimize, measure, QA, render, ...).

The build sums these over all records of a run and writes ms per record into
build_report.json (never into dataset files: timings differ between runs).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class StageClock:
    """Accumulates seconds per stage name; `None`-safe helpers keep callers simple."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def merge(self, other: dict[str, float]) -> None:
        for name, seconds in other.items():
            self.seconds[name] += seconds

    def per_record_ms(self, records: int) -> dict[str, float]:
        total = sum(self.seconds.values())
        breakdown = {name: round(1000 * seconds / max(records, 1), 2) for name, seconds in sorted(self.seconds.items())}
        return {**breakdown, "total": round(1000 * total / max(records, 1), 2)}


@contextmanager
def timed(clock: StageClock | None, name: str) -> Iterator[None]:
    """`clock.stage(name)`, or nothing when no clock is given."""
    if clock is None:
        yield
    else:
        with clock.stage(name):
            yield
