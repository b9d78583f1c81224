"""The SCP-ECG statement table: PTB-XL's 71 codes, their kind and diagnostic class.

Facts from PTB-XL v1.0.3 (Wagner et al., Sci. Data 2020, CC BY 4.0): for each code
its description, kind (diagnostic / form / rhythm; some are both diagnostic and
form), diagnostic superclass and subclass, and how often PTB-XL carries it (used as
priors by the simulator). Shipped as `scp_statements.csv` beside this file.
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from heartcare.errors import HeartcareError

StatementKind = Literal["diagnostic", "form", "rhythm"]
KINDS: tuple[StatementKind, ...] = ("diagnostic", "form", "rhythm")
SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")


@dataclass(frozen=True)
class Statement:
    """One SCP-ECG statement as PTB-XL's `scp_statements.csv` describes it."""

    code: str
    description: str
    category: str
    kinds: tuple[StatementKind, ...]
    diagnostic_class: str | None
    diagnostic_subclass: str | None
    prevalence: float  # fraction of PTB-XL records carrying it

    def is_kind(self, kind: StatementKind) -> bool:
        return kind in self.kinds


@cache
def statements() -> dict[str, Statement]:
    """All statements by code, in PTB-XL frequency order."""
    table: dict[str, Statement] = {}
    text = resources.files("heartcare.sources").joinpath("scp_statements.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        kinds = tuple(k for k in KINDS if k in row["kind"].split("+"))
        table[row["code"]] = Statement(
            code=row["code"],
            description=row["description"],
            category=row["statement_category"],
            kinds=kinds,
            diagnostic_class=row["diagnostic_class"] or None,
            diagnostic_subclass=row["diagnostic_subclass"] or None,
            prevalence=float(row["fraction"]),
        )
    return table


def statement(code: str, source: str | None = None) -> Statement:
    """Look up one code; unknown codes raise a `HeartcareError` naming them."""
    table = statements()
    if code not in table:
        raise HeartcareError(source, f"unknown SCP-ECG statement code {code!r}")
    return table[code]


def parse_scp_codes(text: str, source: str | None = None) -> dict[str, float]:
    """Parse PTB-XL's `scp_codes` column, a Python dict literal ``{'NORM': 100.0}``.

    `ast.literal_eval` only accepts literals, so no code in the CSV can run.
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise HeartcareError(source, f"scp_codes is not a dict literal: {text!r} ({error})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise HeartcareError(source, f"scp_codes must map codes to likelihoods, got {text!r}")
    return {code: float(likelihood) for code, likelihood in value.items()}


def group_by_kind(codes: dict[str, float]) -> dict[StatementKind, dict[str, float]]:
    """Split ``{code: likelihood}`` into diagnostic / form / rhythm (a code may be in two)."""
    groups: dict[StatementKind, dict[str, float]] = {kind: {} for kind in KINDS}
    table = statements()
    for code, likelihood in codes.items():
        if code not in table:
            continue  # unknown codes are reported by the caller, which knows the record
        for kind in table[code].kinds:
            groups[kind][code] = likelihood
    return groups


def superclasses(codes: dict[str, float]) -> list[str]:
    """The diagnostic superclasses (NORM, MI, STTC, CD, HYP) among `codes`."""
    table = statements()
    found = {table[c].diagnostic_class for c in codes if c in table and table[c].diagnostic_class}
    return [name for name in SUPERCLASSES if name in found]
