"""Answer vocabularies per question kind: what a closed question may offer as options.

Diagnosis / waveform / rhythm options are the SCP-ECG statements of that kind
(PTB-XL's grouping) plus the dimension's normal phrasing; Misc kinds are small closed
sets derived from measurements and PTB-XL's metadata columns (axis class, rate band,
noise, infarct stage, ectopy). The correct option and the distractors of a kind come
from the same vocabulary, so no option text carries a prior by belonging to it.
"""

from __future__ import annotations

from dataclasses import dataclass
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

ANSWER_THRESHOLD = 60.0  # findings below it are hedged ("possible ..."), never replaced by normal

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
NO_INFARCTION = "no myocardial infarction"  # the fourth class: true where NORM rules any infarct out
INFARCT_UNKNOWN = NO_INFARCTION  # former name, kept for callers
ECTOPY_CLASSES = {
    "PVC": "ventricular premature complexes",
    "PAC": "atrial premature complexes",
    "PACE": "paced beats",
    "none": "no ectopic beats",
}

# Margins around class borders: a measured value this close to a border never decides
# an answer (measurement error of `measure` is a few degrees / beats).
AXIS_BORDERS = (-90.0, -30.0, 90.0, 180.0)
AXIS_MARGIN_DEG = 10.0
RATE_BORDERS = (50.0, 60.0, 100.0)
RATE_MARGIN_BPM = 3.0

MISC_SUBTOPICS = ("axis", "rate", "noise", "infarct_stage", "ectopy")


@cache
def dimension_codes(dimension: str) -> tuple[str, ...]:
    """SCP codes that can be options for a dimension, in PTB-XL frequency order."""
    kind = DIMENSION_KIND[dimension]
    return tuple(code for code, statement in statements().items() if kind in statement.kinds)


def describe_code(code: str) -> str:
    return statements()[code].description


def answer_vocabulary(kind: str) -> tuple[str, ...]:
    """Every option text a closed item of this kind may carry, answers and distractors alike."""
    if kind in DIMENSION_KIND:
        texts = [describe_code(code) for code in dimension_codes(kind)]
        return tuple(dict.fromkeys([*texts, NORMAL_PHRASES[kind]]))
    classes = {
        "misc:axis": AXIS_CLASSES,
        "misc:rate": RATE_BANDS,
        "misc:noise": tuple(NOISE_CLASSES.values()),
        "misc:infarct_stage": (*INFARCT_STAGES.values(), NO_INFARCTION),
        "misc:ectopy": tuple(ECTOPY_CLASSES.values()),
    }
    return classes[kind]


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


def near_axis_border(axis_deg: float) -> bool:
    """Within AXIS_MARGIN_DEG of a class border (angles wrap at +-180)."""
    return any(abs((axis_deg - border + 180) % 360 - 180) < AXIS_MARGIN_DEG for border in AXIS_BORDERS)


def near_rate_border(hr_bpm: float) -> bool:
    return any(abs(hr_bpm - border) < RATE_MARGIN_BPM for border in RATE_BORDERS)


@dataclass(frozen=True)
class MiscFact:
    """A misc kind's answer for one record: the true class and classes that must not be distractors."""

    answer: str
    excluded: tuple[str, ...]  # the answer plus any other class that is also true


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


def _axis_fact(description: RecordDescription) -> MiscFact | None:
    axis = description.measurements.get("axis_deg")
    if axis is None or near_axis_border(float(axis)):
        return None
    answer = axis_class(float(axis))
    labels = description.labels
    # A fascicular block fixes the axis class; a measured value that disagrees is not trusted.
    if ("LAFB" in labels and answer != AXIS_CLASSES[1]) or ("LPFB" in labels and answer != AXIS_CLASSES[2]):
        return None
    return MiscFact(answer, (answer,))


def _rate_fact(description: RecordDescription) -> MiscFact | None:
    rate = description.measurements.get("hr_bpm")
    if rate is None or near_rate_border(float(rate)):
        return None
    answer = rate_band(float(rate))
    labels = description.labels
    if ("STACH" in labels and answer != RATE_BANDS[3]) or ("SBRAD" in labels and answer not in RATE_BANDS[:2]):
        return None
    return MiscFact(answer, (answer,))


def _noise_fact(description: RecordDescription) -> MiscFact | None:
    if not description.noise_shown:
        return None
    present = [NOISE_CLASSES[flag] for flag in description.noise if flag in NOISE_CLASSES]
    return MiscFact(present[0] if present else NOISE_CLASSES["none"], tuple(present) or (NOISE_CLASSES["none"],))


def _infarct_fact(description: RecordDescription) -> MiscFact | None:
    from heartcare.agent.hierarchy import compatible

    if description.infarct_stage in INFARCT_STAGES:
        answer = INFARCT_STAGES[description.infarct_stage]
        return MiscFact(answer, (answer,))
    # "No infarction" only where the labels rule every infarct out: NORM stated and no MI code open.
    stated = {code for code, value in description.certain_labels().items() if value >= ANSWER_THRESHOLD}
    table = statements()
    infarcts = {code for code in compatible(description.labels) if code in table and table[code].diagnostic_class == "MI"}
    if "NORM" in stated and not infarcts and not description.infarct_stage:
        return MiscFact(NO_INFARCTION, (NO_INFARCTION,))
    return None


def _ectopy_fact(description: RecordDescription) -> MiscFact | None:
    present = ectopy_classes(description)
    # Premature complexes of unknown origin leave PVC vs PAC open: no safe answer without one.
    unknown_origin = {"PRC(S)", "BIGU", "TRIGU"} & set(description.labels)
    if unknown_origin:
        if present == [ECTOPY_CLASSES["none"]]:
            return None
        present = list(dict.fromkeys([*present, ECTOPY_CLASSES["PVC"], ECTOPY_CLASSES["PAC"]]))
    return MiscFact(present[0], tuple(present))


MISC_FACTS = {
    "axis": _axis_fact,
    "rate": _rate_fact,
    "noise": _noise_fact,
    "infarct_stage": _infarct_fact,
    "ectopy": _ectopy_fact,
}


def misc_facts(description: RecordDescription) -> dict[str, MiscFact]:
    """Misc subtopic -> fact, only for subtopics the record answers safely (margins, label agreement)."""
    facts = {name: rule(description) for name, rule in MISC_FACTS.items()}
    return {name: fact for name, fact in facts.items() if fact is not None}
