"""Closed-QA: four options `A: X; B: Y; C: Z; D: W`, one per dimension and modality.

Paper rules: age and sex in the question; the answer is the highest-likelihood label
at >= 60 (else the dimension's normal phrasing); distractors come from the same
category and never overlap a true label; the correct letter is uniformly distributed.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.questions.findings import closed_answer, distractor_pool
from heartcare.agent.templates import choose, fill, template_bank
from heartcare.agent.vocabulary import misc_facts

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
        id=item_id(description.record_id, "closed_qa", dimension, modality),
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


def closed_items(
    description: RecordDescription, rng: np.random.Generator, modalities: tuple[str, ...] = ("S", "I")
) -> list[QaItem]:
    """Closed-QA for diagnosis, waveform, rhythm and one Misc subtopic, per modality."""
    bank = template_bank()
    items: list[QaItem] = []
    for dimension in ("diagnosis", "waveform", "rhythm"):
        answer, code, likelihood = closed_answer(description, dimension)
        pool = distractor_pool(description, dimension, code)
        meta = {"answer_code": code, "likelihood": likelihood, "rule": "top>=60" if code else "normal"}
        for modality in modalities:
            topic = choose(rng, bank["topics"][dimension])
            item = _item(description, dimension, modality, topic, answer, pool, rng, meta)
            if item is not None:
                items.append(item)
    facts = misc_facts(description)
    if facts:
        subtopics = sorted(facts)
        subtopic = subtopics[int(rng.integers(len(subtopics)))]
        truth, offered = facts[subtopic]
        for modality in modalities:
            topic = choose(rng, bank["topics"][subtopic])
            meta = {"subtopic": subtopic, "answer_code": None}
            item = _item(description, "misc", modality, topic, truth, list(offered), rng, meta)
            if item is not None:
                items.append(item)
    return items
