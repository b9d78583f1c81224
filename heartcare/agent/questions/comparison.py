"""Comparison-QA over pairs of ECGs (S-S, I-I, S-I) whose options carry no answer prior.

Same-patient ("consecutive") pairs get "same rhythm?" (yes/no), "which is faster?"
(first/second) and "which finding is new in the later ECG?" (4 findings); they are
shown in date order (ECG 1 is the earlier), except "which is faster?", which speaks of
no time and whose order is dealt so both answers occur equally often. Different-patient ("irrelevant") pairs get "same
rhythm?", "which is faster?" and "which shows finding X?" (first / second / both /
neither). Only "new finding" speaks of time, and only of pairs with two known, distinct
dates; the kinds both relations share use the same neutral phrasings, so the wording
never tells whether the two ECGs belong to one patient. Phrasings live in
`templates/comparison.json`.

Balance is built in: consecutive "same rhythm?" chooses pairs per class
(`balanced_pairs`); irrelevant pairs are drawn for a dealt class (the partner is picked
to give it); "new finding" asks the least used finding a pair allows, deals the letter
in turn and draws distractors from the answers' own vocabulary so that each text is
offered about four times as often as it is right.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, stable_hash
from heartcare.agent.questions.pairs import (
    PairQuestion,
    PairReading,
    balanced_pairs,
    consecutive_pairs,
    higher_rate_answer,
    new_findings,
    read_pair_view,
    same_patient_pairs,
    same_rhythm_answer,
    strictly_dated,
)
from heartcare.agent.questions.partners import irrelevant_questions
from heartcare.agent.vocabulary import describe_code
from heartcare.errors import ConfigError
from heartcare.sources.scp import statements

__all__ = ["comparison_set", "consecutive_pairs", "irrelevant_pairs", "comparison_templates"]

PAIR_MODALITIES = {"C-SS": ("S", "S"), "C-II": ("I", "I"), "C-SI": ("S", "I")}
KINDS = ("same_rhythm", "higher_rate", "new_finding", "which_shows")
RELATION_KINDS = {
    "consecutive": ("same_rhythm", "higher_rate", "new_finding"),
    "irrelevant": ("same_rhythm", "higher_rate", "which_shows"),
}
FIXED_OPTIONS = {
    "same_rhythm": ("Yes", "No"),
    "higher_rate": ("the first ECG", "the second ECG"),
    "which_shows": ("the first ECG", "the second ECG", "both ECGs", "neither ECG"),
}
LETTERS = ("A", "B", "C", "D")
TEMPLATE_FILE = "templates/comparison.json"
MINIMUM_PHRASINGS = 30
# Words that place two ECGs in time; kinds asked of different patients must not use them.
TIME_WORDS = re.compile(
    r"\b(new|newly|later|earlier|previous|prior|before|after|since|follow-up|recent|current|baseline|"
    r"change[sd]?|unchanged|developed|appeared|emerged|consecutive|same patient|one patient)\b",
    re.IGNORECASE,
)


@cache
def comparison_templates() -> dict[str, tuple[str, ...]]:
    """Phrasings per kind, validated: enough of them, `{finding}` where needed, no time words where barred."""
    text = resources.files("heartcare.agent").joinpath(TEMPLATE_FILE).read_text(encoding="utf-8")
    bank = json.loads(text)
    templates: dict[str, tuple[str, ...]] = {}
    for kind in KINDS:
        phrasings = tuple(dict.fromkeys(bank.get(kind, ())))
        if len(phrasings) < MINIMUM_PHRASINGS:
            raise ConfigError(TEMPLATE_FILE, f"{kind} has {len(phrasings)} phrasings, needs {MINIMUM_PHRASINGS}")
        for phrasing in phrasings:
            if ("{finding}" in phrasing) != (kind == "which_shows"):
                raise ConfigError(TEMPLATE_FILE, f"{kind} phrasing {phrasing!r}: only which_shows names a {{finding}}")
            if kind != "new_finding" and TIME_WORDS.search(phrasing):
                raise ConfigError(TEMPLATE_FILE, f"{kind} phrasing {phrasing!r} speaks of time; only new_finding may")
        templates[kind] = phrasings
    return templates


def format_options(options: list[str] | tuple[str, ...]) -> str:
    """['X', 'Y'] -> 'A: X; B: Y' (the paper's option format, any number of options up to four)."""
    return "; ".join(f"{letter}: {text}" for letter, text in zip(LETTERS, options, strict=False))


class AnswerDealer:
    """Hands out answer positions in turn per key: exact balance, same on every run."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()

    def next(self, options: int, *key: str) -> int:
        position = self.counts[key] % options
        self.counts[key] += 1
        return position


@lru_cache(maxsize=65536)
def options_clash(first: str, second: str) -> bool:
    """Could both option texts be true of one ECG (one compatible with the other)?

    Options of one item are kept pairwise apart, so which of them is the answer does
    not show in which others were allowed beside it.
    """
    from heartcare.agent.hierarchy import compatible

    codes = _codes_of_text()
    one, two = codes.get(first, frozenset()), codes.get(second, frozenset())
    return bool(two & compatible(one) or one & compatible(two))


@cache
def _codes_of_text() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for code in statements():
        found.setdefault(describe_code(code), set()).add(code)
    return {text: frozenset(codes) for text, codes in found.items()}


class DistractorDealer:
    """Draws distractors so each text is offered about (options - 1) times as often as it is right.

    Then a text, when offered, is the answer about one time in `options`: no option
    text carries a prior. The answers' own texts are the only vocabulary, and the
    options of one item never clash (`options_clash`).
    """

    def __init__(self, answers: Counter[str], options: int = 4) -> None:
        self.target = {text: (options - 1) * count for text, count in answers.items()}
        self.offered: Counter[str] = Counter()

    def draw(self, answer: str, excluded: set[str], rng: np.random.Generator, count: int = 3) -> list[str] | None:
        pool = [text for text in sorted(self.target) if text != answer and text not in excluded]
        jitter = rng.random(len(pool)) * 2.0  # breaks ties and varies the draw
        order = sorted(range(len(pool)), key=lambda i: -(self.target[pool[i]] - self.offered[pool[i]] + jitter[i]))
        ranked = [pool[i] for i in order if not options_clash(pool[i], answer)]
        chosen = _apart(ranked, count)
        if chosen is None:
            return None
        self.offered.update(chosen)
        return [chosen[int(i)] for i in rng.permutation(count)]


def _apart(ranked: list[str], count: int, budget: int = 4000) -> list[str] | None:
    """The first `count` texts of `ranked` (in rank order, depth first) that pairwise do not clash.

    A greedy pick can strand itself (one broad finding clashes with everything left);
    the search backs off, within a budget of steps so a hopeless pool stays cheap.
    """
    steps = 0

    def extend(start: int, chosen: list[str]) -> list[str] | None:
        nonlocal steps
        if len(chosen) == count:
            return chosen
        for index in range(start, len(ranked) - (count - len(chosen)) + 1):
            steps += 1
            if steps > budget:
                return None
            if not any(options_clash(ranked[index], other) for other in chosen):
                found = extend(index + 1, [*chosen, ranked[index]])
                if found is not None:
                    return found
        return None

    return extend(0, [])


def _dimension(kind: str, finding: str | None) -> str:
    if finding is None:
        return "rhythm"
    kinds = statements()[finding].kinds
    return "rhythm" if "rhythm" in kinds else "diagnosis" if "diagnostic" in kinds else "waveform"


def consecutive_questions(descriptions: list[RecordDescription], readings: dict[str, PairReading], seed: int) -> list[PairQuestion]:
    """Same-patient questions: balanced two-class kinds, then one new finding per dated pair."""
    successive, reserve = consecutive_pairs(descriptions), same_patient_pairs(descriptions)
    def answer_of(pair):
        return same_rhythm_answer(readings[pair[0].record_id], readings[pair[1].record_id])

    def ranked(pairs, kind: str):
        return sorted(pairs, key=lambda pair: stable_hash(seed, kind, pair[0].record_id, pair[1].record_id))

    questions = [PairQuestion("same_rhythm", "consecutive", first, second, value)
                 for (first, second), value in balanced_pairs(successive, reserve, answer_of, 2, seed, "same_rhythm")]
    # "which is faster" speaks of no time, so its order is dealt (every pair kept, letters balanced)
    turn = 0
    for earlier, later in ranked(successive, "higher_rate"):
        faster = higher_rate_answer(readings[earlier.record_id], readings[later.record_id])
        if faster is not None:
            wanted, turn = turn % 2, turn + 1
            first, second = (earlier, later) if faster == wanted else (later, earlier)
            questions.append(PairQuestion("higher_rate", "consecutive", first, second, wanted))
    used: Counter[str] = Counter()
    for earlier, later in ranked([pair for pair in successive if strictly_dated(pair)], "new_finding"):
        found = new_findings(readings[earlier.record_id], readings[later.record_id])
        if not found:
            continue
        rng = np.random.default_rng([seed, stable_hash("new_finding", earlier.record_id, later.record_id)])
        jitter = rng.random(len(found))
        # the least used finding this pair allows: answers spread over the vocabulary
        code = found[min(range(len(found)), key=lambda i: (used[found[i]], jitter[i]))]
        used[code] += 1
        questions.append(PairQuestion("new_finding", "consecutive", earlier, later, finding=code))
    return questions


def irrelevant_pairs(descriptions: list[RecordDescription], seed: int, per_record: float = 1.0) -> list[tuple[RecordDescription, RecordDescription]]:
    """The different-patient pairs `comparison_set` asks about (each drawn for one question kind)."""
    ordered = sorted(descriptions, key=lambda d: d.record_id)
    readings = {d.record_id: read_pair_view(d) for d in ordered}
    return [(q.first, q.second) for q in irrelevant_questions(ordered, readings, seed, per_record)]


def comparison_set(
    descriptions: list[RecordDescription], seed: int, per_record: float = 1.0,
    modalities: tuple[str, ...] = ("C-SS", "C-II", "C-SI"),
) -> list[QaItem]:
    """Every comparison item of one split, balanced per kind, relation and modality (deterministic)."""
    ordered = sorted(descriptions, key=lambda d: d.record_id)  # input order must not matter
    readings = {d.record_id: read_pair_view(d) for d in ordered}
    questions = consecutive_questions(ordered, readings, seed) + irrelevant_questions(ordered, readings, seed, per_record)
    new = [q for q in questions if q.kind == "new_finding"]
    distractors = DistractorDealer(Counter(describe_code(q.finding) for q in new for _ in modalities))  # type: ignore[arg-type]
    dealer = AnswerDealer()
    items: list[QaItem] = []
    for question in questions:
        items.extend(question_items(question, seed, modalities, dealer, distractors))
    return items


def question_items(
    question: PairQuestion, seed: int, modalities: tuple[str, ...], dealer: AnswerDealer, distractors: DistractorDealer
) -> list[QaItem]:
    """The question written out once per modality."""
    from heartcare.agent.hierarchy import excluded_texts

    first, second = question.first, question.second
    rng = np.random.default_rng([seed, stable_hash("comparison", question.kind, first.record_id, second.record_id, question.finding)])
    templates = comparison_templates()[question.kind]
    finding_text = describe_code(question.finding) if question.finding else ""
    excluded: set[str] = set()
    if question.kind == "new_finding":
        # never offered beside this answer: what may be true of the later ECG, and what clashes with the answer
        clashing = {text for text in distractors.target if options_clash(text, finding_text)}
        excluded = set(excluded_texts(second.labels)) | clashing | {finding_text}
    items: list[QaItem] = []
    for modality in modalities:
        stem = templates[int(rng.integers(len(templates)))].format(finding=finding_text)
        meta: dict = {"kind": question.kind, "relation": question.relation}
        if question.kind == "new_finding":
            drawn = distractors.draw(finding_text, excluded, rng)
            if drawn is None:
                continue
            position = dealer.next(4, question.relation, question.kind, modality)
            options = [*drawn[:position], finding_text, *drawn[position:]]
            meta.update(fixed_options=False, excluded=sorted(excluded), finding=question.finding, answer_code=question.finding)
        else:
            options, position = list(FIXED_OPTIONS[question.kind]), question.answer
            meta.update(fixed_options=True, excluded=[])
            if question.finding:
                meta["finding"] = question.finding
        left, right = PAIR_MODALITIES[modality]
        items.append(QaItem(
            id=item_id("comparison", question.kind, first.record_id, second.record_id, question.finding, modality),
            task="comparison_qa",
            dimension=_dimension(question.kind, question.finding),  # type: ignore[arg-type]
            modality=modality,  # type: ignore[arg-type]
            question=f"{stem} Options: {format_options(options)}.",
            answer=f"{LETTERS[position]}: {options[position]}",
            choices=tuple(options),
            answer_index=position,
            ecgs=((first.record_id, left), (second.record_id, right)),
            meta=meta,
        ))
    return items
