"""What the page shows beside the drawing: heartcare's measurements, the device's own, quality warnings."""

from __future__ import annotations

from typing import Any

from heartcare.ecg.record import Ecg

MEASUREMENTS = (("hr_bpm", "Heart rate", "bpm"), ("pr_ms", "PR", "ms"), ("qrs_ms", "QRS", "ms"), ("qt_ms", "QT", "ms"),
                ("qtc_ms", "QTc", "ms"), ("axis_deg", "QRS axis", "°"))
SHORT_RECORD_S = 8.0  # below this, rate and rhythm statements rest on too few beats
POOR_QUALITY = 0.5


def device_values(ecg: Ecg) -> dict[str, float]:
    """The cart's own measurements where the file carries them (DICOM, hospital XML), in heartcare's keys."""
    device = ecg.meta.get("device_measurements") or ecg.meta.get("device") or {}
    return {key: float(value) for key, value in device.items() if isinstance(value, int | float) and not isinstance(value, bool)}


def quality_warnings(ecg: Ecg) -> list[str]:
    """Plain-language warnings: flat or missing leads, noisy or wandering leads, a short record."""
    from heartcare.ecg.quality import assess

    warnings = []
    seconds = ecg.samples / ecg.fs
    if seconds < SHORT_RECORD_S:
        warnings.append(f"short record: {seconds:.1f} s (rate and rhythm need about 10 s)")
    missing = [lead for lead, present in zip(ecg.leads, ecg.lead_mask, strict=True) if not present]
    if missing:
        warnings.append(f"missing or flat leads: {', '.join(missing)}")
    quality = assess(ecg.signal, ecg.fs)
    for name, values in (("noisy", quality.noise), ("baseline wander", quality.baseline), ("clipped", quality.clipping)):
        bad = [lead for lead, value, present in zip(ecg.leads, values, ecg.lead_mask, strict=True) if present and value < POOR_QUALITY]
        if bad:
            warnings.append(f"{name}: {', '.join(bad)}")
    return warnings


def summarise(ecg: Ecg) -> dict[str, Any]:
    """JSON for the page and `GET /api/uploads/{id}`: the record, measurements (heartcare | device), warnings."""
    from heartcare.ecg.measure import measure

    measured = measure(ecg).to_dict()
    device = device_values(ecg)
    rows = [{"key": key, "name": name, "unit": unit, "heartcare": measured.get(key), "device": device.get(key),
             "reason": measured["reasons"].get(key)} for key, name, unit in MEASUREMENTS]
    return {
        "fs": ecg.fs,
        "seconds": round(ecg.samples / ecg.fs, 3),
        "leads": list(ecg.leads),
        "recorded_leads": [lead for lead, present in zip(ecg.leads, ecg.lead_mask, strict=True) if present],
        "measurements": rows,
        "has_device_values": bool(device),
        "statements": list(ecg.meta.get("device_statements") or ecg.meta.get("statements") or []),
        "warnings": quality_warnings(ecg),
    }
