"""Comparison-QA over pairs of ECGs, in S-S, I-I and S-I forms.

Pairs are consecutive (same patient, successive recordings) or irrelevant
(different patients, same split). Three question kinds: same rhythm (yes/no),
which has the higher rate (first/second), which finding is new (4 options). Yes/no
answers are balanced by choosing irrelevant partners; first/second by a coin flip
on the pair order.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, stable_hash
from heartcare.agent.questions.closed import LETTERS, arrange, format_options
from heartcare.agent.questions.findings import closed_answer
from heartcare.agent.templates import choose, template_bank
from heartcare.agent.vocabulary import ANSWER_THRESHOLD, describe_code
from heartcare.sources.scp import statements

PAIR_MODALITIES = {"C-SS": ("S", "S"), "C-II": ("I", "I"), "C-SI": ("S", "I")}
MIN_RATE_DIFFERENCE_BPM = 5.0  # closer rates are not a fair "which is faster" question


def consecutive_pairs(descriptions: list[RecordDescription]) -> list[tuple[RecordDescription, RecordDescription]]:
    """Successive recordings of each patient, ordered by (date, record id)."""
    by_patient: dict[str, list[RecordDescription]] = defaultdict(list)
    for description in descriptions:
        by_patient[description.patient_id].append(description)
    pairs = []
    for patient in sorted(by_patient):
        records = sorted(by_patient[patient], key=lambda d: (d.date or "", d.record_id))
        pairs.extend(zip(records[:-1], records[1:], strict=True))
    return pairs


def irrelevant_pairs(
    descriptions: list[RecordDescription], seed: int, per_record: float = 1.0
) -> list[tuple[RecordDescription, RecordDescription]]:
    """For a share of records, a partner from another patient.

    Half the partners are drawn with the same rhythm answer and half with a different
    one, so "same rhythm?" is balanced yes/no instead of mostly "no".
    """
    rhythm_of = [closed_answer(d, "rhythm")[0] for d in descriptions]
    by_rhythm: dict[str, list[int]] = defaultdict(list)
    for index, rhythm in enumerate(rhythm_of):
        by_rhythm[rhythm].append(index)
    pairs = []
    for index, description in enumerate(descriptions):
        rng = np.random.default_rng([seed, stable_hash(description.record_id, "irrelevant")])
        if rng.random() >= per_record or len(descriptions) < 2:
            continue
        want_same = bool(rng.integers(2))
        if want_same:
            candidates = by_rhythm[rhythm_of[index]]
        else:
            candidates = [i for rhythm, group in sorted(by_rhythm.items()) if rhythm != rhythm_of[index] for i in group]
        for _ in range(8):  # a few tries to find another patient in the wanted group
            if not candidates:
                break
            partner = descriptions[candidates[int(rng.integers(len(candidates)))]]
            if partner.patient_id != description.patient_id:
                pairs.append((description, partner))
                break
    return pairs


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
) -> list[QaItem]:
    """Items for one pair; `relation` is "consecutive" or "irrelevant"."""
    bank = template_bank()["comparison_qa"]
    items: list[QaItem] = []

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
    same = closed_answer(first, "rhythm")[0] == closed_answer(second, "rhythm")[0]
    for modality in modalities:
        question = choose(rng, bank["same_rhythm"]).format(**names)
        answer = "Yes" if same else "No"
        add("same_rhythm", modality, (first, second), question, answer, ("Yes", "No"), 0 if same else 1)

    rates = (_rate(first), _rate(second))
    if None not in rates and abs(rates[0] - rates[1]) >= MIN_RATE_DIFFERENCE_BPM:  # type: ignore[operator]
        for modality in modalities:
            # A coin flip on the order balances "first" against "second".
            pair = (first, second) if rng.integers(2) else (second, first)
            faster = 0 if _rate(pair[0]) > _rate(pair[1]) else 1  # type: ignore[operator]
            choices = ["the first ECG", "the second ECG"]
            question = f"{choose(rng, bank['higher_rate']).format(**names)} Options: A: {choices[0]}; B: {choices[1]}."
            add("higher_rate", modality, pair, question, f"{LETTERS[faster]}: {choices[faster]}", choices, faster)

    new = sorted(_strong_codes(second) - set(first.labels))
    if new:
        known = set(first.labels) | set(second.labels)
        pool = [describe_code(code) for code in statements() if code not in known and code != "NORM"]
        for modality in modalities:
            code = new[int(rng.integers(len(new)))]
            arranged = arrange(describe_code(code), pool, rng)
            if arranged is None:
                continue
            options, position = arranged
            question = f"{choose(rng, bank['new_finding']).format(**names)} Options: {format_options(options)}."
            add("new_finding", modality, (first, second), question, f"{LETTERS[position]}: {options[position]}",
                options, position, {"answer_code": code})
    return items


def balance_yes_no(items: list[QaItem], seed: int) -> list[QaItem]:
    """Drop surplus "same rhythm" items of the majority answer, per relation.

    Consecutive pairs of one patient mostly keep their rhythm, so without this a
    model could score well by always answering "Yes". Which items go is decided by a
    hash of their id, so the result does not depend on item order.
    """
    kept: list[QaItem] = []
    groups: dict[tuple[str, str], list[QaItem]] = defaultdict(list)
    for item in items:
        if item.meta.get("kind") == "same_rhythm":
            groups[(item.meta["relation"], item.answer)].append(item)
        else:
            kept.append(item)
    for relation in sorted({relation for relation, _ in groups}):
        yes, no = groups.get((relation, "Yes"), []), groups.get((relation, "No"), [])
        limit = min(len(yes), len(no))
        for group in (yes, no):
            ranked = sorted(group, key=lambda item: stable_hash(seed, item.id))
            kept.extend(ranked[:limit])
    return kept
