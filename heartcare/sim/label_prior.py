"""PTB-XL's real label distribution: `sample_label_sets(n, seed)` -> coherent {SCP code: likelihood} sets.

The facts are PTB-XL v1.0.3's statement statistics (Wagner et al., Sci. Data 2020,
CC BY 4.0), shipped as `heartcare/sources/scp_statements.csv`: for each of the 71
statements the fraction of the 21,837 records carrying it and how many carry it at
likelihood 100. Each sampled set's per-code marginal frequency matches that fraction
(within sampling error), under rules that keep a set clinically coherent:
- NORM comes alone: only with a sinus rhythm statement (SR or SARRH), never with an
  abnormal diagnostic, form or ectopy statement;
- at most one rhythm statement (SR or an arrhythmia); PTB-XL's 12 rhythm statements
  cover 97.1% of records, so 2.9% carry none, as there;
- no contradictions (`EXCLUSIONS`): no PR statement without P waves (AF, flutter,
  paced), one bundle-branch block, one AV-block degree, low voltage not with high;
- a non-normal record carries at least one abnormal statement.
Likelihoods are on PTB-XL's scale: 100 with the table's share; otherwise 0 ("stated,
likelihood unknown") for rhythm and form statements, as PTB-XL writes them, and 15,
35, 50 or 80 for diagnostic ones (the table gives only the share at 100; the split
of the rest over those four values is our assumption, `HEDGED_WEIGHTS`).
Marginals are met by calibrating per-code inclusion probabilities once per process
(cached, deterministic), since the rules above remove or add codes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

STATS_FILE = "scp_statements.csv"  # in heartcare.sources; PTB-XL statistics, CC BY 4.0
NORMAL_RHYTHMS = ("SR", "SARRH")  # the rhythms a normal ECG may state (sinus arrhythmia is a normal variant)
NO_P_WAVE = ("1AVB", "2AVB", "LPR", "PAC", "WPW")  # statements that need conducted P waves
# (code, codes it rules out): applied in order, so the first code of a conflicting pair stays.
EXCLUSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AFIB", NO_P_WAVE),
    ("AFLT", NO_P_WAVE),
    ("PACE", (*NO_P_WAVE, "3AVB", "CLBBB", "CRBBB", "ILBBB", "IRBBB", "LAFB", "LPFB", "IVCD", "LVH", "VCLVH", "HVOLT")),
    ("CLBBB", ("CRBBB", "ILBBB", "IRBBB", "LAFB", "LPFB", "IVCD")),
    ("CRBBB", ("IRBBB", "ILBBB", "IVCD")),
    ("ILBBB", ("IRBBB",)),
    ("LAFB", ("LPFB",)),
    ("3AVB", ("2AVB", "1AVB", "LPR")),
    ("2AVB", ("1AVB",)),
    ("WPW", ("1AVB", "LPR")),
    ("LVOLT", ("HVOLT", "VCLVH", "LVH")),
)
LIKELIHOODS = (15.0, 35.0, 50.0, 80.0)
HEDGED_WEIGHTS = (0.1, 0.2, 0.3, 0.4)  # diagnostic statements below 100 (assumed split)
CALIBRATION_RECORDS = 40_000
CALIBRATION_ROUNDS = 36


@dataclass(frozen=True)
class CodeStats:
    """One statement's PTB-XL facts: kind ('diagnostic', 'form', 'rhythm', 'diagnostic+form'), fraction, share at 100."""

    code: str
    kind: str
    fraction: float
    share_at_100: float


@cache
def label_stats() -> dict[str, CodeStats]:
    """All 71 statements in PTB-XL frequency order."""
    text = resources.files("heartcare.sources").joinpath(STATS_FILE).read_text(encoding="utf-8")
    stats = {}
    for row in csv.DictReader(text.splitlines()):
        records = float(row["records"])
        share = float(row["records_likelihood_100"]) / records if records else 0.0
        stats[row["code"]] = CodeStats(row["code"], row["kind"], float(row["fraction"]), share)
    return stats


@dataclass(frozen=True)
class _Model:
    """Arrays the sampler works on: rhythm columns, other columns, their calibrated probabilities."""

    codes: tuple[str, ...]  # every column: NORM, rhythms, then the abnormal non-rhythm codes
    rhythms: tuple[str, ...]
    normal_rhythm_p: np.ndarray  # [len(rhythms) + 1] for NORM records, last = no rhythm statement
    abnormal_rhythm_p: np.ndarray  # the same for the others
    abnormal: tuple[str, ...]  # non-rhythm codes other than NORM
    abnormal_p: np.ndarray  # inclusion probability of each in a non-NORM record (calibrated)


