"""Different-patient ("irrelevant") comparison questions, one partner drawn per anchor and kind.

The partners are ours to choose, so instead of filtering pairs afterwards each
question kind deals its answer classes in turn (yes/no; first/second; first / second /
both / neither) and draws, for the next anchor record, a partner of another patient
that gives the dealt class. A class no partner can give is retried by the next anchor,
so the classes stay balanced exactly. For "which shows X", the finding X is chosen so
that each finding is asked about with every class about equally often (the finding is
named in the question, so it must not hint at the answer).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from heartcare.agent.description import RecordDescription, stable_hash
from heartcare.agent.questions.pairs import (
    PairQuestion,
    PairReading,
    PartnerFinder,
    higher_rate_answer,
    same_rhythm_answer,
    shows_answer,
)

IRRELEVANT_KINDS = {"same_rhythm": 2, "higher_rate": 2, "which_shows": 4}  # kind -> answer classes
CODE_TRIES = 3
MAX_SURPLUS = 1.0  # items a class of one finding may run ahead of that finding's mean  # findings tried per anchor before the dealt class waits for the next anchor
Built = tuple[PairReading, PairReading, str | None]
Counts = dict[str, list[int]]  # finding -> items per class (first, second, both, neither)


def _ranked(codes: list[str], score: Callable[[str], float], rng: np.random.Generator) -> list[str]:
    """Codes by ascending score, random among equals."""
    jitter = rng.random(len(codes))
    return [codes[i] for i in sorted(range(len(codes)), key=lambda i: (score(codes[i]), jitter[i]))]


def _oriented(anchor: PairReading, partner: PairReading, rng: np.random.Generator) -> tuple[PairReading, PairReading]:
    return (anchor, partner) if rng.integers(2) == 0 else (partner, anchor)


def _same_rhythm(anchor: PairReading, wanted: int, finder: PartnerFinder, rng: np.random.Generator, *_) -> Built | None:
    if anchor.primary_rhythm is None:
        return None
    if wanted == 0:
        partner = finder.find(anchor, rng, lambda p: same_rhythm_answer(anchor, p) == 0, finder.by_rhythm[anchor.rhythm])
    else:
        partner = finder.find_other_rhythm(anchor, rng)
    return None if partner is None else (*_oriented(anchor, partner, rng), None)


def _higher_rate(anchor: PairReading, wanted: int, finder: PartnerFinder, rng: np.random.Generator, *_) -> Built | None:
    if anchor.rate is None:
        return None
    partner = finder.find(anchor, rng, lambda p: higher_rate_answer(anchor, p) is not None)
    if partner is None:
        return None
    anchor_faster = higher_rate_answer(anchor, partner) == 0
    first, second = (anchor, partner) if anchor_faster == (wanted == 0) else (partner, anchor)
    return first, second, None


def _which_shows(
    anchor: PairReading, wanted: int, finder: PartnerFinder, rng: np.random.Generator, counts: Counts, vocabulary: list[str]
) -> Built | None:
    def surplus(code: str) -> float:  # how far this class of the finding is ahead of its mean
        return counts[code][wanted] - sum(counts[code]) / 4

    if wanted == 3:  # neither: a finding the anchor surely lacks
        codes = [code for code in vocabulary if code not in anchor.possible]
    elif wanted == 2:  # both: a finding of the anchor that another record shows too
        codes = [code for code in sorted(anchor.shown) if len(finder.by_code[code]) > 1]
    else:  # one of the two: a finding of the anchor, the partner surely without it
        codes = sorted(anchor.shown)
    # a finding whose class is already ahead waits: the finding named must not hint at the answer
    ranked = [code for code in _ranked(codes, surplus, rng) if surplus(code) < MAX_SURPLUS]
    anchor_class = 0 if wanted in (0, 1) else wanted  # the class with the anchor first
    for code in ranked[:CODE_TRIES]:
        pool = finder.by_code[code] if wanted == 2 else None
        partner = finder.find(anchor, rng, lambda p, code=code: shows_answer(anchor, p, code) == anchor_class, pool)
        if partner is None:
            continue
        if wanted in (0, 1):
            first, second = (anchor, partner) if wanted == 0 else (partner, anchor)
        else:
            first, second = _oriented(anchor, partner, rng)
        return first, second, code
    return None


BUILDERS = {"same_rhythm": _same_rhythm, "higher_rate": _higher_rate, "which_shows": _which_shows}


def irrelevant_questions(
    ordered: list[RecordDescription], readings: dict[str, PairReading], seed: int, per_record: float = 1.0
) -> list[PairQuestion]:
    """For a share `per_record` of the records (in record-id order), one partner per kind."""
    finder = PartnerFinder([readings[d.record_id] for d in ordered])
    vocabulary = sorted(finder.by_code)  # the findings some record of this split shows
    counts: Counts = defaultdict(lambda: [0, 0, 0, 0])
    turns: dict[str, int] = defaultdict(int)
    seen: set[tuple[str, str, str, str | None]] = set()
    questions: list[PairQuestion] = []
    for description in ordered:
        rng = np.random.default_rng([seed, stable_hash(description.record_id, "irrelevant")])
        if len(ordered) < 2 or rng.random() >= per_record:
            continue
        anchor = readings[description.record_id]
        for kind, classes in IRRELEVANT_KINDS.items():
            wanted = turns[kind] % classes
            built = BUILDERS[kind](anchor, wanted, finder, rng, counts, vocabulary)
            if built is None:
                continue
            first, second, finding = built
            key = (kind, first.description.record_id, second.description.record_id, finding)
            if key in seen:  # the same pair drawn from its other end
                continue
            seen.add(key)
            turns[kind] += 1
            if finding is not None:
                counts[finding][wanted] += 1
            questions.append(PairQuestion(kind, "irrelevant", first.description, second.description, wanted, finding))
    return questions
