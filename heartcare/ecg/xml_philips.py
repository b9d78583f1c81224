"""Philips PageWriter/TraceMaster XML (`<restingecgdata>`, SierraECG 1.03-1.04.02).

`<parsedwaveforms>` holds every lead as int16 samples, lead after lead, either plain
base64 or XLI-compressed (LZW + second-difference coding, decoded by the `sierraecg`
package's `xli_decode`). XLI stores leads III, aVR, aVL and aVF as residuals from what
I and II predict, so after decompression they are rebuilt exactly as Philips' reference
tools do (sierra-ecg-tools' ReinterpretLeads); uncompressed files store the leads
themselves. (`sierraecg.read_file` applies that rebuild to uncompressed files too and
parses the XML a second time, so only its decoder is used here.) Physical value:
(sample - signaloffset) x resolution uV. Carts end the record with zero padding and a
1 mV calibration pulse written identically to every lead; that tail is cut off.
Measurements prefer the confirmed `<interpretation>/<globalmeasurements>` over the
analysis program's internal ones, as the schema says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS, lead_key
from heartcare.ecg.raw import RawRecording, device_measurements, parse_age, parse_number, parse_sex
from heartcare.ecg.xml_document import decode_base64, parse_integers, stack_leads, text_of
from heartcare.errors import LeadError, UnreadableFileError

# Device measurement key -> element names, most specific first (1.04 names, then 1.03's).
PHILIPS_MEASUREMENTS: dict[str, tuple[str, ...]] = {
    "hr_bpm": ("heartrate", "meanventrate"), "rr_ms": ("rrint",), "pr_ms": ("print", "meanprint"),
    "qrs_ms": ("qrsdur", "meanqrsdur"), "qt_ms": ("qtint", "meanqtint"), "qtc_ms": ("qtcb", "meanqtc"),
    "p_axis_deg": ("pfrontaxis",), "axis_deg": ("qrsfrontaxis",), "t_axis_deg": ("tfrontaxis",),
}
PADDING = 32767  # int16 maximum: what fills a representative-beat buffer after the beat

# Where measurements live, in the schema's order of precedence.
MEASUREMENT_SECTIONS: tuple[str, ...] = (
    "interpretations/interpretation/globalmeasurements",
    "internalmeasurements/crossleadmeasurements",
    "measurements/globalmeasurements",
)


def setting(waveforms: Element, characteristics: Element | None, attribute: str, *elements: str) -> str | None:
    """A `<parsedwaveforms>` attribute, else the first `<signalcharacteristics>` element given."""
    value = waveforms.get(attribute)
    if value is not None and value.strip():
        return value.strip()
    return next((found for name in elements if (found := text_of(characteristics, name)) is not None), None)


def rebuild_limb_leads(leads: list[np.ndarray]) -> None:
    """XLI residuals of III, aVR, aVL, aVF (rows 2-5) -> the leads, in place (integer maths)."""
    lead_i, lead_ii = leads[0], leads[1]
    leads[2] = lead_ii - lead_i - leads[2]
    leads[3] = -leads[3] - (lead_i + lead_ii) // 2
    leads[4] = (lead_i - leads[2]) // 2 - leads[4]
    leads[5] = (lead_ii + leads[2]) // 2 - leads[5]


def decode_xli(data: bytes, labels: list[str], path: Path) -> list[np.ndarray]:
    """Per-lead int64 samples of XLI-compressed data, limb leads rebuilt."""
    from sierraecg.xli import xli_decode

    try:
        decoded = xli_decode(data, labels)
    except (IndexError, ValueError, OverflowError, TypeError) as error:
        raise UnreadableFileError(path, f"corrupt XLI-compressed waveform ({type(error).__name__}: {error})") from error
    if len(decoded) < len(labels):
        raise UnreadableFileError(path, f"XLI waveform holds {len(decoded)} leads but the header names {len(labels)}")
    leads = [np.asarray(lead, dtype=np.int64) for lead in decoded[: len(labels)]]
    if [lead_key(label) for label in labels[:6]] == [lead_key(name) for name in STANDARD_LEADS[:6]]:
        rebuild_limb_leads(leads)
    return leads


def decode_leads(waveforms: Element, labels: list[str], samples: int, path: Path) -> list[np.ndarray]:
    """Per-lead integer samples from `<parsedwaveforms>` in any of its encodings."""
    encoding = (waveforms.get("dataencoding") or "Base64").strip().lower()
    method = (waveforms.get("compression") or waveforms.get("compressmethod") or "").strip()
    compressed = method.upper() == "XLI" and (waveforms.get("compressflag") or "True").lower() != "false"
    if method and method.upper() not in {"XLI", "NONE", "UNCOMPRESSED"}:
        raise UnreadableFileError(path, f"unsupported <parsedwaveforms> compression {method!r}")
    if encoding == "plain":
        values = parse_integers(waveforms.text, path, "<parsedwaveforms>")
    elif encoding == "base64":
        data = decode_base64(waveforms.text, path, "<parsedwaveforms>")
        if compressed:
            leads = decode_xli(data, labels, path)
            short = [label for label, lead in zip(labels, leads, strict=True) if len(lead) < samples]
            if samples and short:
                raise UnreadableFileError(path, f"XLI waveform truncated: lead(s) {', '.join(short)} under {samples} samples")
            return [lead[:samples] if samples else lead for lead in leads]
        values = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int64)
    else:
        raise UnreadableFileError(path, f"unsupported <parsedwaveforms> dataencoding {encoding!r}")
    samples = samples or len(values) // len(labels)
    if len(values) < samples * len(labels):
        raise UnreadableFileError(
            path, f"<parsedwaveforms> truncated: {len(values)} samples for {len(labels)} leads x {samples}"
        )
    return [values[index * samples : (index + 1) * samples] for index in range(len(labels))]


def calibration_tail(signal: np.ndarray) -> int:
    """Index where the trailing block of identical-in-every-lead samples starts."""
    same = (signal == signal[0]).all(axis=0)
    end = signal.shape[1]
    while end > 0 and same[end - 1]:
        end -= 1
    return end if 0 < end < signal.shape[1] else signal.shape[1]


def lead_labels(waveforms: Element, characteristics: Element | None, path: Path) -> list[str]:
    """`leadlabels`, else the standard 12 when the acquisition type says a 12-lead set."""
    labels = (waveforms.get("leadlabels") or "").split()
    count = waveforms.get("numberofleads")
    if labels:
        return labels[: int(count)] if count and count.isdigit() else labels
    acquisition = text_of(characteristics, "acquisitiontype") or ""
    channels = text_of(characteristics, "numberchannelsallocated") or "12"
    if acquisition in {"STD-12", "10-WIRE"} and channels.isdigit() and int(channels) >= 12:
        return list(STANDARD_LEADS)
    raise LeadError(path, f"<parsedwaveforms> names no leads (acquisition type {acquisition or 'unknown'})")


def representative_beats(root: Element, fs: float, resolution: float, path: Path) -> RawRecording | None:
    """`<repbeats>`: one base64 int16 `<repbeat leadname=...>` per lead (1.04 wraps it in `<waveform>`)."""
    section = root.find(".//repbeats")
    if section is None or not section.findall("repbeat"):
        return None
    beat_fs = parse_number(section.get("samplespersec")) or fs
    beat_resolution = parse_number(section.get("resolution")) or resolution
    rows, names = [], []
    for beat in section.findall("repbeat"):
        name = beat.get("leadname") or ""
        holder = beat.find("waveform")
        text = (holder if holder is not None else beat).text
        data = decode_base64(text, path, f"<repbeat leadname={name!r}>")
        rows.append(np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.float64))
        names.append(name)
    digital = stack_leads(rows, names, path, "<repbeats>")
    # Beats shorter than the stored buffer are padded with 32767, int16's "no sample".
    valid = np.flatnonzero((digital != PADDING).any(axis=0))
    if len(valid) == 0:
        return None
    signal = digital[:, : valid[-1] + 1] * beat_resolution * 1e-3
    return RawRecording(signal=signal, fs=beat_fs, lead_names=names, units=["uV"] * len(names))


def findings(root: Element) -> tuple[dict[str, float], list[str]]:
    """The cart's measurements (confirmed ones first) and interpretation statements."""
    sections = [section for name in MEASUREMENT_SECTIONS if (section := root.find(name)) is not None]
    values: dict[str, Any] = {}
    for key, tags in PHILIPS_MEASUREMENTS.items():
        candidates = (text_of(section, tag) for section in sections for tag in tags)
        values[key] = next((value for value in candidates if parse_number(value) is not None), None)
    interpretation = root.find("interpretations/interpretation")
    lines: list[str] = []
    if interpretation is not None:
        for statement in interpretation.findall("statement"):
            left, right = text_of(statement, "leftstatement"), text_of(statement, "rightstatement")
            if left or right:
                lines.append(f"{left} ({right})" if left and right else (left or right or ""))
        severity = text_of(interpretation, "severity")
        if severity:
            lines.append(severity)
    measured = device_measurements({key: value for key, value in values.items() if value is not None})
    return measured, lines


