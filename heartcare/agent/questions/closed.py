"""Closed-QA: four options `A: X; B: Y; C: Z; D: W`, one per dimension and modality.

Paper rules: age and sex in the question; the correct letter is uniformly distributed.
Issue 18: the answer is the record's `Reading` for the dimension (its strongest
finding, or the normal phrasing where the findings make the dimension normal; no item
where neither is derivable); answer and distractors come from one vocabulary per kind,
and a distractor is never true, implied or compatible (meta "excluded"). Balancing
answers and distractor frequencies across records is `balance.py`'s job.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.reading import reading_of
from heartcare.agent.templates import choose, fill, template_bank
from heartcare.agent.vocabulary import answer_vocabulary

LETTERS = ("A", "B", "C", "D")


def format_options(options: list[str]) -> str:
    """['X', 'Y', 'Z', 'W'] -> 'A: X; B: Y; C: Z; D: W' (the paper's option format)."""
    return "; ".join(f"{letter}: {text}" for letter, text in zip(LETTERS, options, strict=True))


def arrange(answer: str, pool: list[str], rng: np.random.Generator) -> tuple[list[str], int] | None:
    """Three distractors from `pool` plus the answer at a uniformly drawn letter."""
    pool = [text for text in dict.fromkeys(pool) if text != answer]
    if len(pool) < 3:
        return None
    picks = rng.choice(len(pool), size=3, replace=False)
    options = [pool[int(index)] for index in picks]
    position = int(rng.integers(4))
    options.insert(position, answer)
    return options, position


def _item(
    description: RecordDescription,
    dimension: str,
    modality: str,
    topic: str,
    answer: str,
    pool: list[str],
    rng: np.random.Generator,
    meta: dict,
    key: str = "",
) -> QaItem | None:
    arranged = arrange(answer, pool, rng)
    if arranged is None:
        return None
    options, position = arranged
    bank = template_bank()
    question = fill(
        choose(rng, bank["closed_qa"]),
        patient=patient_phrase(description),
        source=choose(rng, bank["source_nouns"][modality]),
        topic=topic,
    )
    return QaItem(
        id=item_id(description.record_id, "closed_qa", dimension, *((key,) if key else ()), modality),
        task="closed_qa",
        dimension=dimension,  # type: ignore[arg-type]
        modality=modality,  # type: ignore[arg-type]
        question=f"{question} Options: {format_options(options)}.",
        choices=tuple(options),
        answer=f"{LETTERS[position]}: {answer}",
        answer_index=position,
        ecgs=((description.record_id, modality),),
        meta=meta,
    )


def _excluded_and_pool(kind: str, answer: str, excluded: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(excluded texts of the kind's vocabulary, answer first; the distractor pool)."""
    vocabulary = answer_vocabulary(kind)
    barred = {answer, *excluded}
    kept = [answer, *(text for text in vocabulary if text in barred and text != answer)]
    return kept, [text for text in vocabulary if text not in barred]


def _further_waveform_items(
    description: RecordDescription, findings, excluded_texts: tuple[str, ...], modalities: tuple[str, ...],
    rng: np.random.Generator,
) -> list[QaItem]:
    """"Which waveform finding does the ECG show?" once more per further form finding.

    Form statements are few per record and "no significant abnormality" dominates, so the
    balancer would keep few waveform items; asking for each true finding (the others stay
    excluded from the distractors) gives the rarer statements enough items to balance.
    """
    bank = template_bank()
    items = []
    for finding in findings:
        excluded, pool = _excluded_and_pool("waveform", finding.text, excluded_texts)
        meta = {"kind": "waveform", "excluded": excluded, "answer_code": finding.code, "likelihood": finding.likelihood}
        for modality in modalities:
            topic = choose(rng, bank["topics"]["waveform_any"])
            item = _item(description, "waveform", modality, topic, finding.text, pool, rng, meta, key=finding.code)
            if item is not None:
                items.append(item)
    return items


def closed_items(
    description: RecordDescription, rng: np.random.Generator, modalities: tuple[str, ...] = ("S", "I")
) -> list[QaItem]:
    """Closed-QA for diagnosis, waveform, rhythm and every Misc subtopic the record informs, per modality.

    Every misc subtopic gets its item (not one drawn at random) so that the split-level
    balancer has enough records of each rare class (stage I infarcts, extreme axis, paced
    beats) to keep every class equally often in test.
    """
    bank = template_bank()
    reading = reading_of(description)
    items: list[QaItem] = []
    for dimension in ("diagnosis", "waveform", "rhythm"):
        state = reading.dimensions[dimension]
        answer = state.answer
        if answer is None:
            continue  # the labels neither name a finding nor make the dimension normal
        excluded, pool = _excluded_and_pool(dimension, answer, reading.excluded)
        meta = {
            "kind": dimension,
            "excluded": excluded,
            "answer_code": state.answer_code,
            "likelihood": state.answer_likelihood,
        }
        for modality in modalities:
            topic = choose(rng, bank["topics"][dimension])
            item = _item(description, dimension, modality, topic, answer, pool, rng, meta)
            if item is not None:
                items.append(item)
        if dimension == "waveform":
            items.extend(_further_waveform_items(description, state.findings[1:], reading.excluded, modalities, rng))
    for subtopic in sorted(reading.misc):
        fact = reading.misc[subtopic]
        kind = f"misc:{subtopic}"
        excluded, pool = _excluded_and_pool(kind, fact.answer, fact.excluded)
        meta = {"kind": kind, "subtopic": subtopic, "excluded": excluded, "answer_code": None}
        for modality in modalities:
            topic = choose(rng, bank["topics"][subtopic])
            item = _item(description, "misc", modality, topic, fact.answer, pool, rng, meta, key=subtopic)
            if item is not None:
                items.append(item)
    return items
