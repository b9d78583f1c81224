"""English report text in the style of a cardiology read, built from the ground truth.

Rhythm and rate, axis, intervals, findings, impression; wording varies between
records (drawn with the record's generator) but every statement follows the labels
and the parameters the signal was drawn with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from heartcare.sim.simulate import GroundTruth

RHYTHM_PHRASES: dict[str, list[str]] = {
    "sinus": ["Sinus rhythm", "Normal sinus rhythm", "Regular sinus rhythm"],
    "sinus_bradycardia": ["Sinus bradycardia", "Marked sinus bradycardia"],
    "sinus_tachycardia": ["Sinus tachycardia"],
    "sinus_arrhythmia": ["Sinus arrhythmia", "Sinus rhythm with marked respiratory variation"],
    "atrial_fibrillation": ["Atrial fibrillation", "Atrial fibrillation with irregular ventricular response"],
    "atrial_flutter": ["Atrial flutter with {ratio}:1 conduction", "Atrial flutter, {ratio}:1 AV block"],
    "paced": ["Ventricular paced rhythm", "Electronic ventricular pacemaker rhythm"],
}

# condition -> (mild wording, definite wording); "{lead}" style fields are filled below.
FINDINGS: dict[str, tuple[list[str], list[str]]] = {
    "first_degree_av_block": (["borderline first degree AV block"], ["first degree AV block", "prolonged PR interval (first degree AV block)"]),
    "left_bundle_branch_block": (["left bundle branch block"], ["complete left bundle branch block", "LBBB with secondary ST-T changes"]),
    "right_bundle_branch_block": (["right bundle branch block"], ["complete right bundle branch block", "RBBB (rsR' in V1, wide S in I and V6)"]),
    "left_anterior_fascicular_block": (["left anterior fascicular block"], ["left anterior fascicular block", "left anterior hemiblock"]),
    "left_ventricular_hypertrophy": (["voltage criteria for left ventricular hypertrophy"], ["left ventricular hypertrophy with repolarisation abnormality", "LVH by voltage with strain pattern"]),
    "low_voltage": (["low QRS voltage in limb leads"], ["low QRS voltages"]),
    "old_inferior_mi": (["Q waves in II, III, aVF, possible old inferior infarct"], ["inferior infarct, age undetermined", "pathological Q waves in III and aVF consistent with old inferior myocardial infarction"]),
    "old_anterior_mi": (["poor R-wave progression, possible old anteroseptal infarct"], ["anteroseptal infarct, old", "QS complexes V1-V3 consistent with old anteroseptal myocardial infarction"]),
    "old_lateral_mi": (["Q waves in I and aVL, possible old lateral infarct"], ["lateral infarct, old", "pathological Q waves in I, aVL, V5-V6 (old lateral infarction)"]),
    "acute_inferior_mi": (["ST elevation in II, III, aVF, consider acute inferior infarction"], ["acute inferior myocardial infarction with ST elevation in II, III, aVF and reciprocal depression in I, aVL", "inferior ST-elevation infarction, acute"]),
    "acute_anterior_mi": (["ST elevation in V1-V3, consider acute anteroseptal injury"], ["acute anteroseptal myocardial infarction, ST elevation V1-V4", "anterior ST-elevation infarction, acute"]),
    "acute_lateral_mi": (["ST elevation in I, aVL, V5-V6, consider acute lateral injury"], ["acute lateral myocardial infarction with ST elevation in I, aVL, V5, V6", "lateral ST-elevation infarction, acute"]),
    "st_depression": (["minor non-specific ST depression"], ["non-specific ST depression in inferolateral leads", "ST depression, non-specific"]),
    "t_inversion": (["flat T waves, non-specific"], ["T-wave inversion, non-specific", "non-specific T-wave abnormality"]),
    "premature_ventricular": (["occasional premature ventricular complex"], ["premature ventricular complexes", "frequent ventricular extrasystoles"]),
    "premature_atrial": (["occasional premature atrial complex"], ["premature atrial complexes", "supraventricular extrasystoles"]),
}

SEVERE_GROUPS = ("acute_inferior_mi", "acute_anterior_mi", "acute_lateral_mi")


def axis_phrase(axis: float, rng: np.random.Generator) -> str:
    sign = f"{axis:+.0f} deg"
    if axis < -30:
        return str(rng.choice([f"Left axis deviation ({sign})", f"QRS axis {sign}, left axis deviation"]))
    if axis > 90:
        return str(rng.choice([f"Right axis deviation ({sign})", f"QRS axis {sign}, rightward"]))
    return str(rng.choice([f"Normal axis ({sign})", f"QRS axis {sign}, normal", f"Frontal axis {sign}"]))


def write_report(truth: GroundTruth, labels: dict[str, float], rng: np.random.Generator) -> str:
    """A few sentences: rhythm/rate, axis, intervals, findings, impression."""
    rhythm_name = next((name for name in RHYTHM_PHRASES if name in truth.conditions), truth.rhythm)
    phrase = str(rng.choice(RHYTHM_PHRASES.get(rhythm_name, RHYTHM_PHRASES["sinus"])))
    if truth.atrial_rate_bpm is not None:
        phrase = phrase.format(ratio=round(truth.atrial_rate_bpm / truth.hr_bpm))
    rate = str(rng.choice([f"rate {truth.hr_bpm:.0f} bpm", f"ventricular rate {truth.hr_bpm:.0f}/min", f"at {truth.hr_bpm:.0f} bpm"]))
    sentences = [f"{phrase}, {rate}.", axis_phrase(truth.axis_deg, rng) + "."]
    intervals = []
    if truth.pr_ms is not None:
        intervals.append(f"PR {truth.pr_ms:.0f} ms")
    intervals.append(f"QRS {truth.qrs_ms:.0f} ms")
    if truth.qt_ms is not None and truth.qtc_ms is not None:  # None: T wave too flat to end
        intervals.append(f"QT/QTc {truth.qt_ms:.0f}/{truth.qtc_ms:.0f} ms")
    sentences.append(", ".join(intervals) + ".")
    findings = []
    for name, severity in truth.conditions.items():
        if name in FINDINGS:
            mild, definite = FINDINGS[name]
            findings.append(str(rng.choice(mild if severity < 0.2 else definite)))
    if findings:
        sentences.append(findings[0][0].upper() + findings[0][1:] + "".join(f"; {f}" for f in findings[1:]) + ".")
    if truth.noise_flags.get("baseline_drift") or truth.noise_flags.get("static_noise"):
        sentences.append(str(rng.choice(["Baseline artefact.", "Technically limited tracing (noise).", "Some baseline wander."])))
    if "NORM" in labels:
        impression = str(rng.choice(["Normal ECG.", "Normal electrocardiogram.", "Within normal limits."]))
    elif any(name in truth.conditions for name in SEVERE_GROUPS):
        impression = str(rng.choice(["Abnormal ECG: acute injury pattern, urgent clinical correlation.", "Abnormal ECG, consider acute STEMI."]))
    else:
        impression = str(rng.choice(["Abnormal ECG.", "Otherwise abnormal ECG.", "Borderline ECG."] if len(findings) <= 1 else ["Abnormal ECG."]))
    sentences.append(f"Impression: {impression}")
    return " ".join(sentences)
