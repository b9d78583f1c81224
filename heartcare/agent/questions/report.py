"""Report generation: a structured English report in SCP-ECG terminology.

PTB-XL's own reports are mostly German device output, so the target is rebuilt from
the record's `Reading` (hedged by likelihood) and from `measure`'s numbers that pass
the reading's guards; the original text is kept in records.parquet for reference.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.questions.findings import finding_clauses
from heartcare.agent.reading import Reading, reading_of
from heartcare.agent.templates import choose, fill, template_bank
from heartcare.agent.vocabulary import NORMAL_PHRASES, axis_class, rate_band
from heartcare.sources.scp import superclasses

# Superclass -> follow-up advice; the most serious present class wins (this order).
RECOMMENDATIONS = {
    "MI": "Myocardial infarction pattern: compare with prior ECGs, correlate with symptoms and cardiac biomarkers; cardiology review recommended.",
    "STTC": "ST/T changes: correlate clinically; consider evaluation for ischaemia and electrolyte or drug effects.",
    "CD": "Conduction disturbance: review medication and consider follow-up ECG or Holter monitoring.",
    "HYP": "Hypertrophy pattern: consider echocardiography and blood pressure assessment.",
    "NORM": "No acute abnormality: routine follow-up as clinically indicated.",
}


def _interval(name: str, value: float | None) -> str | None:
    return None if value is None else f"{name} {round(float(value))} ms"


def _findings_text(reading: Reading, dimension: str, empty: str) -> str:
    """A dimension's findings as one hedged clause list (the open answer's wording, no lead-in)."""
    state = reading.dimensions[dimension]
    signs = (reading.wide_qrs,) if dimension == "waveform" and reading.wide_qrs else ()
    if not state.findings and not signs:
        return NORMAL_PHRASES[dimension] if state.normal else empty
    ranked = [(finding.code, finding.likelihood, finding.plain) for finding in state.findings]
    text = finding_clauses(ranked, signs)
    return text.removeprefix("the ECG shows ")


def build_report(description: RecordDescription) -> str:
    """Seven sections: patient, rhythm and rate, intervals, axis, waveform, diagnosis, recommendation.

    Every finding comes from the record's `Reading`; a measurement is printed only where
    it exists and agrees with the labels (no PR in AF/flutter/paced rhythm, no wide QRS
    without a conduction finding, ...).
    """
    reading = reading_of(description)
    m = reading.measurements
    sex = {"M": "male", "F": "female"}.get(description.sex or "", "sex not stated")
    age = "age not stated" if description.age is None else ("90 years or older" if description.age >= 90 else f"{description.age} years")
    rhythm = _findings_text(reading, "rhythm", "rhythm not stated")
    hr = m.get("hr_bpm")
    rate = "heart rate not measurable" if hr is None else f"heart rate {round(float(hr))} bpm ({rate_band(float(hr))})"
    intervals = [
        text
        for text in (
            _interval("PR", m.get("pr_ms")),
            _interval("QRS", m.get("qrs_ms")),
            _interval("QT", m.get("qt_ms")),
            _interval("QTc", m.get("qtc_ms")),
        )
        if text
    ]
    axis = m.get("axis_deg")
    axis_text = "not determinable" if axis is None else f"{round(float(axis))} degrees ({axis_class(float(axis))})"
    present = superclasses(description.certain_labels())
    advice = next((RECOMMENDATIONS[name] for name in RECOMMENDATIONS if name in present and name != "NORM"), RECOMMENDATIONS["NORM"])
    return "\n".join(
        [
            f"Patient: {age}, {sex}.",
            f"Rhythm and rate: {rhythm}; {rate}.",
            f"Intervals: {', '.join(intervals) if intervals else 'not measurable'}.",
            f"Axis: {axis_text}.",
            f"Waveform: {_findings_text(reading, 'waveform', 'not separately described')}.",
            f"Diagnosis: {_findings_text(reading, 'diagnosis', 'not stated')}.",
            f"Recommendation: {advice}",
        ]
    )


def report_items(
    description: RecordDescription,
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("S", "I"),
    report: str | None = None,
) -> list[QaItem]:
    bank = template_bank()
    report = report or build_report(description)
    codes = sorted(description.labels)
    items = []
    for modality in modalities:
        question = fill(
            choose(rng, bank["report"]),
            patient=patient_phrase(description),
            source=choose(rng, bank["source_nouns"][modality]),
        )
        items.append(
            QaItem(
                id=item_id(description.record_id, "report", modality),
                task="report",
                dimension="diagnosis",
                modality=modality,  # type: ignore[arg-type]
                question=question,
                answer=report,
                ecgs=((description.record_id, modality),),
                meta={"codes": codes},
            )
        )
    return items
