"""Report generation: a structured English report in SCP-ECG terminology.

PTB-XL's own reports are mostly German device output, so the target is rebuilt from
the codes (hedged by likelihood) and from `measure`'s numbers; the original text is
kept in records.parquet for reference.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.questions.findings import closed_answer, findings, hedged_phrase
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


def _number(value: float | None, unit: str) -> str:
    return "not measurable" if value is None else f"{round(float(value))} {unit}"


def _statement_list(description: RecordDescription, dimension: str) -> str:
    ranked = findings(description, dimension)
    if not ranked:
        return NORMAL_PHRASES[dimension]
    return "; ".join(hedged_phrase(code, likelihood) for code, likelihood in ranked)


def build_report(description: RecordDescription) -> str:
    """Six sections: patient, rhythm and rate, intervals, axis, waveform, diagnosis, recommendation."""
    m = description.measurements
    sex = {"M": "male", "F": "female"}.get(description.sex or "", "sex not stated")
    age = "age not stated" if description.age is None else ("90 years or older" if description.age >= 90 else f"{description.age} years")
    rhythm, _, _ = closed_answer(description, "rhythm")
    hr = m.get("hr_bpm")
    rate = f"heart rate {_number(hr, 'bpm')}" + (f" ({rate_band(float(hr))})" if hr is not None else "")
    qt = m.get("qt_ms")
    qtc = m.get("qtc_ms")
    axis = m.get("axis_deg")
    axis_text = "not determinable" if axis is None else f"{round(float(axis))} degrees ({axis_class(float(axis))})"
    present = superclasses(description.certain_labels())
    advice = next((RECOMMENDATIONS[name] for name in RECOMMENDATIONS if name in present and name != "NORM"), RECOMMENDATIONS["NORM"])
    return "\n".join(
        [
            f"Patient: {age}, {sex}.",
            f"Rhythm and rate: {rhythm}, {rate}. All rhythm statements: {_statement_list(description, 'rhythm')}.",
            f"Intervals: PR {_number(m.get('pr_ms'), 'ms')}, QRS {_number(m.get('qrs_ms'), 'ms')}, "
            f"QT {_number(qt, 'ms')}, QTc {_number(qtc, 'ms')}.",
            f"Axis: {axis_text}.",
            f"Waveform: {_statement_list(description, 'waveform')}.",
            f"Diagnosis: {_statement_list(description, 'diagnosis')}.",
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
