"""SCP-ECG labels with likelihoods for a simulated record, PTB-XL style.

PTB-XL gives each statement a likelihood (0, 15, 35, 50, 80, 100); rhythm and many
form statements carry 0 ("present, likelihood not stated"). We follow the table: a
code gets a severity-dependent likelihood when PTB-XL mostly states one for it
(`records_likelihood_100` / `records` > 0.5 in `scp_statements.csv`), else 0.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from heartcare.sim.conditions import CONDITIONS

if TYPE_CHECKING:
    from heartcare.sim.simulate import GroundTruth


@cache
def states_likelihood() -> dict[str, bool]:
    """code -> whether PTB-XL usually states a likelihood for it."""
    text = resources.files("heartcare.sources").joinpath("scp_statements.csv").read_text()
    result = {}
    for row in csv.DictReader(text.splitlines()):
        records = float(row["records"] or 0)
        result[row["code"]] = records > 0 and float(row["records_likelihood_100"] or 0) / records > 0.5
    return result


def likelihood_for(code: str, severity: float, rng: np.random.Generator) -> float:
    """A PTB-XL likelihood for a code: mild findings are stated less surely."""
    if not states_likelihood().get(code, False):
        return 0.0
    if severity < 0.2:
        return float(rng.choice([35.0, 50.0, 80.0]))
    if severity < 0.5:
        return float(rng.choice([80.0, 100.0]))
    return 100.0


def scp_labels(truth: GroundTruth, rng: np.random.Generator) -> dict[str, float]:
    """{SCP code: likelihood} for the record's conditions plus its rhythm statement."""
    labels: dict[str, float] = {}
    for name, severity in truth.conditions.items():
        for code in CONDITIONS[name].codes:
            labels[code] = max(labels.get(code, 0.0), likelihood_for(code, severity, rng))
    if "NORM" in labels:
        labels["NORM"] = 100.0
    has_rhythm = any(CONDITIONS[name].group == "RHYTHM" for name in truth.conditions)
    if not has_rhythm:
        labels["SR"] = 0.0
    return labels
