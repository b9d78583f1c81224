"""Open-QA: a free-text answer per dimension naming the record's findings, hedged by likelihood.

Answers come from the record's `Reading` (the same findings as its closed items and
report); a dimension the labels say nothing about gets no item rather than a guess.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.questions.findings import finding_clauses
from heartcare.agent.reading import Reading, reading_of
from heartcare.agent.templates import choose, fill, template_bank

MISC_NAMES = {
    "axis": "Electrical axis",
    "rate": "Heart rate",
    "noise": "Signal quality",
    "infarct_stage": "Infarct stage",
    "ectopy": "Ectopy",
}
LEAD_INS = {
    "diagnosis": "Diagnostically",
    "waveform": "On waveform analysis",
    "rhythm": "As for the rhythm",
}
NORMAL_SENTENCES = {"waveform": "On waveform analysis, there is no significant waveform abnormality."}
UNDERIVED = "{lead_in}, the labels of this ECG give no statement."


def dimension_sentence(reading: Reading, dimension: str) -> tuple[str | None, list[str]]:
    """(sentence or None when the dimension is not derivable, codes it names)."""
    state = reading.dimensions[dimension]
    signs = (reading.wide_qrs,) if dimension == "waveform" and reading.wide_qrs else ()
    if not state.findings and not signs:
        return (NORMAL_SENTENCES.get(dimension), []) if state.normal else (None, [])
    ranked = [(finding.code, finding.likelihood, finding.plain) for finding in state.findings]
    text = finding_clauses(ranked, signs)
    return f"{LEAD_INS[dimension]}, {text}.", state.codes


def open_answer(description: RecordDescription, dimension: str) -> tuple[str, list[str]]:
    """(answer text, codes it names); a dimension the labels leave open gets a neutral sentence."""
    reading = reading_of(description)
    if dimension == "misc":
        sentences = [f"{MISC_NAMES[name]}: {fact.answer}." for name, fact in sorted(reading.misc.items())]
        return " ".join(sentences), []
    text, codes = dimension_sentence(reading, dimension)
    return (text or UNDERIVED.format(lead_in=LEAD_INS[dimension])), codes


def open_items(
    description: RecordDescription, rng: np.random.Generator, modalities: tuple[str, ...] = ("S", "I")
) -> list[QaItem]:
    bank = template_bank()
    reading = reading_of(description)
    items: list[QaItem] = []
    for dimension in ("diagnosis", "waveform", "rhythm", "misc"):
        if dimension == "misc":
            answer, codes = open_answer(description, dimension)
        else:
            sentence, codes = dimension_sentence(reading, dimension)
            if sentence is None:
                continue  # nothing the labels support: no item rather than an invented answer
            answer = sentence
        if not answer:
            continue
        for modality in modalities:
            question = fill(
                choose(rng, bank["open_qa"]),
                patient=patient_phrase(description),
                source=choose(rng, bank["source_nouns"][modality]),
                topic_open=choose(rng, bank["open_topics"][dimension]),
            )
            items.append(
                QaItem(
                    id=item_id(description.record_id, "open_qa", dimension, modality),
                    task="open_qa",
                    dimension=dimension,  # type: ignore[arg-type]
                    modality=modality,  # type: ignore[arg-type]
                    question=question,
                    answer=answer,
                    ecgs=((description.record_id, modality),),
                    meta={"codes": codes},
                )
            )
    return items
