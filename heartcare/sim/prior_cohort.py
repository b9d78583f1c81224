"""Cohort plans whose labels follow PTB-XL's label distribution (`heartcare sim cohort --label-prior ptbxl`).

Labels come from `sample_label_sets`; the signal is simulated with the conditions
those labels name where the simulator has one (AFIB -> atrial_fibrillation, CLBBB ->
left_bundle_branch_block, ...), so rate, rhythm and intervals agree with the labels;
statements without a simulator condition (IRBBB, RVH, ...) get an otherwise normal
signal. Demographics follow PTB-XL (age mean 59.8, sd 17, range 2-95; 52% male;
patients with 1-3 records: 2,127 of 18,885 PTB-XL patients have several).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np

from heartcare.sim.cohort_plan import RecordPlan, _consistent, _noise, assign_folds
from heartcare.sim.label_prior import sample_label_sets

# SCP code -> simulator condition that produces it (codes absent here leave the signal normal).
CONDITION_OF: dict[str, str] = {
    "NORM": "normal", "AFIB": "atrial_fibrillation", "AFLT": "atrial_flutter", "STACH": "sinus_tachycardia",
    "SVTAC": "sinus_tachycardia", "PSVT": "sinus_tachycardia", "SBRAD": "sinus_bradycardia",
    "SARRH": "sinus_arrhythmia", "PACE": "paced", "BIGU": "premature_ventricular", "TRIGU": "premature_ventricular",
    "SVARR": "premature_atrial", "PVC": "premature_ventricular", "PAC": "premature_atrial",
    "PRC(S)": "premature_ventricular", "CLBBB": "left_bundle_branch_block", "CRBBB": "right_bundle_branch_block",
    "LAFB": "left_anterior_fascicular_block", "1AVB": "first_degree_av_block", "LPR": "first_degree_av_block",
    "LVH": "left_ventricular_hypertrophy", "VCLVH": "left_ventricular_hypertrophy", "HVOLT": "left_ventricular_hypertrophy",
    "LVOLT": "low_voltage", "IMI": "old_inferior_mi", "ILMI": "old_inferior_mi", "IPLMI": "old_inferior_mi",
    "IPMI": "old_inferior_mi", "ASMI": "old_anterior_mi", "AMI": "old_anterior_mi", "ALMI": "old_anterior_mi",
    "LMI": "old_lateral_mi", "INJIN": "acute_inferior_mi", "INJIL": "acute_inferior_mi", "INJAS": "acute_anterior_mi",
    "INJAL": "acute_anterior_mi", "INJLA": "acute_lateral_mi", "NST_": "st_depression", "STD_": "st_depression",
    "ISC_": "st_depression", "ISCAL": "st_depression", "ISCIN": "st_depression", "ISCIL": "st_depression",
    "ISCAS": "st_depression", "ISCLA": "st_depression", "ISCAN": "st_depression", "NDT": "t_inversion",
    "INVT": "t_inversion", "NT_": "t_inversion", "TAB_": "t_inversion",
}
# Severity range by likelihood: surer statements describe clearer findings; 0 = stated, sureness unknown.
SEVERITY_RANGE: dict[float, tuple[float, float]] = {
    100.0: (0.5, 1.0), 80.0: (0.35, 0.8), 50.0: (0.2, 0.6), 35.0: (0.05, 0.35), 15.0: (0.0, 0.3), 0.0: (0.3, 1.0),
}
RECORDS_PER_PATIENT = {1: 0.8874, 2: 0.0689, 3: 0.0437}  # PTB-XL: 21,837 records of 18,885 patients
KEEP_LABELS_AT_FOLLOW_UP = 0.5  # a follow-up repeats the last reading or is a fresh draw: both keep the marginals
SUPERCLASS_ORDER = ("MI", "STTC", "CD", "HYP")


def conditions_for(labels: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Simulator conditions (with severities) that show the labels' findings."""
    if "NORM" in labels:
        # A normal ECG keeps borderline variants mild, like the default cohort's normal records.
        return {"normal": 0.0, **({"sinus_arrhythmia": float(rng.uniform(0.0, 0.25))} if "SARRH" in labels else {})}
    conditions: dict[str, float] = {}
    for code, likelihood in labels.items():
        name = CONDITION_OF.get(code)
        if name is None:
            continue
        low, high = SEVERITY_RANGE.get(likelihood, SEVERITY_RANGE[0.0])
        severity = 1.0 if code in ("BIGU", "TRIGU") else float(rng.uniform(low, high))  # a pattern needs several ectopics
        conditions[name] = max(conditions.get(name, 0.0), severity)
    return _consistent(conditions)


def report_for(labels: dict[str, float]) -> str:
    """PTB-XL-style English report: one lower-case statement per code, hedged below likelihood 50."""
    from heartcare.sources.scp import statements

    table = statements()
    parts = []
    for code, likelihood in labels.items():
        hedge = "possible " if 0 < likelihood < 50 else "probable " if likelihood == 50 else ""
        parts.append(f"{hedge}{table[code].description.lower()}.")
    return " ".join(parts)


def primary_class(labels: dict[str, float]) -> str:
    """The superclass folds are stratified on: NORM, the first abnormal superclass present, or OTHER."""
    from heartcare.sources.scp import statements

    classes = {statements()[code].diagnostic_class for code in labels}
    if "NORM" in classes:
        return "NORM"
    return next((name for name in SUPERCLASS_ORDER if name in classes), "OTHER")


def prior_plans(n: int, seed: int) -> list[RecordPlan]:
    """n record plans with PTB-XL-distributed labels (in `extra["scp_codes"]`) and demographics."""
    rng = np.random.default_rng([seed, 2026])
    fresh = sample_label_sets(n, seed)
    plans: list[RecordPlan] = []
    patient = 0
    while len(plans) < n:
        patient += 1
        visits = int(rng.choice(list(RECORDS_PER_PATIENT), p=list(RECORDS_PER_PATIENT.values())))
        sex: Literal["M", "F"] = "M" if rng.uniform() < 0.52 else "F"
        age = int(np.clip(round(rng.normal(59.8, 17.0)), 2, 95))
        date = dt.datetime(1989, 1, 1) + dt.timedelta(seconds=int(rng.uniform(0, 12 * 365 * 86400)))
        labels = fresh[len(plans)]
        for visit in range(1, visits + 1):
            if len(plans) >= n:
                break
            if visit > 1:
                gap_days = int(rng.uniform(20, 1500))
                date += dt.timedelta(days=gap_days, seconds=int(rng.uniform(0, 36000)))
                age = min(age + gap_days // 365, 95)
                labels = labels if rng.uniform() < KEEP_LABELS_AT_FOLLOW_UP else fresh[len(plans)]
            plans.append(
                RecordPlan(
                    ecg_id=len(plans) + 1, patient_id=patient, age=age, sex=sex, height=None, weight=None,
                    recording_date=date.strftime("%Y-%m-%d %H:%M:%S"), conditions=conditions_for(labels, rng),
                    noise=_noise(rng), primary_class=primary_class(labels), nurse=int(rng.integers(0, 12)),
                    site=int(rng.integers(0, 50)), device="CS-12", visit=visit,
                    extra={"scp_codes": repr(labels), "report": report_for(labels)},
                )
            )
    return assign_folds(plans, rng)
