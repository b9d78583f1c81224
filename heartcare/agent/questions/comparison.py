"""Comparison-QA over pairs of ECGs, in S-S, I-I and S-I forms.

Pairs are consecutive (same patient, later recording) or irrelevant (different
patients, same split). Three question kinds: same rhythm (yes/no), which has the
higher rate (first/second), which finding is new (4 options).

Balance is built in, not filtered afterwards: "same rhythm?" pairs are chosen per
class (`balanced_rhythm_pairs`), drawing from every same-patient pair (not only
successive ones) or extra irrelevant partners when the usual pairs lack a class,
so both answers survive whenever the split holds any pair of each; the letters of
"higher rate" and "new finding" answers are dealt in turn (`AnswerDealer`).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, stable_hash
from heartcare.agent.questions.closed import LETTERS, format_options
from heartcare.agent.questions.findings import closed_answer
from heartcare.agent.templates import choose, template_bank
from heartcare.agent.vocabulary import ANSWER_THRESHOLD, describe_code
from heartcare.sources.scp import statements

PAIR_MODALITIES = {"C-SS": ("S", "S"), "C-II": ("I", "I"), "C-SI": ("S", "I")}
MIN_RATE_DIFFERENCE_BPM = 5.0  # closer rates are not a fair "which is faster" question
KINDS = ("same_rhythm", "higher_rate", "new_finding")
Pair = tuple[RecordDescription, RecordDescription]


class AnswerDealer:
    """Hands out answer positions in turn per (relation, kind, modality): exact balance.

    Pairs are visited in a fixed order, so the dealt positions (and the output) are
    the same on every run.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = defaultdict(int)

    def next(self, options: int, *key: str) -> int:
        position = self.counts[key] % options
        self.counts[key] += 1
        return position


def _by_patient(descriptions: list[RecordDescription]) -> dict[str, list[RecordDescription]]:
    by_patient: dict[str, list[RecordDescription]] = defaultdict(list)
    for description in descriptions:
        by_patient[description.patient_id].append(description)
    return {patient: sorted(records, key=lambda d: (d.date or "", d.record_id)) for patient, records in sorted(by_patient.items())}


def consecutive_pairs(descriptions: list[RecordDescription]) -> list[Pair]:
    """Successive recordings of each patient, ordered by (date, record id)."""
    pairs: list[Pair] = []
    for records in _by_patient(descriptions).values():
        pairs.extend(zip(records[:-1], records[1:], strict=True))
    return pairs


def same_patient_pairs(descriptions: list[RecordDescription]) -> list[Pair]:
    """Every (earlier, later) pair of one patient's recordings: the reserve for balancing."""
    pairs: list[Pair] = []
    for records in _by_patient(descriptions).values():
        pairs.extend((records[i], records[j]) for i in range(len(records)) for j in range(i + 1, len(records)))
    return pairs


def _rhythm(description: RecordDescription) -> str:
    return _rhythm_of_labels(tuple(sorted(description.labels.items())))


@lru_cache(maxsize=4096)
def _rhythm_of_labels(labels: tuple[tuple[str, float], ...]) -> str:
    """The closed rhythm answer depends on the labels only; pairs ask it ~10 times per record."""
    return closed_answer(RecordDescription(record_id="", patient_id="", labels=dict(labels)), "rhythm")[0]


def irrelevant_pairs(
    descriptions: list[RecordDescription], seed: int, per_record: float = 1.0, both: bool = False
) -> list[Pair]:
    """For a share of records, a partner from another patient.

    Half the partners are drawn with the same rhythm answer and half with a different
    one (a coin flip per record); `both=True` draws one of each per record instead
    (the reserve `balanced_rhythm_pairs` takes a short class from).
    """
    rhythm_of = [_rhythm(d) for d in descriptions]
    by_rhythm: dict[str, list[int]] = defaultdict(list)
    for index, rhythm in enumerate(rhythm_of):
        by_rhythm[rhythm].append(index)
    # "any other rhythm" lists built once per rhythm, not once per record (O(n) not O(n^2))
    others = {rhythm: [i for other, group in sorted(by_rhythm.items()) if other != rhythm for i in group] for rhythm in by_rhythm}
    pairs: list[Pair] = []
    for index, description in enumerate(descriptions):
        rng = np.random.default_rng([seed, stable_hash(description.record_id, "irrelevant")])
        if rng.random() >= per_record or len(descriptions) < 2:
            continue
        want_same = bool(rng.integers(2))
        wanted = (True, False) if both else (want_same,)
        for same in wanted:
            candidates = by_rhythm[rhythm_of[index]] if same else others[rhythm_of[index]]
            for _ in range(8):  # a few tries to find another patient in the wanted group
                if not candidates:
                    break
                partner = descriptions[candidates[int(rng.integers(len(candidates)))]]
                if partner.patient_id != description.patient_id:
                    pairs.append((description, partner))
                    break
    return pairs


def balanced_rhythm_pairs(primary: list[Pair], reserve: list[Pair], seed: int, relation: str) -> list[Pair]:
    """Pairs for "same rhythm?" with as many "Yes" as "No" answers.

    Each class takes its `primary` pairs first, then `reserve` pairs (both ranked by a
    hash, so the choice does not depend on list order) up to the larger primary
    class, and both classes are cut to the same size. A class is empty only when
    neither list holds a pair of it.
    """
    def ranked(pairs: list[Pair]) -> list[Pair]:
        return sorted(pairs, key=lambda pair: stable_hash(seed, relation, pair[0].record_id, pair[1].record_id))

    def key(pair: Pair) -> tuple[str, str]:
        return (pair[0].record_id, pair[1].record_id)

    classes: dict[bool, list[Pair]] = {True: [], False: []}
    for same in (True, False):
        seen: set[tuple[str, str]] = set()
        for pair in ranked(primary) + ranked(reserve):
            if (_rhythm(pair[0]) == _rhythm(pair[1])) == same and key(pair) not in seen:
                seen.add(key(pair))
                classes[same].append(pair)
    primary_size = max(sum((_rhythm(a) == _rhythm(b)) == same for a, b in primary) for same in (True, False)) if primary else 0
    size = min(len(classes[True]), len(classes[False]), max(primary_size, 1))
    chosen = classes[True][:size] + classes[False][:size]
    return sorted(chosen, key=key)


