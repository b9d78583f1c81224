"""GE MUSE resting ECG XML (`<RestingECG>`): base64 int16 leads, measurements, statements.

Each `<Waveform>` (type "Rhythm" or "Median") holds one `<LeadData>` per stored lead:
base64 little-endian int16 samples in `<WaveFormData>`, scaled by
`<LeadAmplitudeUnitsPerBit>` in `<LeadAmplitudeUnits>` (microvolts), sampled at
`<SampleBase>` x 10^`<SampleExponent>` Hz. MUSE stores only I, II and V1-V6: III, aVR,
aVL and aVF are linear in I and II, so `to_ecg` derives them (listed in
`meta["derived_leads"]`). The cart's `<RestingECGMeasurements>` and
`<Diagnosis>` statements go to `meta` under the keys the DICOM reader uses.
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
    parse_age,
    parse_sex,
)
from heartcare.ecg.xml_document import decode_base64, required_number, stack_leads, text_of
from heartcare.errors import LeadError, UnreadableFileError

# <RestingECGMeasurements> element -> device measurement key.
MUSE_MEASUREMENTS: dict[str, str] = {
    "VentricularRate": "hr_bpm", "PRInterval": "pr_ms", "QRSDuration": "qrs_ms",
    "QTInterval": "qt_ms", "QTCorrected": "qtc_ms", "PAxis": "p_axis_deg",
    "RAxis": "axis_deg", "TAxis": "t_axis_deg",
}
# MUSE's spelled-out amplitude units -> the units `millivolt_factor` knows.
MUSE_UNITS: dict[str, str] = {"MICROVOLTS": "uV", "MILLIVOLTS": "mV", "VOLTS": "V"}


def decode_waveform(waveform: Element, path: Path) -> RawRecording:
    """[leads, samples] mV of one `<Waveform>`, leads in file order."""
    kind = text_of(waveform, "WaveformType") or "waveform"
    what = f"{kind} waveform"
    base = required_number(waveform, "SampleBase", path)
    exponent = float(text_of(waveform, "SampleExponent") or 0)
    leads = waveform.findall("LeadData")
    if not leads:
        raise LeadError(path, f"{what} holds no <LeadData>")
    rows, names, units = [], [], []
    for lead in leads:
        name = text_of(lead, "LeadID")
        if name is None:
            raise UnreadableFileError(path, f"{what}: a <LeadData> lacks <LeadID>")
        data = decode_base64(text_of(lead, "WaveFormData"), path, f"{what} lead {name} <WaveFormData>")
        if len(data) % 2:
            raise UnreadableFileError(path, f"{what} lead {name}: odd byte count {len(data)} for int16 samples")
        samples = np.frombuffer(data, dtype="<i2")
        expected = text_of(lead, "LeadSampleCountTotal")
        if expected is not None and expected.isdigit() and len(samples) < int(expected):
            raise UnreadableFileError(
                path, f"{what} lead {name}: truncated, {len(samples)} samples of {expected} declared"
            )
        samples = samples[: int(expected)] if expected is not None and expected.isdigit() else samples
        unit_text = (text_of(lead, "LeadAmplitudeUnits") or "MICROVOLTS").upper()
        unit = MUSE_UNITS.get(unit_text, unit_text)
        scale = required_number(lead, "LeadAmplitudeUnitsPerBit", path)
        rows.append(samples.astype(np.float64) * scale * millivolt_factor(unit, path))
        names.append(name)
        units.append(unit)
    return RawRecording(signal=stack_leads(rows, names, path, what), fs=base * 10**exponent,
                        lead_names=names, units=units)


def statements(root: Element) -> list[str]:
    """Diagnosis lines: MUSE splits a line over several statements and ends it with ENDSLINE."""
    lines: list[str] = []
    current: list[str] = []
    diagnosis = root.find("Diagnosis")
    entries = [] if diagnosis is None else diagnosis.findall("DiagnosisStatement")
    flagged = any(flag.text and flag.text.strip() == "ENDSLINE" for entry in entries for flag in entry.findall("StmtFlag"))
    for entry in entries:
        text = text_of(entry, "StmtText")
        if text:
            current.append(text)
        ends = any(flag.text and flag.text.strip() == "ENDSLINE" for flag in entry.findall("StmtFlag"))
        if current and (ends or not flagged):
            lines.append(" ".join(current))
            current = []
    if current:
        lines.append(" ".join(current))
    return lines


def read_muse(root: Element, path: Path) -> RawRecording:
    """Decode a MUSE `<RestingECG>` root: the rhythm waveform, median beats, cart findings."""
    waveforms = root.findall("Waveform")
    by_type = {(text_of(w, "WaveformType") or "").lower(): w for w in waveforms}
    rhythm = by_type.get("rhythm") or next((w for w in waveforms if w is not by_type.get("median")), None)
    if rhythm is None:
        raise UnreadableFileError(path, "MUSE <RestingECG> holds no rhythm <Waveform>")
    raw = decode_waveform(rhythm, path)
    if "median" in by_type:
        raw.median_beats = decode_waveform(by_type["median"], path)
    measured = root.find("RestingECGMeasurements")
    values = {key: text_of(measured, tag) for tag, key in MUSE_MEASUREMENTS.items()}
    demographics = root.find("PatientDemographics")
    test = root.find("TestDemographics")
    age = text_of(demographics, "PatientAge")
    age_units = (text_of(demographics, "AgeUnits") or "YEARS").upper()
    meta: dict[str, Any] = {
        "patient_id": text_of(demographics, "PatientID"),
        "age": parse_age(age) if age_units.startswith("YEAR") else None,
        "sex": parse_sex(text_of(demographics, "Gender")),
        "recording_date": " ".join(filter(None, (text_of(test, "AcquisitionDate"), text_of(test, "AcquisitionTime"))))
        or None,
        "device_measurements": device_measurements({k: v for k, v in values.items() if v is not None}),
        "device_statements": statements(root),
    }
    raw.meta.update(meta)
    return raw
