"""The mismatched-ECG control: the same items, each shown another item's ECG(s).

A model that reads the ECG falls towards the floors when every item carries the wrong
recording; one that answers from the question alone scores the same. The gap between a
model's score and its score here is how much of it comes from the ECG (the floors say what
the question text alone gives; this says what this very model takes from the ECG).

Within a task, items with the same ECG layout (how many ECGs, in which modalities) are put
in a seeded order and each takes the ECGs of the next item in that order that shares none
of its records; questions, options and answers stay. An item left without such a partner
(a layout group of one, or every other item on the same records) keeps its own ECGs and is
counted, never silently passed off as mismatched.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from heartcare.agent.description import stable_hash
from heartcare.bench.items import BenchItem

CONTROL = "mismatched ECGs"
CONTROL_PREDICTIONS = "predictions-control.jsonl"  # the control's per-item records in a run folder


def _records(item: BenchItem) -> set[str]:
    return {ref.record_id for ref in item.ecgs}


def mismatched_items(chosen: dict[str, list[BenchItem]], seed: int
                     ) -> tuple[dict[str, list[BenchItem]], int, dict[str, BenchItem]]:
    """(task -> items with another item's ECGs, in the same order; items that kept their own ECGs;
    item id -> the item whose ECGs it now carries)."""
    mismatched: dict[str, list[BenchItem]] = {}
    donors: dict[str, BenchItem] = {}
    kept_own = 0
    for task, items in chosen.items():
        groups: dict[tuple[str, ...], list[BenchItem]] = defaultdict(list)
        for item in items:
            if item.ecgs:
                groups[tuple(ref.modality for ref in item.ecgs)].append(item)
        partner: dict[str, BenchItem] = {}
        for members in groups.values():
            ordered = sorted(members, key=lambda item: stable_hash(seed, "mismatch", item.id))
            for index, item in enumerate(ordered):
                own = _records(item)
                for step in range(1, len(ordered)):
                    candidate = ordered[(index + step) % len(ordered)]
                    if not own & _records(candidate):
                        partner[item.id] = candidate
                        break
        swapped = []
        for item in items:
            if item.ecgs and item.id not in partner:
                kept_own += 1
            swapped.append(dataclasses.replace(item, ecgs=partner[item.id].ecgs) if item.id in partner else item)
        mismatched[task] = swapped
        donors.update(partner)
    return mismatched, kept_own, donors
