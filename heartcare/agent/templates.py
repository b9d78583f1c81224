"""The template bank: many phrasings per task so the dataset does not teach one sentence.

Shipped as `templates/english.json` (package data). `distinct_n` measures how varied
the generated questions really are; the dataset card reports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from heartcare.errors import ConfigError

TEMPLATE_FILE = "templates/english.json"
MINIMUM_PHRASINGS = 30  # per task type (issue 6)


@cache
def template_bank() -> dict[str, Any]:
    """The parsed bank; validated so a broken edit fails loudly at first use."""
    text = resources.files("heartcare.agent").joinpath(TEMPLATE_FILE).read_text(encoding="utf-8")
    bank = json.loads(text)
    for task in ("closed_qa", "open_qa", "report", "signal_prediction"):
        if len(set(bank[task])) < MINIMUM_PHRASINGS:
            raise ConfigError(TEMPLATE_FILE, f"{task} has {len(set(bank[task]))} phrasings, needs {MINIMUM_PHRASINGS}")
    comparison = sum(len(set(v)) for v in bank["comparison_qa"].values())
    if comparison < MINIMUM_PHRASINGS:
        raise ConfigError(TEMPLATE_FILE, f"comparison_qa has {comparison} phrasings, needs {MINIMUM_PHRASINGS}")
    return bank


def phrasing_counts() -> dict[str, int]:
    """Distinct phrasings per task type (for the card)."""
    bank = template_bank()
    counts = {task: len(set(bank[task])) for task in ("closed_qa", "open_qa", "report", "signal_prediction")}
    counts["comparison_qa"] = sum(len(set(v)) for v in bank["comparison_qa"].values())
    return counts


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


# "the next 1 seconds" -> "the next 1 second": a slot filled with 1 before a plural unit.
_SINGULAR = re.compile(r"(?<![\d.])1 (second|beat|minute)s\b")


def fill(template: str, **values: str) -> str:
    """Fill `{name}` slots; `{name_cap}` gives the capitalised value (sentence starts)."""
    values = {key: str(value) for key, value in values.items()}
    for key in list(values):
        values[f"{key}_cap"] = _capitalise(values[key])
    text = _capitalise(template.format_map(_Slots(values)))
    return _SINGULAR.sub(r"1 \1", text)


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        raise ConfigError(TEMPLATE_FILE, f"template slot {{{key}}} has no value")


def choose(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n (Li et al., NAACL 2016): unique word n-grams / all word n-grams, in 0..1."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for text in texts:
        words = text.lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0
