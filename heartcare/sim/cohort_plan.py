"""Who is in the simulated cohort: patients, their records, conditions, dates, folds.

Planning is cheap and fully determined by (n, seed), so a resumed run re-plans the
same cohort and only draws the records that are missing. Label frequencies follow
PTB-XL's (Wagner et al. 2020): about 44% normal, then MI, ST/T change, conduction
disturbance and hypertrophy; within each class codes are drawn by their PTB-XL
frequency from `heartcare/sources/scp_statements.csv`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from heartcare.sim.noise import NoiseSpec
from heartcare.sources.scp import statements

# Primary diagnostic class of a record (PTB-XL superclass shares, renormalised so a
# record has one main class; secondary findings are added below).
PRIMARY_CLASSES: dict[str, float] = {"NORM": 0.45, "MI": 0.21, "STTC": 0.14, "CD": 0.17, "HYP": 0.08}
# Condition -> the SCP code whose PTB-XL frequency weights it within its class.
CLASS_MEMBERS: dict[str, dict[str, str]] = {
    "MI": {"old_inferior_mi": "IMI", "old_anterior_mi": "ASMI", "old_lateral_mi": "LMI",
           "acute_inferior_mi": "INJIN", "acute_anterior_mi": "INJAS", "acute_lateral_mi": "INJLA"},
    "STTC": {"st_depression": "NST_", "t_inversion": "NDT"},
    "CD": {"left_anterior_fascicular_block": "LAFB", "right_bundle_branch_block": "CRBBB",
           "left_bundle_branch_block": "CLBBB", "first_degree_av_block": "1AVB"},
    "HYP": {"left_ventricular_hypertrophy": "LVH"},
}
# Rhythm of abnormal records (PTB-XL shares among non-normal records, roughly).
RHYTHMS: dict[str, float] = {
    "sinus": 0.77, "atrial_fibrillation": 0.1, "sinus_tachycardia": 0.04, "sinus_bradycardia": 0.035,
    "sinus_arrhythmia": 0.03, "atrial_flutter": 0.01, "paced": 0.015,
}
NORMAL_RHYTHMS: dict[str, float] = {"sinus": 0.93, "sinus_arrhythmia": 0.04, "sinus_bradycardia": 0.015, "sinus_tachycardia": 0.015}
EXTRAS: dict[str, float] = {"premature_ventricular": 0.06, "premature_atrial": 0.025, "low_voltage": 0.02}
# Findings that a paced or fibrillating heart cannot show.
EXCLUDED_BY: dict[str, set[str]] = {
    "paced": {"left_bundle_branch_block", "right_bundle_branch_block", "left_anterior_fascicular_block",
              "first_degree_av_block", "left_ventricular_hypertrophy", "premature_atrial"},
    "atrial_fibrillation": {"first_degree_av_block", "premature_atrial"},
    "atrial_flutter": {"first_degree_av_block", "premature_atrial"},
}
ACUTE_TO_OLD = {"acute_inferior_mi": "old_inferior_mi", "acute_anterior_mi": "old_anterior_mi", "acute_lateral_mi": "old_lateral_mi"}


@dataclass(frozen=True)
class RecordPlan:
    """Everything needed to draw and describe one cohort record."""

    ecg_id: int
    patient_id: int
    age: int
    sex: Literal["M", "F"]
    height: float | None
    weight: float | None
    recording_date: str
    conditions: dict[str, float]
    noise: NoiseSpec
    primary_class: str
    nurse: int
    site: int
    device: str
    strat_fold: int = 0
    visit: int = 1
    extra: dict[str, str] = field(default_factory=dict)


def _pick(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = list(weights)
    probabilities = np.array([weights[name] for name in names], dtype=float)
    return str(rng.choice(names, p=probabilities / probabilities.sum()))


def _draw_conditions(rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """(primary class, {condition: severity}) for a new record."""
    primary = _pick(PRIMARY_CLASSES, rng)
    table = statements()
    if primary == "NORM":
        rhythm = _pick(NORMAL_RHYTHMS, rng)
        conditions = {"normal": 0.0}
        if rhythm != "sinus":
            conditions[rhythm] = float(rng.uniform(0.0, 0.25))  # borderline rates stay normal ECGs
        return primary, conditions
    weights = {name: table[code].prevalence + 0.004 for name, code in CLASS_MEMBERS[primary].items()}
    conditions = {_pick(weights, rng): float(rng.uniform())}
    for other, share in (("STTC", 0.12), ("CD", 0.1), ("HYP", 0.05)):
        if other != primary and rng.uniform() < share:
            candidates = {name: table[code].prevalence + 0.004 for name, code in CLASS_MEMBERS[other].items()}
            conditions[_pick(candidates, rng)] = float(rng.uniform())
    for name, share in EXTRAS.items():
        if rng.uniform() < share:
            conditions[name] = float(rng.uniform())
    rhythm = _pick(RHYTHMS, rng)
    if rhythm != "sinus":
        conditions[rhythm] = float(rng.uniform())
    return primary, _consistent(conditions)


def _consistent(conditions: dict[str, float]) -> dict[str, float]:
    """Drop findings the rhythm rules out; keep one bundle-branch block and one MI stage per territory."""
    for rhythm, excluded in EXCLUDED_BY.items():
        if rhythm in conditions:
            conditions = {name: s for name, s in conditions.items() if name not in excluded}
    if "left_bundle_branch_block" in conditions:
        conditions.pop("right_bundle_branch_block", None)
        conditions.pop("left_anterior_fascicular_block", None)
    for acute, old in ACUTE_TO_OLD.items():
        if acute in conditions:
            conditions.pop(old, None)
    return conditions


def _evolve(conditions: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """A follow-up visit: acute infarcts become old ones, findings drift, some appear."""
    evolved: dict[str, float] = {}
    for name, severity in conditions.items():
        name = ACUTE_TO_OLD.get(name, name)
        if name in ("sinus_tachycardia", "sinus_arrhythmia", "premature_atrial", "premature_ventricular") and rng.uniform() < 0.5:
            continue  # transient findings often are gone at the next visit
        evolved[name] = float(np.clip(severity + rng.normal(0.08, 0.1), 0, 1))
    if rng.uniform() < 0.12:
        new = str(rng.choice(["atrial_fibrillation", "left_ventricular_hypertrophy", "first_degree_av_block", "t_inversion"]))
        evolved[new] = float(rng.uniform())
    findings = [name for name in evolved if name != "normal" and name not in NORMAL_RHYTHMS]
    if findings:
        evolved.pop("normal", None)  # a new finding makes the ECG abnormal
    elif "normal" in evolved:
        evolved = {name: (0.0 if name == "normal" else min(s, 0.25)) for name, s in evolved.items()}
    if not evolved:
        evolved = {"normal": 0.0}
    return _consistent(evolved)


def _noise(rng: np.random.Generator) -> NoiseSpec:
    """Mostly clean recordings; PTB-XL flags roughly 7% drift, 15% static, 3% burst noise."""
    roll = rng.uniform()
    if roll < 0.72:
        return NoiseSpec(baseline_mv=float(rng.uniform(0.0, 0.05)), muscle_mv=float(rng.uniform(0.0, 0.008)))
    if roll < 0.84:
        return NoiseSpec(baseline_mv=float(rng.uniform(0.1, 0.3)), muscle_mv=0.004)
    if roll < 0.95:
        return NoiseSpec(baseline_mv=0.03, muscle_mv=float(rng.uniform(0.02, 0.035)),
                         powerline_mv=float(rng.choice([0.0, rng.uniform(0.02, 0.05)])))
    return NoiseSpec(baseline_mv=0.05, muscle_mv=0.005, motion_mv=float(rng.uniform(0.2, 0.6)))


def plan_cohort(n: int, seed: int) -> list[RecordPlan]:
    """n record plans: patients with 1-3 visits, stratified patient-disjoint folds 1-10."""
    rng = np.random.default_rng([seed, 2025])
    plans: list[RecordPlan] = []
    patient = 0
    while len(plans) < n:
        patient += 1
        visits = int(rng.choice([1, 2, 3], p=[0.72, 0.2, 0.08]))
        sex: Literal["M", "F"] = "F" if rng.uniform() < 0.48 else "M"
        age = int(np.clip(rng.normal(60, 17), 18, 95))
        height = float(round(rng.normal(178 if sex == "M" else 165, 7))) if rng.uniform() < 0.35 else None
        weight = float(round(rng.normal(82 if sex == "M" else 68, 12))) if rng.uniform() < 0.45 else None
        date = dt.datetime(1989, 1, 1) + dt.timedelta(seconds=int(rng.uniform(0, 12 * 365 * 86400)))
        primary, conditions = _draw_conditions(rng)
        for visit in range(1, visits + 1):
            if len(plans) >= n:
                break
            if visit > 1:
                gap_days = int(rng.uniform(20, 1500))
                date += dt.timedelta(days=gap_days, seconds=int(rng.uniform(0, 36000)))
                age = min(age + gap_days // 365, 99)
                conditions = _evolve(conditions, rng)
            plans.append(
                RecordPlan(
                    ecg_id=len(plans) + 1, patient_id=patient, age=age, sex=sex, height=height,
                    weight=weight, recording_date=date.strftime("%Y-%m-%d %H:%M:%S"),
                    conditions=dict(conditions), noise=_noise(rng), primary_class=primary,
                    nurse=int(rng.integers(0, 12)), site=int(rng.integers(0, 50)),
                    device=str(rng.choice(["CS-12", "CS-12   E", "AT-6 C", "AT-60    3", "CS100    3"])),
                    visit=visit,
                )
            )
    return assign_folds(plans, rng)


def assign_folds(plans: list[RecordPlan], rng: np.random.Generator) -> list[RecordPlan]:
    """Folds 1-10, whole patients per fold, each primary class spread evenly over folds."""
    first_class: dict[int, str] = {}
    for plan in plans:
        first_class.setdefault(plan.patient_id, plan.primary_class)
    fold_of: dict[int, int] = {}
    for label in sorted(set(first_class.values())):
        patients = [p for p, c in first_class.items() if c == label]
        rng.shuffle(patients)
        offset = int(rng.integers(0, 10))
        for index, patient in enumerate(patients):
            fold_of[patient] = (index + offset) % 10 + 1
    from dataclasses import replace

    return [replace(plan, strat_fold=fold_of[plan.patient_id]) for plan in plans]
