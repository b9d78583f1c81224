"""ECG-term F1: the SCP-ECG statements an answer names vs those its reference names (the analogue of F1-Rad).

Vocabulary: each statement's PTB-XL description (heartcare/sources/scp_statements.csv),
HeartAgent's own phrasings (heartcare/agent/vocabulary.py: normal phrases, ectopy
classes) and the synonyms and abbreviations in heartcare/bench/ecg_terms.json. Matching
is on word tokens, case-insensitive (capitalised abbreviations such as "AF" or "PAC" match
only as written), with plurals folded; the longest term starting leftmost wins, so
"incomplete right bundle branch block" is IRBBB, never also CRBBB.

Negation, cheaply (a NegEx-style rule; Chapman et al., J Biomed Inform 2001): a trigger
("no", "not", "without", "absence of", "negative for", "free of", "neither/nor")
negates the terms that start within 8 words after it in the same clause; "absent", "not
seen", "ruled out", "is excluded" negate the terms before them in the clause. Clauses end
at , ; : . ! ? and at "but", "however", "although", "except", "whereas", "while". Hedges stay
positive: "X cannot be excluded", "cannot exclude X", "possible X", "not ruled out".
A code both negated and affirmed counts as affirmed.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import Output
from heartcare.errors import ConfigError

_TOKEN = re.compile(r"[A-Za-z0-9]+|[.;:!?,]")
BOUNDARIES = frozenset(".;:!?,") | frozenset("but however although though except whereas while".split())
NEGATION_WINDOW = 8  # words after a trigger a negated term may start within
PRE_TRIGGERS = ("no", "not", "without", "absence of", "negative for", "free of", "neither", "nor")
POST_TRIGGERS = (
    "absent", "is absent", "are absent", "not seen", "not present", "not observed", "not identified", "not detected",
    "ruled out", "is excluded", "was excluded", "are excluded", "been excluded",
)
# Phrases that contain a trigger word but do not negate (checked first; they consume their words).
PSEUDO_TRIGGERS = (
    "cannot be excluded", "cannot be ruled out", "not be excluded", "not be ruled out", "not excluded", "not exclude",
    "not ruled out", "not rule out", "no change", "no significant change", "not only",
)

Term = tuple[tuple[bool, str], ...]  # per word: (exact-case?, word)


def fold(word: str) -> str:
    """Lowercase and fold plurals (waves -> wave, complexes -> complex, abnormalities -> abnormality)."""
    word = word.lower()
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("xes"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _term(phrase: str, keep_case: bool) -> Term:
    """A phrase as match keys: capitalised words (in synonyms) match exactly, the rest folded."""
    return tuple(
        (True, word) if keep_case and any(c.isupper() for c in word) else (False, fold(word)) for word in words(phrase)
    )


@lru_cache(maxsize=1)
def vocabulary() -> dict[Term, str]:
    """Every phrasing -> SCP code: descriptions, HeartAgent's phrasings, then the package's synonyms file."""
    from heartcare.agent.vocabulary import ECTOPY_CLASSES, NORMAL_CODES, NORMAL_PHRASES
    from heartcare.sources.scp import statements

    table = statements()
    terms: dict[Term, str] = {}
    for code, statement in table.items():
        terms[_term(statement.description, keep_case=False)] = code
    for dimension, code in NORMAL_CODES.items():
        terms[_term(NORMAL_PHRASES[dimension], keep_case=False)] = code
    for code, phrase in ECTOPY_CLASSES.items():
        if code in table:
            terms[_term(phrase, keep_case=False)] = code
    source = resources.files("heartcare.bench").joinpath("ecg_terms.json")
    data = json.loads(source.read_text())
    for code, synonyms in data["synonyms"].items():
        if code not in table:
            raise ConfigError(str(source), f"unknown SCP-ECG code {code!r} in the synonyms")
        for phrase in synonyms:
            term = _term(phrase, keep_case=True)
            if terms.setdefault(term, code) != code:
                raise ConfigError(str(source), f"{phrase!r} is listed for both {terms[term]} and {code}")
    return terms


@lru_cache(maxsize=1)
def _index() -> dict[tuple[bool, str], list[tuple[Term, str]]]:
    """First word key -> (term, code), longest first."""
    index: dict[tuple[bool, str], list[tuple[Term, str]]] = {}
    for term, code in vocabulary().items():
        index.setdefault(term[0], []).append((term, code))
    for candidates in index.values():
        candidates.sort(key=lambda pair: -len(pair[0]))
    return index


@lru_cache(maxsize=1)
def _cues() -> tuple[tuple[tuple[str, ...], str], ...]:
    """(folded words, role) of every negation cue, longest first; pseudo before post before pre at equal length."""
    roles = [(PSEUDO_TRIGGERS, "pseudo"), (POST_TRIGGERS, "post"), (PRE_TRIGGERS, "pre")]
    cues = [(tuple(fold(w) for w in words(phrase)), role) for phrases, role in roles for phrase in phrases]
    return tuple(sorted(cues, key=lambda cue: -len(cue[0])))


def _matches(term: Term, start: int, original: list[str], folded: list[str]) -> bool:
    if start + len(term) > len(folded):
        return False
    return all(
        (original if exact else folded)[start + offset] == word for offset, (exact, word) in enumerate(term)
    )


def find_terms(text: str) -> list[tuple[int, int, str, bool]]:
    """(start word, end word, code, negated) of every term in the text, left to right."""
    original = words(text)
    folded = [fold(word) for word in original]
    index = _index()
    spans: list[tuple[int, int, str]] = []
    position = 0
    while position < len(original):
        candidates = index.get((False, folded[position]), []) + index.get((True, original[position]), [])
        candidates.sort(key=lambda pair: -len(pair[0]))
        found = next((pair for pair in candidates if _matches(pair[0], position, original, folded)), None)
        if found is None:
            position += 1
            continue
        spans.append((position, position + len(found[0]), found[1]))
        position += len(found[0])
    flags = _negated(spans, folded)
    return [(start, end, code, negated) for (start, end, code), negated in zip(spans, flags, strict=True)]


def _negated(spans: list[tuple[int, int, str]], folded: list[str]) -> list[bool]:
    """Per span: does a negation cue in its clause apply to it (rules in the module docstring)?"""
    if not spans:
        return []
    inside = {position for start, end, _ in spans for position in range(start, end)}
    clause = []
    number = 0
    for word in folded:
        number += word in BOUNDARIES
        clause.append(number)
    flags = [False] * len(spans)
    cues = _cues()
    position = 0
    while position < len(folded):
        if position in inside:
            position += 1
            continue
        cue = next((c for c in cues if tuple(folded[position:position + len(c[0])]) == c[0]), None)
        if cue is None:
            position += 1
            continue
        words_, role = cue
        end = position + len(words_)
        for number_, (start, stop, _) in enumerate(spans):
            same_clause = clause[start] == clause[position]
            if role == "pre" and same_clause and end <= start < end + NEGATION_WINDOW:
                flags[number_] = True
            elif role == "post" and same_clause and stop <= position:
                flags[number_] = True
        position = end
    return flags


@lru_cache(maxsize=16384)
def extract_concepts(text: str) -> frozenset[str]:
    """SCP codes the text affirms (named and not negated)."""
    found = find_terms(text)
    affirmed = {code for _, _, code, negated in found if not negated}
    return frozenset(affirmed)


def concept_f1(predicted: frozenset[str] | set[str], reference: frozenset[str] | set[str]) -> float:
    """F1 of two concept sets: both empty -> 1, one empty -> 0."""
    if not predicted and not reference:
        return 1.0
    if not predicted or not reference:
        return 0.0
    return 2 * len(predicted & reference) / (len(predicted) + len(reference))


def term_f1(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Metric: per item F1 of the concepts in output.text vs item.answer_text; no text at all (None) scores 0."""
    values = [
        0.0 if output.text is None else concept_f1(extract_concepts(output.text), extract_concepts(item.answer_text))
        for item, output in zip(items, outputs, strict=True)
    ]
    return np.array(values, dtype=np.float64)