def comparison_set(
    descriptions: list[RecordDescription], seed: int, per_record: float = 1.0,
    modalities: tuple[str, ...] = ("C-SS", "C-II", "C-SI"),
) -> list[QaItem]:
    """Every comparison item of one split, balanced per relation, kind and modality."""
    consecutive = consecutive_pairs(descriptions)
    irrelevant = irrelevant_pairs(descriptions, seed, per_record)
    plans = (
        ("consecutive", consecutive, same_patient_pairs(descriptions)),
        ("irrelevant", irrelevant, irrelevant_pairs(descriptions, seed + 1, per_record, both=True)),
    )
    dealer = AnswerDealer()
    items: list[QaItem] = []
    for relation, pairs, reserve in plans:
        for first, second in pairs:
            rng = np.random.default_rng([seed, stable_hash("pair", relation, first.record_id, second.record_id)])
            items.extend(comparison_items(first, second, relation, rng, modalities, ("higher_rate", "new_finding"), dealer))
        for first, second in balanced_rhythm_pairs(pairs, reserve, seed, relation):
            rng = np.random.default_rng([seed, stable_hash("same_rhythm", relation, first.record_id, second.record_id)])
            items.extend(comparison_items(first, second, relation, rng, modalities, ("same_rhythm",), dealer))
    return items


def _rate(description: RecordDescription) -> float | None:
    value = description.measurements.get("hr_bpm")
    return None if value is None else float(value)


def _strong_codes(description: RecordDescription) -> set[str]:
    return {code for code, value in description.certain_labels().items() if value >= ANSWER_THRESHOLD}


def comparison_items(
    first: RecordDescription,
    second: RecordDescription,
    relation: str,
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("C-SS", "C-II", "C-SI"),
    kinds: tuple[str, ...] = KINDS,
    dealer: AnswerDealer | None = None,
) -> list[QaItem]:
    """Items of `kinds` for one pair; `relation` is "consecutive" or "irrelevant".

    dealer: deals the answer letters of "higher rate" / "new finding" in turn (exact
    balance over a set); without one they are drawn from `rng` (uniform on average).
    """
    bank = template_bank()["comparison_qa"]
    items: list[QaItem] = []

    def position(options: int, kind: str, modality: str) -> int:
        return dealer.next(options, relation, kind, modality) if dealer else int(rng.integers(options))

    def add(kind: str, modality: str, pair, question: str, answer: str, choices=(), index=-1, meta=None):
        left, right = PAIR_MODALITIES[modality]
        items.append(
            QaItem(
                id=item_id(first.record_id, second.record_id, pair[0].record_id, kind, modality),
                task="comparison_qa",
                dimension="rhythm" if kind != "new_finding" else "diagnosis",
                modality=modality,  # type: ignore[arg-type]
                question=question,
                answer=answer,
                choices=tuple(choices),
                answer_index=index,
                ecgs=((pair[0].record_id, left), (pair[1].record_id, right)),
                meta={"relation": relation, "kind": kind, **(meta or {})},
            )
        )

    names = {"first": "ECG 1", "second": "ECG 2"}
    if "same_rhythm" in kinds:
        same = _rhythm(first) == _rhythm(second)
        for modality in modalities:
            question = choose(rng, bank["same_rhythm"]).format(**names)
            add("same_rhythm", modality, (first, second), question, "Yes" if same else "No", ("Yes", "No"), 0 if same else 1)

    rates = (_rate(first), _rate(second))
    if "higher_rate" in kinds and None not in rates and abs(rates[0] - rates[1]) >= MIN_RATE_DIFFERENCE_BPM:  # type: ignore[operator]
        for modality in modalities:
            faster = position(2, "higher_rate", modality)
            # order the pair so the faster ECG sits at the dealt position
            pair = (first, second) if (rates[0] > rates[1]) == (faster == 0) else (second, first)  # type: ignore[operator]
            choices = ["the first ECG", "the second ECG"]
            question = f"{choose(rng, bank['higher_rate']).format(**names)} Options: A: {choices[0]}; B: {choices[1]}."
            add("higher_rate", modality, pair, question, f"{LETTERS[faster]}: {choices[faster]}", choices, faster)

    new = sorted(_strong_codes(second) - set(first.labels))
    if "new_finding" in kinds and new:
        known = set(first.labels) | set(second.labels)
        pool = list(dict.fromkeys(describe_code(code) for code in statements() if code not in known and code != "NORM"))
        for modality in modalities:
            code = new[int(rng.integers(len(new)))]
            answer = describe_code(code)
            distractors = [text for text in pool if text != answer]
            if len(distractors) < 3:
                continue
            options = [distractors[int(i)] for i in rng.choice(len(distractors), size=3, replace=False)]
            answer_position = position(4, "new_finding", modality)
            options.insert(answer_position, answer)
            question = f"{choose(rng, bank['new_finding']).format(**names)} Options: {format_options(options)}."
            add("new_finding", modality, (first, second), question, f"{LETTERS[answer_position]}: {answer}",
                options, answer_position, {"answer_code": code})
    return items
