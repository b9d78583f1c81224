"""DICOM 12-lead ECG waveforms (Waveform IOD, e.g. hospital cart exports), via pydicom.

Samples are stored as integers; the physical value of channel c is
`sample * ChannelSensitivity * ChannelSensitivityCorrectionFactor + ChannelBaseline`
in the channel's `ChannelSensitivityUnitsSequence` unit (usually uV), which we
convert to mV. Lead names come from each channel's source code meaning
("Lead I (Einthoven)", "Lead aVR", ...).

The cart's own global measurements (numeric waveform annotations such as "PR Interval")
go to `meta["device_measurements"]`, its text annotations to `meta["device_statements"]`,
and a "MEDIAN BEAT" multiplex group to `meta["median_beats"]` (see `heartcare.ecg.record`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.raw import (
    RawRecording,
    device_measurements,
    millivolt_factor,
    parse_age,
    parse_number,
    parse_sex,
)
from heartcare.errors import UnreadableFileError

SAMPLE_DTYPES: dict[tuple[int, str], str] = {
    (8, "SB"): "int8", (8, "UB"): "uint8", (16, "SS"): "<i2", (16, "US"): "<u2",
    (32, "SL"): "<i4", (32, "UL"): "<u4",
}


# SCPECG coding scheme lead codes ("5.6.3-9-N"), for files that give a code but no meaning.
SCPECG_LEAD_CODES: dict[str, str] = {
    "5.6.3-9-1": "I", "5.6.3-9-2": "II", "5.6.3-9-61": "III", "5.6.3-9-62": "aVR",
    "5.6.3-9-63": "aVL", "5.6.3-9-64": "aVF", "5.6.3-9-3": "V1", "5.6.3-9-4": "V2",
    "5.6.3-9-5": "V3", "5.6.3-9-6": "V4", "5.6.3-9-7": "V5", "5.6.3-9-8": "V6",
}


# Annotation concept (lower-case code meaning or SCPECG code) -> device measurement key.
ANNOTATION_MEASUREMENTS: dict[str, str] = {
    "rr interval": "rr_ms", "5.10.2.1-3": "rr_ms",
    "ventricular heart rate": "hr_bpm", "heart rate": "hr_bpm", "ventricular rate": "hr_bpm",
    "pr interval": "pr_ms", "5.13.5-7": "pr_ms",
    "qrs duration": "qrs_ms", "5.13.5-9": "qrs_ms",
    "qt interval": "qt_ms", "5.13.5-11": "qt_ms",
    "qtc interval": "qtc_ms", "5.10.2.5-5": "qtc_ms",
    "p axis": "p_axis_deg", "5.10.3-11": "p_axis_deg",
    "qrs axis": "axis_deg", "5.10.3-13": "axis_deg",
    "t axis": "t_axis_deg", "5.10.3-15": "t_axis_deg",
}
# Unit code -> factor to the key's unit (ms); degrees and bpm pass through.
ANNOTATION_UNIT_FACTORS: dict[str, float] = {"s": 1000.0, "ms": 1.0}


def annotations(dataset: Any) -> tuple[dict[str, float], list[str]]:
    """The cart's global numeric measurements and its text statements."""
    values: dict[str, float] = {}
    statements: list[str] = []
    for annotation in dataset.get("WaveformAnnotationSequence", []):
        text = annotation.get("UnformattedTextValue")
        if text and str(text).strip():
            statements.append(str(text).strip())
        concept = annotation.get("ConceptNameCodeSequence")
        number = parse_number(annotation.get("NumericValue"))
        if not concept or number is None or "ReferencedSamplePositions" in annotation:
            continue
        code = concept[0]
        key = ANNOTATION_MEASUREMENTS.get(str(code.get("CodeMeaning") or "").strip().lower()) or \
            ANNOTATION_MEASUREMENTS.get(str(code.get("CodeValue") or "").strip())
        if key is None or key in values:
            continue
        units = annotation.get("MeasurementUnitsCodeSequence")
        unit = str(units[0].get("CodeValue") or "").strip() if units else ""
        values[key] = number * ANNOTATION_UNIT_FACTORS.get(unit, 1.0)
    return device_measurements(values), statements


def median_group(sequence: Any) -> Any | None:
    """The multiplex group labelled as median/representative beats, if any."""
    for group in sequence:
        label = str(group.get("MultiplexGroupLabel", "")).upper()
        if "MEDIAN" in label or "REPRESENTATIVE" in label:
            return group
    return None


