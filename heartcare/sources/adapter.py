"""The loop every dataset adapter shares: read each record, skip and note bad ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from heartcare.errors import HeartcareError
from heartcare.sources.record import LabelledRecord, SkippedRecord

Item = TypeVar("Item")


def iterate_records(
    items: list[Item],
    load: Callable[[Item], LabelledRecord],
    describe: Callable[[Item], tuple[str, str]],
    skipped: list[SkippedRecord],
) -> Iterator[LabelledRecord]:
    """Yield `load(item)` for each item; a `HeartcareError` becomes a `SkippedRecord`.

    describe(item) -> (record_id, path) for the skip note. Only HeartcareError is
    caught: anything else is a bug in heartcare and must surface.
    """
    for item in items:
        try:
            record = load(item)
        except HeartcareError as error:
            record_id, path = describe(item)
            skipped.append(SkippedRecord(record_id=record_id, path=path, reason=str(error)))
            continue
        yield record
