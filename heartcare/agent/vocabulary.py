"""Answer vocabularies per dimension: what a closed question may offer as options.

Diagnosis / waveform / rhythm options are the SCP-ECG statements of that kind
(PTB-XL's grouping); Misc has small closed sets derived from measurements and
PTB-XL's metadata columns (axis class, rate band, noise, infarct stage, ectopy).
"""

from __future__ import annotations

from functools import cache

from heartcare.agent.description import RecordDescription
from heartcare.sources.scp import statements

# The dimension -> SCP statement kind whose codes answer it.
DIMENSION_KIND = {"diagnosis": "diagnostic", "waveform": "form", "rhythm": "rhythm"}

# What the answer is when nothing in the dimension reaches the likelihood threshold.
NORMAL_PHRASES = {
    "diagnosis": "normal ECG",
    "waveform": "no significant waveform abnormality",
    "rhythm": "sinus rhythm",
}
NORMAL_CODES = {"diagnosis": "NORM", "rhythm": "SR"}  # codes that mean the normal phrase

ANSWER_THRESHOLD = 60.0  # paper: the answer is the top label only when its likelihood >= 60

AXIS_CLASSES = ("normal axis", "left axis deviation", "right axis deviation", "extreme axis deviation")
RATE_BANDS = ("under 50 bpm", "50 to 59 bpm", "60 to 100 bpm", "over 100 bpm")
NOISE_CLASSES = {
    "none": "no relevant noise",
    "baseline_drift": "baseline drift",
    "static_noise": "static noise",
    "burst_noise": "burst noise",
    "electrodes_problems": "electrode problems",
}
INFARCT_STAGES = {
    "Stadium I": "acute infarction (stage I)",
    "Stadium II": "recent infarction (stage II)",
    "Stadium III": "old infarction (stage III)",
}
INFARCT_UNKNOWN = "no infarction staging possible"
ECTOPY_CLASSES = {
    "PVC": "ventricular premature complexes",
    "PAC": "atrial premature complexes",
    "PACE": "paced beats",
    "none": "no ectopic beats",
}


@cache
def dimension_codes(dimension: str) -> tuple[str, ...]:
    """SCP codes that can be options for a dimension, in PTB-XL frequency order."""
    kind = DIMENSION_KIND[dimension]
    return tuple(code for code, statement in statements().items() if kind in statement.kinds)


def describe_code(code: str) -> str:
    return statements()[code].description


def axis_class(axis_deg: float) -> str:
    """Frontal axis classes with the usual -30/+90 degree borders."""
    if -30 <= axis_deg <= 90:
        return AXIS_CLASSES[0]
    if -90 <= axis_deg < -30:
        return AXIS_CLASSES[1]
    if 90 < axis_deg <= 180:
        return AXIS_CLASSES[2]
    return AXIS_CLASSES[3]


def rate_band(hr_bpm: float) -> str:
    if hr_bpm < 50:
        return RATE_BANDS[0]
    if hr_bpm < 60:
        return RATE_BANDS[1]
    if hr_bpm <= 100:
        return RATE_BANDS[2]
    return RATE_BANDS[3]


def ectopy_classes(description: RecordDescription) -> list[str]:
    """Ectopy classes present, strongest first (PVC, PAC, paced); PTB-XL `extra_beats` helps."""
    labels = description.labels
    extra = (description.extra_beats or "").upper()
    present = []
    if "PVC" in labels or "VES" in extra.replace("SVES", ""):
        present.append(ECTOPY_CLASSES["PVC"])
    if "PAC" in labels or "SVES" in extra:
        present.append(ECTOPY_CLASSES["PAC"])
    if "PACE" in labels or description.pacemaker:
        present.append(ECTOPY_CLASSES["PACE"])
    return present or [ECTOPY_CLASSES["none"]]


def misc_facts(description: RecordDescription) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Misc subtopic -> (true class, every class offered). Only subtopics the record informs."""
    facts: dict[str, tuple[str, tuple[str, ...]]] = {}
    measurements = description.measurements
    if measurements.get("axis_deg") is not None:
        facts["axis"] = (axis_class(float(measurements["axis_deg"])), AXIS_CLASSES)
    if measurements.get("hr_bpm") is not None:
        facts["rate"] = (rate_band(float(measurements["hr_bpm"])), RATE_BANDS)
    noise_present = [flag for flag in description.noise if flag in NOISE_CLASSES]
    noise_truth = NOISE_CLASSES[noise_present[0]] if noise_present else NOISE_CLASSES["none"]
    # Only a class that is surely absent may become a distractor, so noise options
    # exclude the other present flags.
    noise_offered = tuple(
        text for key, text in NOISE_CLASSES.items() if key not in noise_present[1:]
    )
    facts["noise"] = (noise_truth, noise_offered)
    if description.infarct_stage in INFARCT_STAGES:
        facts["infarct_stage"] = (
            INFARCT_STAGES[description.infarct_stage],
            (*INFARCT_STAGES.values(), INFARCT_UNKNOWN),
        )
    ectopy = ectopy_classes(description)
    facts["ectopy"] = (ectopy[0], tuple(text for text in ECTOPY_CLASSES.values() if text not in ectopy[1:]))
    return facts
