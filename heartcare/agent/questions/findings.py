"""Shared rules: which labels a dimension holds, the closed answer, and the hedged wording.

Hedges follow PTB-XL's likelihood scale; a hedge is wording for open answers and
reports only, a closed option is always the plain statement.
"""

from __future__ import annotations

from functools import lru_cache

from heartcare.agent.description import RecordDescription
from heartcare.agent.vocabulary import DIMENSION_KIND, NORMAL_CODES, describe_code
from heartcare.sources.scp import statements

# Statement texts that read badly after "shows" (the closed option keeps PTB-XL's text).
NOUN_PHRASES = {"QWAVE": "Q waves"}

# Sinus variants (the hierarchy says "sinus rhythm" is true of each).
SINUS_CODES = frozenset({"SR", "STACH", "SBRAD", "SARRH"})


@lru_cache(maxsize=1)
def _statement_order() -> dict[str, int]:
    """SCP code -> position in PTB-XL's table (built once: comparison pairs call `findings` ~10^5 times)."""
    return {code: index for index, code in enumerate(statements())}


def findings(description: RecordDescription, dimension: str) -> list[tuple[str, float]]:
    """(code, effective likelihood) of the dimension's labels, strongest first.

    Ties put abnormal codes before the normal one (more informative) and then follow
    PTB-XL frequency order, so the result does not depend on dict order.
    """
    kind = DIMENSION_KIND[dimension]
    table = statements()
    order = _statement_order()
    normal = NORMAL_CODES.get(dimension)
    chosen = [
        (code, likelihood)
        for code, likelihood in description.certain_labels().items()
        if code in table and kind in table[code].kinds
    ]
    return sorted(chosen, key=lambda pair: (-pair[1], pair[0] == normal, order[pair[0]]))


def closed_answer(description: RecordDescription, dimension: str) -> tuple[str | None, str | None, float]:
    """(answer text or None, answer code or None, likelihood) from the record's `Reading`.

    The strongest finding whatever its likelihood; the normal phrasing only where the
    findings make the dimension normal; (None, None, 0.0) where neither is derivable.
    """
    from heartcare.agent.reading import reading_of

    reading = reading_of(description).dimensions[dimension]
    if reading.answer is None:
        return None, None, 0.0
    return reading.answer, reading.answer_code, reading.answer_likelihood


def hedge(likelihood: float) -> str:
    """Likelihood -> the wording a cardiologist would use (PTB-XL likelihood scale)."""
    if likelihood >= 80:
        return "consistent with"
    if likelihood >= 60:
        return "likely"
    if likelihood >= 30:
        return "possible"
    return "cannot exclude"


def hedged_phrase(code: str, likelihood: float) -> str:
    """'possible complete right bundle branch block', 'X cannot be excluded' (a noun phrase or clause)."""
    word = hedge(likelihood)
    description = describe_code(code)
    return f"{description} cannot be excluded" if word == "cannot exclude" else f"{word} {description}"


def _join(parts: list[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def finding_clauses(ranked: list[tuple[str, float, bool]], signs: tuple[str, ...] = ()) -> str:
    """Findings as English: 'the ECG shows atrial fibrillation and possible X; Y cannot be excluded'.

    ranked: (code, effective likelihood, stated plainly) strongest first; signs: plain
    waveform signs ('wide QRS complexes') said before the findings. Every finding is
    named once with its hedge; "normal ECG" reads "this is (likely/possibly) a normal ECG".
    """
    shown: list[str] = list(signs)
    doubtful: list[str] = []
    normal = ""
    bands: dict[str, list[str]] = {}
    for code, likelihood, plain in ranked:
        word = "" if plain else hedge(likelihood)
        if code == "NORM":
            adverb = {"": "", "consistent with": "", "likely": "likely ", "possible": "possibly "}.get(word)
            if adverb is None:
                doubtful.append("a normal ECG")
            else:
                normal = f"this is {adverb}a normal ECG"
        elif word == "cannot exclude":
            doubtful.append(NOUN_PHRASES.get(code, describe_code(code)))
        else:
            bands.setdefault(word, []).append(NOUN_PHRASES.get(code, describe_code(code)))
    for word, names in bands.items():
        prefix = {"": "", "consistent with": "findings consistent with "}.get(word, f"{word} ")
        shown.append(prefix + _join(names))
    clauses = [normal] if normal else []
    if shown:
        clauses.append(("it also shows " if normal else "the ECG shows ") + _join(shown))
    if doubtful:
        clauses.append(f"{_join(doubtful)} cannot be excluded")
    return "; ".join(clauses)
