"""Open-QA: a free-text answer per dimension naming the findings, hedged by likelihood."""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.questions.findings import findings, hedge
from heartcare.agent.templates import choose, fill, template_bank
from heartcare.agent.vocabulary import NORMAL_PHRASES, describe_code, misc_facts

MISC_NAMES = {
    "axis": "Electrical axis",
    "rate": "Heart rate",
    "noise": "Signal quality",
    "infarct_stage": "Infarct stage",
    "ectopy": "Ectopy",
}
OPENINGS = {
    "diagnosis": "Diagnostically, the ECG is",
    "waveform": "The waveform is",
    "rhythm": "The rhythm is",
}


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def open_answer(description: RecordDescription, dimension: str) -> tuple[str, list[str]]:
    """(answer text, codes it names). Every label of the dimension is named with its hedge."""
    if dimension == "misc":
        facts = misc_facts(description)
        sentences = [f"{MISC_NAMES[name]}: {facts[name][0]}." for name in sorted(facts)]
        return " ".join(sentences), []
    ranked = findings(description, dimension)
    if not ranked:
        return f"{OPENINGS[dimension]} unremarkable: {NORMAL_PHRASES[dimension]}.", []
    # One hedge per likelihood band ("consistent with A and B; possible C"), strongest first.
    bands: dict[str, list[str]] = {}
    for code, likelihood in ranked:
        bands.setdefault(hedge(likelihood), []).append(describe_code(code))
    phrases = [
        f"{_join(names)} cannot be excluded" if word == "cannot exclude" else f"{word} {_join(names)}"
        for word, names in bands.items()
    ]
    return f"{OPENINGS[dimension]} {'; '.join(phrases)}.", [code for code, _ in ranked]


def open_items(
    description: RecordDescription, rng: np.random.Generator, modalities: tuple[str, ...] = ("S", "I")
) -> list[QaItem]:
    bank = template_bank()
    items: list[QaItem] = []
    for dimension in ("diagnosis", "waveform", "rhythm", "misc"):
        answer, codes = open_answer(description, dimension)
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
