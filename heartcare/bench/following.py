"""Does a model's answer follow the ECG it is shown?

Under the mismatched-ECG control an item carries a donor item's ECGs. Where the donor asked the
same thing (same question kind and finding) and its answer, the shown recording's own finding, is
one of this item's options but not its answer, a model that reads the ECG picks that option more
often than it does on the same item with its own ECG (where that option is a distractor). A score
gap against the control mixes this with chance hits; the pick itself does not: it separated a
model that follows the recording from one that does not where the accuracy gap could not.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from heartcare.agent.description import stable_hash
from heartcare.bench.bootstrap import paired_difference
from heartcare.bench.items import BenchItem


def question_key(item: BenchItem) -> tuple[Any, Any]:
    """What an item asks, apart from its wording: the builder's kind and, for 'which shows X', the finding X."""
    return item.meta.get("kind"), item.meta.get("finding")


def shown_answer(item: BenchItem, donor: BenchItem) -> str | None:
    """The letter of `item`'s option that is the donor's answer, when the donor asked the same thing and
    that option is wrong for `item`; None when the shown ECG says nothing about this item's options."""
    if not (item.is_multiple_choice and donor.is_multiple_choice) or item.meta.get("kind") is None:
        return None
    if question_key(item) != question_key(donor) or donor.answer_text not in item.choices:
        return None
    index = item.choices.index(donor.answer_text)
    return None if index == item.answer_index else item.letters[index]


def following(model_records: dict[str, dict[str, Any]], control_records: dict[str, dict[str, Any]],
              seed: int) -> dict[str, Any]:
    """task -> how often the control picks the shown ECG's answer ("with_shown_ecg") against how often the
    model picks that same option on the same item with its own ECG ("with_own_ecg"), paired per item
    (difference, bootstrap 95% interval, p, n), over the control records that name a `shown_answer`."""
    picks: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, control in control_records.items():
        letter, own = control.get("shown_answer"), model_records.get(key)
        if letter is None or own is None:
            continue
        picks[control["task"]].append((float(control.get("parsed") == letter), float(own.get("parsed") == letter)))
    result: dict[str, Any] = {}
    for task, pairs in sorted(picks.items()):
        shown, own = (np.array(column) for column in zip(*pairs, strict=True))
        difference = paired_difference(shown, own, seed=stable_hash(seed, task, "follows") % 2**32)
        if difference is not None:
            result[task] = {"with_shown_ecg": float(shown.mean()), "with_own_ecg": float(own.mean()), **difference}
    return result


def following_lines(block: dict[str, Any]) -> list[str]:
    if not block:
        return ["follows the ECG shown: no item's shown ECG answers one of its options (or runs made before "
                "heartcare recorded the shown ECG's answer)"]
    lines = ["follows the ECG shown: picks the shown ECG's answer (a wrong option for the item) under the control, "
             "against the same option with the item's own ECG",
             f"{'task':28} {'shown':>9} {'own':>9} {'shown-own':>10} {'95% CI':>22} {'p':>6} {'n':>6}"]
    for task, entry in block.items():
        low, high = entry["ci"]
        lines.append(f"{task:28} {entry['with_shown_ecg']:9.4f} {entry['with_own_ecg']:9.4f} {entry['difference']:+10.4f} "
                     f"[{low:+9.4f}, {high:+9.4f}] {entry['p_value']:6.3f} {entry['n']:6d}")
    return lines
