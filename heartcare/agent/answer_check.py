"""An independent answer checker: every multiple-choice answer re-derived from records.parquet.

For each closed and comparison item the correct option must be true of the record(s)
and every distractor false, judged from the records' own labels, measurements and
PTB-XL columns under the concept hierarchy (`heartcare.agent.hierarchy`). The item's
meta "excluded" list, which the builder wrote, is deliberately not used: a builder bug
would pass its own list. Options whose wording the checker does not know are counted
as unchecked, never as correct.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

HEDGES = ("consistent with ", "likely ", "probable ", "possible ")
MAX_EXAMPLES = 10


class Item(NamedTuple):
    """The fields of a qa row the checker reads (light: a PTB-XL build has ~300k of them)."""

    id: str
    task: str
    dimension: str
    choices: tuple[str, ...]
    answer_index: int
    ecgs: tuple[str, ...]  # record ids, in the item's order
    meta: dict[str, Any]


def items_from_table(table) -> list[Item]:
    """Multiple-choice rows of a qa table as `Item`s."""
    columns = table.select(["id", "task", "dimension", "choices", "answer_index", "ecgs", "meta"]).to_pydict()
    return [
        Item(id, task, dimension, tuple(choices), int(index), tuple(ecg["record_id"] for ecg in ecgs), json.loads(meta or "{}"))
        for id, task, dimension, choices, index, ecgs, meta in zip(*columns.values(), strict=True)
        if choices and 0 <= index < len(choices)
    ]


@dataclass(frozen=True)
class Truth:
    """What is known of one record: stated codes, implied codes, texts a distractor must not be."""

    codes: frozenset[str]
    implied: frozenset[str]
    excluded: frozenset[str]  # hierarchy.excluded_texts: true, implied or compatible option texts
    row: dict[str, Any]


@cache
def _texts_to_codes() -> dict[str, frozenset[str]]:
    from heartcare.sources.scp import statements

    mapping: dict[str, set[str]] = {}
    for code, statement in statements().items():
        mapping.setdefault(statement.description.lower(), set()).add(code)
    return {text: frozenset(codes) for text, codes in mapping.items()}


def _normal_phrases() -> set[str]:
    from heartcare.agent.vocabulary import NORMAL_PHRASES

    return {text.lower() for text in NORMAL_PHRASES.values()}


def _plain(text: str) -> str:
    """Option text without a hedging prefix ("possible X" is judged as X)."""
    lowered = text.strip().lower()
    for hedge in HEDGES:
        if lowered.startswith(hedge):
            return lowered[len(hedge):]
    return lowered


def finding_true(text: str, truth: Truth) -> bool | None:
    """Whether a diagnosis/waveform/rhythm option is true of the record (None: unknown wording)."""
    plain = _plain(text)
    if plain in _normal_phrases():
        return text in truth.excluded or plain in {t.lower() for t in truth.excluded}
    codes = _texts_to_codes().get(plain)
    return None if codes is None else bool(codes & truth.implied)


def finding_possible(text: str, truth: Truth) -> bool | None:
    """Whether an option is true, implied or compatible (so it may not be a distractor)."""
    plain = _plain(text)
    if text in truth.excluded or plain in {t.lower() for t in truth.excluded}:
        return True
    if plain not in _normal_phrases() and plain not in _texts_to_codes():
        return None
    return bool(_texts_to_codes().get(plain, frozenset()) & truth.implied)


def _misc_predicates(kind: str, truth: Truth) -> dict[str, bool] | None:
    """Option text -> truth for a misc kind, from measurements and PTB-XL columns (None: no value)."""
    from heartcare.agent import vocabulary as v

    measurements = json.loads(truth.row.get("measurements") or "{}")
    if kind == "misc:axis" and measurements.get("axis_deg") is not None:
        a = float(measurements["axis_deg"])
        return dict(zip(v.AXIS_CLASSES, (-30 <= a <= 90, -90 <= a < -30, 90 < a <= 180, a < -90 or a > 180), strict=True))
    if kind == "misc:rate" and measurements.get("hr_bpm") is not None:
        r = float(measurements["hr_bpm"])
        return dict(zip(v.RATE_BANDS, (r < 50, 50 <= r < 60, 60 <= r <= 100, r > 100), strict=True))
    if kind == "misc:noise":
        noise = set(truth.row.get("noise") or ())
        return {text: (flag in noise if flag != "none" else not noise) for flag, text in v.NOISE_CLASSES.items()}
    if kind == "misc:infarct_stage":
        stage = truth.row.get("infarct_stage")
        return {**{text: stage == key for key, text in v.INFARCT_STAGES.items()}, v.INFARCT_UNKNOWN: stage not in v.INFARCT_STAGES}
    if kind == "misc:ectopy":
        extra = (truth.row.get("extra_beats") or "").upper()
        present = {
            "PVC": "PVC" in truth.implied or "VES" in extra.replace("SVES", ""),
            "PAC": "PAC" in truth.implied or "SVES" in extra,
            "PACE": "PACE" in truth.implied or bool(truth.row.get("pacemaker")),
        }
        return {**{v.ECTOPY_CLASSES[key]: value for key, value in present.items()}, v.ECTOPY_CLASSES["none"]: not any(present.values())}
    return None


def _judge(item, true: Callable[[str], bool | None], possible: Callable[[str], bool | None]) -> list[str] | None:
    """Problems of one item: its answer must be true and no distractor possibly true (None: unknown wording)."""
    answer = item.choices[item.answer_index]
    verdicts = [(index, text, true(text) if index == item.answer_index else possible(text)) for index, text in enumerate(item.choices)]
    if any(verdict is None for _, _, verdict in verdicts):
        return None
    problems = [f"answer {answer!r} is not true of the ECG" for index, _, verdict in verdicts if index == item.answer_index and not verdict]
    return problems + [f"distractor {text!r} is true or compatible" for index, text, verdict in verdicts if index != item.answer_index and verdict]


def _check_single(item, truths: list[Truth]) -> list[str] | None:
    kind, truth = item.meta.get("kind") or "", truths[0]
    if kind.startswith("misc:") or item.meta.get("subtopic"):
        predicates = _misc_predicates(kind or f"misc:{item.meta['subtopic']}", truth)
        return None if predicates is None else _judge(item, predicates.get, predicates.get)
    return _judge(item, lambda text: finding_true(text, truth), lambda text: finding_possible(text, truth))


def _which(text: str) -> int | None:
    lowered = text.lower()
    return 0 if "first" in lowered else 1 if "second" in lowered else None


def _check_higher_rate(item, truths: list[Truth]) -> list[str] | None:
    rates = [json.loads(t.row.get("measurements") or "{}").get("hr_bpm") for t in truths]
    which = _which(item.choices[item.answer_index])
    if None in rates or which is None:
        return None
    return [] if rates[which] > rates[1 - which] else [f"answer {item.choices[item.answer_index]!r} but rates are {rates}"]


def _rhythms(truth: Truth) -> frozenset[str]:
    from heartcare.sources.scp import statements

    table = statements()
    return frozenset(code for code in truth.implied if code in table and "rhythm" in table[code].kinds) or frozenset({"SR"})


def _check_same_rhythm(item, truths: list[Truth]) -> list[str] | None:
    first, second = _rhythms(truths[0]), _rhythms(truths[1])
    answer = item.choices[item.answer_index].strip().lower()
    if answer == "yes" and not first & second:
        return [f"'Yes' but rhythms {sorted(first)} vs {sorted(second)}"]
    if answer == "no" and first == second:
        return [f"'No' but both rhythms are {sorted(first)}"]
    return [] if answer in ("yes", "no") else None


def _check_new_finding(item, truths: list[Truth]) -> list[str] | None:
    earlier, later = truths

    def new(text: str) -> bool | None:
        in_later, in_earlier = finding_true(text, later), finding_true(text, earlier)
        return None if in_later is None else bool(in_later and not in_earlier)

    def could_be_new(text: str) -> bool | None:
        possible = finding_possible(text, later)
        return None if possible is None else bool(possible and not finding_true(text, earlier))

    return _judge(item, new, could_be_new)


WHICH_SHOWS = ("first", "second", "both", "neither")


def _check_which_shows(item, truths: list[Truth]) -> list[str] | None:
    """"Which ECG shows X?": shown = implied by the labels; a "no" side must not even be compatible."""
    code = item.meta.get("finding")
    words = item.choices[item.answer_index].lower().split()
    chosen = next((name for name in WHICH_SHOWS if name in words), None)
    if not code or chosen is None:
        return None
    from heartcare.sources.scp import statements

    text = statements()[code].description if code in statements() else code
    shown = [code in truth.implied for truth in truths]
    possible = [finding_possible(text, truth) or shown[index] for index, truth in enumerate(truths)]
    expected = {"first": shown[0] and not possible[1], "second": shown[1] and not possible[0],
                "both": all(shown), "neither": not any(possible)}
    return [] if expected[chosen] else [f"answer {chosen!r} for {code} but shown={shown}, possible={possible}"]


COMPARISON_CHECKS: dict[str, Callable[[Any, list[Truth]], list[str] | None]] = {
    "higher_rate": _check_higher_rate,
    "same_rhythm": _check_same_rhythm,
    "new_finding": _check_new_finding,
    "which_shows": _check_which_shows,
}


def check_answers(items: list[Item], record_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Checker summary over multiple-choice items; `record_rows` are records.parquet rows."""
    try:
        from heartcare.agent import hierarchy
    except ImportError as error:
        return {"note": f"not run: {error}", "checked": 0, "violations": None, "unchecked": len(items),
                "unchecked_by_kind": {}, "by_kind": {}, "examples": []}
    rows = {row["record_id"]: row for row in record_rows}

    @cache
    def truth(record_id: str) -> Truth:
        row = rows[record_id]
        codes = frozenset(json.loads(row.get("labels") or "{}"))
        return Truth(codes, frozenset(hierarchy.implied(codes)), frozenset(hierarchy.excluded_texts(codes)), row)

    checked, unchecked, violations = Counter(), Counter(), Counter()
    examples: list[str] = []
    for item in items:
        kind = str(item.meta.get("kind") or item.meta.get("subtopic") or item.dimension)
        if item.meta.get("source") or any(record_id not in rows for record_id in item.ecgs):
            unchecked[kind] += 1
            continue
        truths = [truth(record_id) for record_id in item.ecgs]
        check = COMPARISON_CHECKS.get(kind) if item.task == "comparison_qa" else _check_single
        problems = check(item, truths) if check else None
        if problems is None:
            unchecked[kind] += 1
            continue
        checked[kind] += 1
        if problems:
            violations[kind] += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(f"{item.id} ({item.task} {kind}, {', '.join(item.ecgs)}): {'; '.join(problems)}")
    return {
        "note": "labels, measurements and PTB-XL columns under heartcare.agent.hierarchy",
        "checked": sum(checked.values()),
        "violations": sum(violations.values()),
        "unchecked": sum(unchecked.values()),
        "unchecked_by_kind": dict(sorted(unchecked.items())),
        "by_kind": {kind: {"checked": checked[kind], "violations": violations[kind]} for kind in sorted(checked)},
        "examples": examples,
    }
