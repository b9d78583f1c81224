"""Shared rules: which labels a dimension holds, the paper's answer rule, hedging words."""

from __future__ import annotations

from functools import lru_cache

from heartcare.agent.description import RecordDescription
from heartcare.agent.vocabulary import (
    ANSWER_THRESHOLD,
    DIMENSION_KIND,
    NORMAL_CODES,
    NORMAL_PHRASES,
    describe_code,
    dimension_codes,
)
from heartcare.sources.scp import statements

# Sinus variants: "sinus rhythm" is not a fair distractor for them.
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


def closed_answer(description: RecordDescription, dimension: str) -> tuple[str, str | None, float]:
    """(answer text, answer code or None, likelihood): the top label at >= 60, else normal."""
    ranked = findings(description, dimension)
    if ranked and ranked[0][1] >= ANSWER_THRESHOLD:
        code, likelihood = ranked[0]
        return describe_code(code), code, likelihood
    return NORMAL_PHRASES[dimension], None, 0.0


def distractor_pool(description: RecordDescription, dimension: str, answer_code: str | None) -> list[str]:
    """Option texts of the same category that no true label of the record overlaps."""
    present = set(description.labels)
    pool = [describe_code(code) for code in dimension_codes(dimension) if code not in present]
    normal = NORMAL_PHRASES[dimension]
    normal_is_true = answer_code is None or (dimension == "rhythm" and answer_code in SINUS_CODES)
    if dimension == "waveform" and not normal_is_true:
        pool.append(normal)
    if normal_is_true:
        pool = [text for text in pool if text != normal]
    answer = describe_code(answer_code) if answer_code else normal
    return [text for text in pool if text != answer]


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
    word = hedge(likelihood)
    description = describe_code(code)
    return f"{description} cannot be excluded" if word == "cannot exclude" else f"{word} {description}"
