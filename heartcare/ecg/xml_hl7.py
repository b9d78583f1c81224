"""HL7 v3 annotated ECG (`<AnnotatedECG xmlns="urn:hl7-org:v3">`, the FDA aECG format).

A `<series>` (code RHYTHM) holds a `<sequenceSet>` of `<sequence>`s: one time sequence
(`TIME_ABSOLUTE`/`TIME_RELATIVE`, a `GLIST` whose `<increment>` is the sampling
interval) and one per lead, coded `MDC_ECG_LEAD_I` ... `MDC_ECG_LEAD_V6`, whose
`SLIST_PQ` value gives `<digits>` with physical value = origin + scale x digit in the
units each carries. Representative beats are a `<derivedSeries>` (code
REPRESENTATIVE_BEAT). Global `<annotation>`s with MDC codes carry the cart's
measurements and interpretation statements, which go to `meta` like the DICOM reader's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from heartcare.ecg.raw import (
    RawRecording,
    device_measurements,
    millivolt_factor,
    parse_number,
    parse_sex,
)
from heartcare.ecg.xml_document import parse_integers
from heartcare.errors import LeadError, SamplingRateError, UnreadableFileError

# MDC annotation code (upper case, "_GL" global suffix removed) -> device measurement key.
HL7_MEASUREMENTS: dict[str, str] = {
    "MDC_ECG_HEART_RATE": "hr_bpm", "MDC_ECG_TIME_PD_RR": "rr_ms", "MDC_ECG_TIME_PD_PR": "pr_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms", "MDC_ECG_TIME_PD_QT": "qt_ms", "MDC_ECG_TIME_PD_QTC": "qtc_ms",
    "MDC_ECG_TIME_PD_QTCB": "qtc_ms", "MDC_ECG_ANGLE_P_FRONT": "p_axis_deg",
    "MDC_ECG_ANGLE_QRS_FRONT": "axis_deg", "MDC_ECG_ANGLE_T_FRONT": "t_axis_deg",
}
# Time units of an `<increment>` -> seconds, and of an interval annotation -> milliseconds.
TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
MILLISECONDS: dict[str, float] = {"s": 1000.0, "ms": 1.0, "us": 1e-3}


def code_of(element: Element) -> str:
    code = element.find("code")
    return "" if code is None else (code.get("code") or "").strip()


def physical(quantity: Element | None, path: Path, what: str) -> float:
    """mV value of an `<origin>`/`<scale>` PQ (value + unit); absent origin is 0."""
    if quantity is None:
        return 0.0
    value = parse_number(quantity.get("value"))
    if value is None:
        raise UnreadableFileError(path, f"{what} has no numeric value")
    return value * millivolt_factor(quantity.get("unit") or "uV", path)


def decode_sequence_set(holder: Element, path: Path, what: str) -> RawRecording:
    """The leads [leads, samples] mV and fs of the `<sequenceSet>` under `holder`."""
    sequences = holder.findall("component/sequenceSet/component/sequence")
    fs, rows, names = None, [], []
    for sequence in sequences:
        code = code_of(sequence)
        value = sequence.find("value")
        if value is None:
            continue
        if code.upper().startswith("TIME_"):
            increment = value.find("increment")
            step = None if increment is None else parse_number(increment.get("value"))
            factor = TIME_UNITS.get((increment.get("unit") if increment is not None else "s") or "s")
            if not step or step <= 0 or factor is None:
                raise SamplingRateError(path, f"{what}: time sequence has no usable <increment>")
            fs = 1.0 / (step * factor)
            continue
        digits = value.find("digits")
        if digits is None:
            continue
        origin = physical(value.find("origin"), path, f"{what} {code} <origin>")
        if value.find("scale") is None:
            raise UnreadableFileError(path, f"{what} {code} lacks the <scale> its digits are multiplied by")
        scale = physical(value.find("scale"), path, f"{what} {code} <scale>")
        rows.append(origin + scale * parse_integers(digits.text, path, f"{what} {code} <digits>").astype(np.float64))
        names.append(code)
    if not rows:
        raise LeadError(path, f"{what} holds no lead sequences")
    if fs is None:
        raise SamplingRateError(path, f"{what} has no time sequence giving the sampling interval")
    length = min(len(row) for row in rows)
    if any(len(row) != length for row in rows):
        raise UnreadableFileError(path, f"{what}: lead sequences differ in length")
    return RawRecording(signal=np.stack(rows), fs=fs, lead_names=names, units=["mV"] * len(names))


def findings(root: Element) -> tuple[dict[str, float], list[str]]:
    """First global value of each measurement annotation, and every interpretation text."""
    values: dict[str, Any] = {}
    lines: list[str] = []
    for annotation in root.iter("annotation"):
        code = code_of(annotation).upper().removesuffix("_GL")
        value = annotation.find("value")
        if value is None:
            continue
        text = (value.text or "").strip()
        if "INTERPRETATION" in code and text:
            lines.append(text)
        key = HL7_MEASUREMENTS.get(code)
        number = parse_number(value.get("value"))
        if key is None or key in values or number is None:
            continue
        unit = (value.get("unit") or "").strip()
        if key.endswith("_ms") and unit in MILLISECONDS:
            number = number * MILLISECONDS[unit]
        values[key] = number
    return device_measurements(values), lines


def read_hl7(root: Element, path: Path) -> RawRecording:
    """Decode an HL7 `<AnnotatedECG>` root: the rhythm series, representative beats, findings."""
    series = root.findall(".//series")
    if not series:
        raise UnreadableFileError(path, "HL7 <AnnotatedECG> holds no <series>")
    rhythm = next((item for item in series if code_of(item).upper() == "RHYTHM"), series[0])
    raw = decode_sequence_set(rhythm, path, "rhythm <series>")
    for derived in rhythm.findall("derivation/derivedSeries"):
        if code_of(derived).upper() == "REPRESENTATIVE_BEAT":
            raw.median_beats = decode_sequence_set(derived, path, "representative-beat <derivedSeries>")
            break
    measured, lines = findings(root)
    gender = root.find(".//administrativeGenderCode")
    subject = root.find(".//trialSubject/id")
    effective = root.find("effectiveTime/low")
    raw.meta.update({
        "patient_id": None if subject is None else subject.get("extension") or subject.get("root"),
        "sex": parse_sex(None if gender is None else gender.get("code")),
        "recording_date": None if effective is None else effective.get("value"),
        "record_id": (root.find("id").get("root") if root.find("id") is not None else None),  # type: ignore[union-attr]
        "device_measurements": measured,
        "device_statements": lines,
    })
    return raw
