"""GE CardioSoft XML (`<CardiologyXML>`, e.g. UK Biobank): comma-separated leads and findings.

The 10-second 12-lead strip is `<StripData>`: one `<WaveformData lead="I">` per lead,
integers separated by commas, `<Resolution units="uVperLsb">` per integer. When a file
has no strip (exercise tests), the continuous `<FullDisclosure>` recording is read
instead: `<FullDisclosureData>` interleaves the channels sample by sample in the order
of `<LeadOrder>`. Median beats are `<RestingECGMeasurements>/<MedianSamples>`; the
cart's measurements and `<Interpretation>` text go to `meta` like the DICOM reader's.
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
from heartcare.ecg.xml_document import parse_integers, required_number, stack_leads, text_of
from heartcare.errors import LeadError, UnreadableFileError

# <RestingECGMeasurements> element -> device measurement key (PQ is CardioSoft's PR).
CARDIOSOFT_MEASUREMENTS: dict[str, str] = {
    "VentricularRate": "hr_bpm", "RRInterval": "rr_ms", "PQInterval": "pr_ms",
    "QRSDuration": "qrs_ms", "QTInterval": "qt_ms", "QTCInterval": "qtc_ms",
    "PAxis": "p_axis_deg", "RAxis": "axis_deg", "TAxis": "t_axis_deg",
}


def resolution_mv(section: Element, path: Path) -> tuple[float, str]:
    """mV per integer step and the original unit, from `<Resolution units="uVperLsb">`."""
    value = required_number(section, "Resolution", path)
    units = (section.find("Resolution").get("units") or "uVperLsb").lower()  # type: ignore[union-attr]
    unit = units.split("per")[0] or "uv"
    return value * millivolt_factor(unit, path), unit


def read_lead_strips(section: Element, path: Path, what: str) -> RawRecording:
    """`<StripData>` or `<MedianSamples>`: one comma-separated `<WaveformData lead=...>` per lead."""
    elements = section.findall("WaveformData")
    if not elements:
        raise LeadError(path, f"{what} holds no <WaveformData> leads")
    names = [element.get("lead") or "" for element in elements]
    if not all(names):
        raise UnreadableFileError(path, f"{what}: a <WaveformData> lacks its lead attribute")
    rows = [parse_integers(element.text, path, f"{what} lead {name}") for element, name in zip(elements, names, strict=True)]
    expected = text_of(section, "ChannelSampleCountTotal")
    if expected is not None and expected.isdigit() and min(len(row) for row in rows) < int(expected):
        raise UnreadableFileError(path, f"{what}: truncated, fewer than the {expected} samples declared per lead")
    scale, unit = resolution_mv(section, path)
    signal = stack_leads(rows, names, path, what) * scale
    return RawRecording(signal=signal, fs=required_number(section, "SampleRate", path), lead_names=names,
                        units=[unit] * len(names))


def read_full_disclosure(section: Element, path: Path) -> RawRecording:
    """`<FullDisclosure>`: all channels interleaved sample by sample in `<LeadOrder>`."""
    names = [name.strip() for name in (text_of(section, "LeadOrder") or "").split(",") if name.strip()]
    if not names:
        raise LeadError(path, "<FullDisclosure> has no <LeadOrder>")
    values = parse_integers(text_of(section, "FullDisclosureData"), path, "<FullDisclosureData>")
    usable = len(values) - len(values) % len(names)
    if usable == 0:
        raise UnreadableFileError(path, f"<FullDisclosureData> holds fewer samples than its {len(names)} channels")
    scale, unit = resolution_mv(section, path)
    signal = values[:usable].reshape(-1, len(names)).T.astype(np.float64) * scale
    return RawRecording(signal=signal, fs=required_number(section, "SampleRate", path), lead_names=names,
                        units=[unit] * len(names))


def statements(root: Element) -> list[str]:
    """`<Interpretation>`: diagnosis lines, then conclusion lines."""
    interpretation = root.find("Interpretation")
    if interpretation is None:
        return []
    texts = interpretation.findall("Diagnosis/DiagnosisText") + interpretation.findall("Conclusion/ConclusionText")
    return [text.text.strip() for text in texts if text.text and text.text.strip()]


def read_cardiosoft(root: Element, path: Path) -> RawRecording:
    """Decode a CardioSoft `<CardiologyXML>` root: strip (or full disclosure), medians, findings."""
    strip = root.find("StripData")
    disclosure = root.find("FullDisclosure")
    if strip is not None and strip.find("WaveformData") is not None:
        raw, section = read_lead_strips(strip, path, "<StripData>"), "StripData"
    elif disclosure is not None:
        raw, section = read_full_disclosure(disclosure, path), "FullDisclosure"
    else:
        raise UnreadableFileError(path, "CardioSoft <CardiologyXML> has neither <StripData> leads nor <FullDisclosure>")
    measured = root.find("RestingECGMeasurements")
    median = None if measured is None else measured.find("MedianSamples")
    if median is not None and median.find("WaveformData") is not None:
        raw.median_beats = read_lead_strips(median, path, "<MedianSamples>")
    values = {key: text_of(measured, tag) for tag, key in CARDIOSOFT_MEASUREMENTS.items()}
    patient = root.find("PatientInfo")
    age = None if patient is None else patient.find("Age")
    age_units = ("years" if age is None else age.get("units") or "years").lower()
    meta: dict[str, Any] = {
        "patient_id": text_of(patient, "PID"),
        "age": parse_age(text_of(age)) if age_units.startswith("year") else None,
        "sex": parse_sex(text_of(patient, "Gender")),
        "device_measurements": device_measurements({k: v for k, v in values.items() if v is not None}),
        "device_statements": statements(root),
        "waveform_section": section,
    }
    raw.meta.update(meta)
    return raw
