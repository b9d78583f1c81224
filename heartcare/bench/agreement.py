"""`heartcare bench agreement RUN_A RUN_B`: how often A picks B's option, and who is right where they part.

Made for a model and the readers it was given (`heartcare-gpt:CKPT` against `findings:CKPT`): a model
that copies its readers perfectly scores exactly what they score, so the agreement per task says how
much of a gap is the readers' and how much is lost in copying. Where the two part, the table counts
the items only A gets right, only B gets right and neither, and an exact two-sided McNemar test says
whether A's departures help or hurt beyond chance (the same parsed option is agreement, an answer
only one run could parse a departure, and two unparsed answers agree).

Both runs must have scored the same dataset split (the same check as `bench compare`); only
multiple-choice items both runs answered are counted (an item not applicable to either is left out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path
from typing import Any

from heartcare.bench.compare import item_scores, same_items
from heartcare.errors import ConfigError


@dataclass(frozen=True)
class TaskAgreement:
    task: str
    items: int
    same_option: int  # both parsed the same option (both unparsed counts too: neither gave one)
    only_a_right: int
    only_b_right: int
    both_wrong_apart: int  # they part and neither is right

    @property
    def agreement(self) -> float:
        return self.same_option / self.items if self.items else float("nan")

    @property
    def departures(self) -> int:
        return self.items - self.same_option

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.only_a_right, self.only_b_right)


def mcnemar_exact(first: int, second: int) -> float:
    """Two-sided exact McNemar p: the chance of a split of first + second discordant items at least this
    uneven if each were equally likely to fall either way (binomial, p = 1/2)."""
    total = first + second
    if total == 0:
        return 1.0
    tail = sum(comb(total, count) for count in range(min(first, second) + 1)) / 2**total
    return min(1.0, 2 * tail)


def _option(record: dict[str, Any]) -> str | None:
    parsed = record.get("parsed")
    return parsed if isinstance(parsed, str) and parsed else None


def task_agreement(task: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> TaskAgreement:
    same = only_a = only_b = neither = 0
    for first, second in pairs:
        if _option(first) == _option(second):
            same += 1
            continue
        right_a, right_b = bool(first.get("correct")), bool(second.get("correct"))
        only_a += right_a and not right_b
        only_b += right_b and not right_a
        neither += not right_a and not right_b
    return TaskAgreement(task, len(pairs), same, only_a, only_b, neither)


def agreement(first: Path, second: Path) -> dict[str, Any]:
    results = same_items(first, second)
    records = item_scores(first), item_scores(second)
    by_task: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for key in sorted(records[0]):
        if key not in records[1]:
            continue
        pair = records[0][key], records[1][key]
        if not all("parsed" in record and "not_applicable" not in record for record in pair):
            continue  # not a multiple-choice item, or one the model could not be asked
        if pair[0]["task"] != pair[1]["task"]:
            raise ConfigError(second, f"item {key} is task {pair[1]['task']} here but {pair[0]['task']} in {first}")
        by_task.setdefault(pair[0]["task"], []).append(pair)
    tasks = [task_agreement(task, pairs) for task, pairs in sorted(by_task.items())]
    total = task_agreement("all", [pair for pairs in by_task.values() for pair in pairs])
    return {"a": results[0]["model"], "b": results[1]["model"], "split": results[0]["split"],
            "tasks": [dict(asdict(entry), agreement=entry.agreement, departures=entry.departures, p_value=entry.p_value) for entry in [*tasks, total]]}


def agreement_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"A = {report['a']}    B = {report['b']}    split {report['split']}",
             f"{'task':28} {'n':>5} {'A = B':>7} {'apart':>6} {'A right':>8} {'B right':>8} {'neither':>8} {'p':>6}"]
    for entry in report["tasks"]:
        share = f"{100 * entry['agreement']:6.1f}%" if entry["items"] else "     -"
        lines.append(f"{entry['task']:28} {entry['items']:5d} {share} {entry['departures']:6d} "
                     f"{entry['only_a_right']:8d} {entry['only_b_right']:8d} {entry['both_wrong_apart']:8d} {entry['p_value']:6.3f}")
    lines.append("A = B: the same option parsed; where apart, who is right (p: exact McNemar, A right vs B right).")
    return lines