def _initial_model() -> _Model:
    stats = label_stats()
    norm = stats["NORM"].fraction
    rhythms = tuple(code for code, s in stats.items() if s.kind == "rhythm")
    none = 1.0 - sum(stats[code].fraction for code in rhythms)
    normal_p = np.array([0.0] * len(rhythms) + [none])
    normal_p[rhythms.index("SARRH")] = stats["SARRH"].fraction
    normal_p[rhythms.index("SR")] = 1.0 - normal_p.sum()
    # The rest of each rhythm's frequency falls to the non-normal records.
    abnormal_p = np.array([(stats[code].fraction - norm * normal_p[i]) / (1 - norm) for i, code in enumerate(rhythms)] + [none])
    abnormal = tuple(code for code, s in stats.items() if s.kind != "rhythm" and code != "NORM")
    inclusion = np.array([stats[code].fraction / (1 - norm) for code in abnormal])
    return _Model(("NORM", *rhythms, *abnormal), rhythms, normal_p, abnormal_p / abnormal_p.sum(), abnormal, inclusion)


def _draw(model: _Model, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, codes] bool presence matrix under the coherence rules."""
    column = {code: index for index, code in enumerate(model.codes)}
    present = np.zeros((n, len(model.codes)), bool)
    norm = rng.random(n) < label_stats()["NORM"].fraction
    present[:, 0] = norm
    choices = len(model.rhythms) + 1  # the last choice: no rhythm statement
    rhythm = np.where(norm, rng.choice(choices, n, p=model.normal_rhythm_p), rng.choice(choices, n, p=model.abnormal_rhythm_p))
    stated = rhythm < len(model.rhythms)
    present[np.flatnonzero(stated), 1 + rhythm[stated]] = True
    first = 1 + len(model.rhythms)
    present[:, first:] = (rng.random((n, len(model.abnormal))) < model.abnormal_p) & ~norm[:, None]
    # A non-normal record with a sinus (or no) rhythm and no finding gets one finding.
    sinus = ~norm & (~stated | np.isin(rhythm, [model.rhythms.index(code) for code in NORMAL_RHYTHMS]))
    empty = np.flatnonzero(sinus & ~present[:, first:].any(axis=1))
    weights = model.abnormal_p / model.abnormal_p.sum()
    present[empty, first + rng.choice(len(model.abnormal), len(empty), p=weights)] = True
    for keeper, ruled_out in EXCLUSIONS:
        holders = present[:, column[keeper]]
        for code in ruled_out:
            present[holders, column[code]] = False
    return present


@cache
def _calibrated() -> _Model:
    """Inclusion probabilities scaled until the marginals match the table.

    Each round draws a fresh batch; the probabilities of the later rounds are averaged,
    which cancels most of one batch's sampling noise (about 1% relative error left).
    """
    model = _initial_model()
    stats = label_stats()
    first = 1 + len(model.rhythms)
    targets = np.array([stats[code].fraction for code in model.abnormal])
    inclusion, kept = model.abnormal_p, []
    for round_index in range(CALIBRATION_ROUNDS):
        trial = _Model(model.codes, model.rhythms, model.normal_rhythm_p, model.abnormal_rhythm_p, model.abnormal, inclusion)
        observed = _draw(trial, CALIBRATION_RECORDS, np.random.default_rng([20_200_000, round_index]))[:, first:].mean(axis=0)
        inclusion = np.clip(inclusion * targets / np.maximum(observed, 1e-6), 0.0, 0.95)
        if round_index >= CALIBRATION_ROUNDS // 3:
            kept.append(inclusion)
    averaged = np.mean(kept, axis=0)
    return _Model(model.codes, model.rhythms, model.normal_rhythm_p, model.abnormal_rhythm_p, model.abnormal, averaged)


def _likelihoods(present: np.ndarray, codes: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """[n, codes] PTB-XL likelihoods for the present codes (0 where absent)."""
    stats = label_stats()
    share = np.array([stats[code].share_at_100 for code in codes])
    diagnostic = np.array(["diagnostic" in stats[code].kind for code in codes])
    hedged = np.array(LIKELIHOODS)[rng.choice(len(LIKELIHOODS), present.shape, p=HEDGED_WEIGHTS)]
    values = np.where(rng.random(present.shape) < share, 100.0, np.where(diagnostic, hedged, 0.0))
    return np.where(present, values, 0.0)


def sample_label_sets(n: int, seed: int) -> list[dict[str, float]]:
    """n {SCP code: likelihood} sets whose code frequencies follow PTB-XL's (same seed, same sets)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    model = _calibrated()
    rng = np.random.default_rng([seed, 71])
    present = _draw(model, n, rng)
    values = _likelihoods(present, model.codes, rng)
    return [{model.codes[j]: float(values[i, j]) for j in np.flatnonzero(present[i])} for i in range(n)]