def read_philips(root: Element, path: Path) -> RawRecording:
    """Decode a Philips `<restingecgdata>` root into the rhythm, median beats and cart findings."""
    waveforms = root.find(".//parsedwaveforms")
    if waveforms is None:
        raise UnreadableFileError(path, "Philips <restingecgdata> holds no <parsedwaveforms>")
    characteristics = root.find("dataacquisition/signalcharacteristics")
    fs = parse_number(setting(waveforms, characteristics, "samplespersecond", "samplingrate"))
    resolution = parse_number(setting(waveforms, characteristics, "resolution", "resolution", "signalresolution"))
    offset = parse_number(setting(waveforms, characteristics, "signaloffset", "signaloffset")) or 0.0
    if fs is None or resolution is None:
        raise UnreadableFileError(path, "Philips file gives no sampling rate or resolution")
    labels = lead_labels(waveforms, characteristics, path)
    duration_ms = parse_number(waveforms.get("durationperchannel"))
    samples = int(round(duration_ms * fs / 1000)) if duration_ms else 0
    leads = decode_leads(waveforms, labels, samples, path)
    digital = stack_leads(leads, labels, path, "<parsedwaveforms>")
    end = calibration_tail(digital)
    signal = (digital[:, :end] - offset) * resolution * 1e-3
    measured, lines = findings(root)
    patient = root.find("patient/generalpatientdata")
    acquisition = root.find("dataacquisition")
    meta: dict[str, Any] = {
        "patient_id": text_of(patient, "patientid"),
        "age": parse_age(text_of(patient, "age/years")),
        "sex": parse_sex(text_of(patient, "sex")),
        "recording_date": None if acquisition is None else
        " ".join(filter(None, (acquisition.get("date"), acquisition.get("time")))) or None,
        "device_measurements": measured,
        "device_statements": lines,
        "trimmed_calibration_samples": int(digital.shape[1] - end),
    }
    return RawRecording(signal=signal, fs=fs, lead_names=labels, units=["uV"] * len(labels), meta=meta,
                        median_beats=representative_beats(root, fs, resolution, path))
