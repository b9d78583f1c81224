"""The SCP-ECG concept hierarchy: what each of PTB-XL's 71 statements implies and leaves open.

Data in `hierarchy.json` (sources cited in its header). A closed or comparison
distractor must never be in `compatible(true codes)`: a statement that is true of,
implied by, or not ruled out by the record's findings would make the item arguable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from heartcare.errors import ConfigError
from heartcare.sources.scp import statements

HIERARCHY_FILE = "hierarchy.json"
DIMENSIONS = ("diagnosis", "waveform", "rhythm")


@dataclass(frozen=True)
class NormalRule:
    """A dimension's normal phrasing and the codes whose presence makes it false."""

    dimension: str
    text: str
    code: str | None
    contradicted_by: frozenset[str]


@dataclass(frozen=True)
class Hierarchy:
    """Parsed `hierarchy.json`, group references expanded and every code checked."""

    implies: dict[str, frozenset[str]]
    compatible: dict[str, frozenset[str]]
    normals: dict[str, NormalRule]
    measurement_groups: dict[str, frozenset[str]]
    umbrella: frozenset[str]  # generic statements whose 'compatible' applies only when stated


def _expand(names: list[str], groups: dict[str, list[str]], where: str) -> frozenset[str]:
    """Codes of a list that may hold '@group' and '@kind:K' references."""
    table = statements()
    codes: set[str] = set()
    for name in names:
        if name.startswith("@kind:"):
            codes |= {code for code, statement in table.items() if name[6:] in statement.kinds}
        elif name.startswith("@"):
            if name[1:] not in groups:
                raise ConfigError(HIERARCHY_FILE, f"{where}: unknown group {name!r}")
            codes |= set(groups[name[1:]])
        else:
            codes.add(name)
    unknown = sorted(codes - set(table))
    if unknown:
        raise ConfigError(HIERARCHY_FILE, f"{where}: unknown SCP-ECG codes {unknown}")
    return frozenset(codes)


@cache
def hierarchy() -> Hierarchy:
    """The shipped hierarchy, validated at first use so a broken edit fails loudly."""
    data = json.loads(resources.files("heartcare.agent").joinpath(HIERARCHY_FILE).read_text(encoding="utf-8"))
    groups = data["groups"]
    for name, members in groups.items():
        _expand(members, groups, f"group {name}")
    implies = {code: _expand(targets, groups, f"implies[{code}]") for code, targets in data["implies"].items()}
    compatible = {code: _expand(targets, groups, f"compatible[{code}]") for code, targets in data["compatible"].items()}
    _expand(list(implies) + list(compatible), groups, "keys")
    normals = {}
    for dimension in DIMENSIONS:
        rule = data["normals"][dimension]
        contradicted = _expand(rule["contradicted_by"], groups, f"normals[{dimension}]")
        contradicted -= _expand(rule["except"], groups, f"normals[{dimension}].except")
        normals[dimension] = NormalRule(dimension, rule["text"], rule["code"], contradicted)
    # Normal codes are decided by their rule alone, so a list naming them would be ignored.
    for code, targets in compatible.items():
        listed = targets & {rule.code for rule in normals.values()}
        if listed:
            raise ConfigError(HIERARCHY_FILE, f"compatible[{code}] lists normal codes {sorted(listed)}; 'normals' decides them")
    measurement = {name: _expand(codes, groups, f"measurement_groups[{name}]") for name, codes in data["measurement_groups"].items()}
    return Hierarchy(implies, compatible, normals, measurement, _expand(groups["umbrella"], groups, "umbrella"))


@lru_cache(maxsize=65536)
def _implied(codes: frozenset[str]) -> frozenset[str]:
    implies = hierarchy().implies
    found = set(codes)
    frontier = list(codes)
    while frontier:
        for target in implies.get(frontier.pop(), ()):
            if target not in found:
                found.add(target)
                frontier.append(target)
    return frozenset(found)


def implied(codes: Iterable[str]) -> frozenset[str]:
    """The codes plus every statement they imply, transitively (AFIB -> SVARR, 1AVB -> LPR)."""
    return _implied(frozenset(codes))


def normal_holds(dimension: str, codes: Iterable[str]) -> bool:
    """Is the dimension's normal phrasing true or compatible (no implied code contradicts it)?"""
    return not (hierarchy().normals[dimension].contradicted_by & implied(codes))


@lru_cache(maxsize=65536)
def _compatible(codes: frozenset[str]) -> frozenset[str]:
    table = hierarchy()
    implied_codes = _implied(codes)
    found = set(implied_codes)
    for code in implied_codes:
        if code in codes or code not in table.umbrella:
            found |= table.compatible.get(code, frozenset())
    for rule in table.normals.values():
        if rule.code is not None and not (rule.contradicted_by & implied_codes):
            found.add(rule.code)
    return frozenset(found)


def compatible(codes: Iterable[str]) -> frozenset[str]:
    """implied(codes) plus the statements they leave open: never a valid distractor."""
    return _compatible(frozenset(codes))


@lru_cache(maxsize=65536)
def _excluded_texts(codes: frozenset[str]) -> tuple[str, ...]:
    table = statements()
    texts = {table[code].description for code in _compatible(codes)}
    for rule in hierarchy().normals.values():
        if not (rule.contradicted_by & _implied(codes)):
            texts.add(rule.text)
    return tuple(sorted(texts))


def excluded_texts(codes: Iterable[str]) -> list[str]:
    """Option texts (as closed options are written) of compatible(codes) and of the normal
    phrasings that are true or compatible: none of them may be offered as a distractor."""
    return list(_excluded_texts(frozenset(codes)))


def measurement_group(name: str) -> frozenset[str]:
    """Codes of a `measurement_groups` entry (e.g. 'no_pr_interval')."""
    return hierarchy().measurement_groups[name]