def channel_lead_name(channel: Any) -> str:
    """'Lead I (Einthoven)' -> 'Lead I'; the lead alias table does the rest."""
    source = channel.ChannelSourceSequence[0]
    code = str(source.get("CodeValue") or "")
    meaning = str(source.get("CodeMeaning") or "")
    if not meaning and code in SCPECG_LEAD_CODES:
        return SCPECG_LEAD_CODES[code]
    return re.sub(r"\s*\(.*?\)\s*", "", meaning or code).strip()


def choose_group(sequence: Any) -> Any:
    """The rhythm multiplex group if labelled, else the one with the most samples."""
    groups = list(sequence)
    for group in groups:
        if str(group.get("MultiplexGroupLabel", "")).strip().upper() == "RHYTHM":
            return group
    candidates = [g for g in groups if "MEDIAN" not in str(g.get("MultiplexGroupLabel", "")).upper()]
    return max(candidates or groups, key=lambda g: int(g.get("NumberOfWaveformSamples", 0)))


def decode_group(group: Any, path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """[channels, samples] physical values in mV, lead names, original units."""
    required = ("NumberOfWaveformChannels", "NumberOfWaveformSamples", "SamplingFrequency",
                "ChannelDefinitionSequence", "WaveformBitsAllocated",
                "WaveformSampleInterpretation", "WaveformData")
    missing = [name for name in required if name not in group]
    if missing:
        raise UnreadableFileError(path, f"waveform group lacks {', '.join(missing)}")
    channels = int(group.NumberOfWaveformChannels)
    samples = int(group.NumberOfWaveformSamples)
    key = (int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))
    if key not in SAMPLE_DTYPES:
        raise UnreadableFileError(path, f"unsupported waveform sample encoding {key}")
    data = bytes(group.WaveformData)
    dtype = np.dtype(SAMPLE_DTYPES[key])
    expected = channels * samples * dtype.itemsize
    if len(data) < expected:
        raise UnreadableFileError(
            path, f"truncated waveform data: {len(data)} bytes for {channels} x {samples} samples"
        )
    # Interleaved C1S1, C2S1, ..., CnS1, C1S2, ...
    raw = np.frombuffer(data[:expected], dtype=dtype).reshape(samples, channels).T.astype(np.float64)
    definitions = list(group.ChannelDefinitionSequence)
    if len(definitions) != channels:
        raise UnreadableFileError(
            path, f"{len(definitions)} channel definitions for {channels} waveform channels"
        )
    names, units = [], []
    for index, channel in enumerate(definitions):
        sensitivity = float(channel.get("ChannelSensitivity", 1.0) or 1.0)
        correction = float(channel.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
        baseline = float(channel.get("ChannelBaseline", 0.0) or 0.0)
        unit_sequence = channel.get("ChannelSensitivityUnitsSequence")
        unit = str(unit_sequence[0].CodeValue) if unit_sequence else "uV"
        raw[index] = (raw[index] * sensitivity * correction + baseline) * millivolt_factor(unit, path)
        names.append(channel_lead_name(channel))
        units.append(unit)
    return raw, names, units


def read_dicom(path: Path) -> RawRecording:
    """Decode the rhythm waveform of a DICOM ECG file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise UnreadableFileError(path, f"not a readable DICOM file ({error})") from error
    sequence = dataset.get("WaveformSequence")
    if not sequence:
        modality = dataset.get("Modality", "unknown")
        raise UnreadableFileError(path, f"DICOM file (modality {modality}) holds no waveform")
    group = choose_group(sequence)
    signal, names, units = decode_group(group, path)
    median = median_group(sequence)
    median_beats = None
    if median is not None and median is not group:
        median_signal, median_names, median_units = decode_group(median, path)
        median_beats = RawRecording(signal=median_signal, fs=float(median.SamplingFrequency),
                                    lead_names=median_names, units=median_units)
    measurements, statements = annotations(dataset)
    meta: dict[str, Any] = {
        "record_id": str(dataset.get("SOPInstanceUID") or path.stem),
        "patient_id": str(dataset.get("PatientID")) if dataset.get("PatientID") else None,
        "age": parse_age(dataset.get("PatientAge")),
        "sex": parse_sex(dataset.get("PatientSex")),
        "recording_date": str(dataset.get("AcquisitionDateTime") or dataset.get("StudyDate") or "") or None,
        "multiplex_group": str(group.get("MultiplexGroupLabel", "")),
        "device_measurements": measurements,
        "device_statements": statements,
    }
    return RawRecording(
        signal=signal, fs=float(group.SamplingFrequency), lead_names=names, units=units, meta=meta,
        median_beats=median_beats,
    )
