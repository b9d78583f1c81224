"""`RawRecording` -> `Ecg`: the checks and canonicalisation every reader shares.

A format reader only decodes its file into a `RawRecording` (rows in the file's own
lead order, already in millivolts). `to_ecg` then does what must be identical for
every format: finite-sample and flat-lead checks, mapping lead names onto the
standard 12 leads by name, and filling the common `meta` keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS, to_standard_leads
from heartcare.ecg.record import Ecg
from heartcare.errors import InvalidSignalError, SamplingRateError

# Physical unit spelling -> factor that converts it to millivolts.
UNIT_TO_MILLIVOLT: dict[str, float] = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "nv": 1e-6,
}

# The `meta` keys every reader fills (None where the file does not say).
COMMON_META_KEYS: tuple[str, ...] = (
    "path", "source", "record_id", "patient_id", "age", "sex",
    "lead_mask", "original_fs", "original_units",
)


def millivolt_factor(unit: str | None, source: str | Path | None) -> float:
    """Factor converting `unit` to mV; an empty unit is taken as mV (WFDB's default)."""
    key = (unit or "mV").strip().lower()
    if key not in UNIT_TO_MILLIVOLT:
        raise InvalidSignalError(source, f"unknown signal unit {unit!r}; expected mV, uV or V")
    return UNIT_TO_MILLIVOLT[key]


@dataclass
class RawRecording:
    """What a format reader decoded: signal [len(lead_names), samples] in mV, file order."""

    signal: np.ndarray
    fs: float
    lead_names: list[str]
    units: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


def to_ecg(raw: RawRecording, path: str | Path, source: str, allow_flat_leads: bool = False) -> Ecg:
    """Check `raw`, reorder its leads by name and return a canonical 12-lead `Ecg`.

    Flat leads (a recorded lead whose samples are all equal, e.g. an unplugged
    electrode written as zeros) raise `InvalidSignalError` naming them, because a
    silent flat lead reads as asystole to every later step. With
    `allow_flat_leads=True` they are zeroed and masked out instead (`lead_mask`
    False, listed in `meta["flat_leads"]`). A record whose leads are all flat
    always raises.
    """
    name = str(path)
    signal = np.asarray(raw.signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(raw.lead_names):
        raise InvalidSignalError(
            name, f"decoded signal shape {signal.shape} does not match {len(raw.lead_names)} lead names"
        )
    if signal.shape[1] < 2:
        raise InvalidSignalError(name, f"signal has {signal.shape[1]} sample(s); an ECG needs more")
    if not (np.isfinite(raw.fs) and raw.fs > 0):
        raise SamplingRateError(name, f"sampling rate must be a positive number, got {raw.fs!r}")
    finite = np.isfinite(signal)
    if not finite.all():
        bad_rows = np.where(~finite.all(axis=1))[0]
        bad = [f"{raw.lead_names[i]} ({int((~finite[i]).sum())} samples)" for i in bad_rows]
        raise InvalidSignalError(name, f"NaN or infinite samples in lead(s) {', '.join(bad)}")

    flat_rows = [i for i in range(signal.shape[0]) if np.ptp(signal[i]) == 0.0]
    flat_names = [raw.lead_names[i] for i in flat_rows]
    if flat_rows and len(flat_rows) == signal.shape[0]:
        raise InvalidSignalError(name, "every lead is flat (constant); no ECG was recorded")
    if flat_rows and not allow_flat_leads:
        raise InvalidSignalError(
            name,
            f"flat (constant) lead(s) {', '.join(flat_names)}; "
            "to mask them instead pass allow_flat_leads=True (--allow-flat-leads on the command line)",
        )
    keep = [i for i in range(signal.shape[0]) if i not in flat_rows]
    names = [raw.lead_names[i] for i in keep]
    kept = signal[keep].astype(np.float32)
    for row, lead in enumerate(names):
        # Cabrera-format carts record -aVR; flipping its sign gives standard aVR.
        if re.sub(r"[\s_]+", "", lead.lower()) in {"-avr", "minusavr"}:
            kept[row], names[row] = -kept[row], "aVR"
    canonical = to_standard_leads(kept, names, source=name)
    meta: dict[str, Any] = {key: None for key in COMMON_META_KEYS}
    meta.update(raw.meta)
    meta.update(
        {
            "path": name,
            "source": source,
            "record_id": raw.meta.get("record_id") or Path(name).stem,
            "lead_mask": list(canonical.present),
            "derived_leads": list(canonical.derived),
            "flat_leads": flat_names,
            "original_fs": float(raw.fs),
            "original_units": sorted(set(raw.units)) if raw.units else ["mV"],
            "original_leads": list(raw.lead_names),
        }
    )
    return Ecg(signal=canonical.signal, fs=float(raw.fs), leads=STANDARD_LEADS, meta=meta)


def parse_sex(value: Any) -> str | None:
    """'M'/'F' from the many spellings files use (M, male, 0/1 handled by callers)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in {"m", "male", "man"}:
        return "M"
    if text in {"f", "female", "woman"}:
        return "F"
    return None


def parse_age(value: Any) -> float | None:
    """Age in years from numbers, '61', '061Y' (DICOM), or None for NaN / unknown."""
    if value is None:
        return None
    text = str(value).strip().upper()
    units = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}
    factor = 1.0
    if text and text[-1] in units:
        factor, text = units[text[-1]], text[:-1]
    try:
        age = float(text) * factor
    except ValueError:
        return None
    return round(age, 2) if np.isfinite(age) and 0 <= age < 150 else None
