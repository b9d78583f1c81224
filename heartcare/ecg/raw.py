"""`RawRecording` -> `Ecg`: the checks and canonicalisation every reader shares.

A format reader only decodes its file into a `RawRecording` (rows in the file's own
lead order, already in millivolts). `to_ecg` then does what must be identical for
every format: finite-sample and flat-lead checks, mapping lead names onto the
standard 12 leads by name (other channels are kept as extras), canonicalising median
beats, and filling the common `meta` keys. Readers of files that carry the cart's own
measurements report them under `DEVICE_MEASUREMENT_KEYS` via `device_measurements`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS, is_standard_lead, to_standard_leads
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

# The cart's own measurements, as readers put them in `meta["device_measurements"]`
# (only the keys the file gives). Names match `heartcare.ecg.measure` where the quantity
# is the same, so the two can be printed side by side; axes are frontal-plane degrees.
DEVICE_MEASUREMENT_KEYS: tuple[str, ...] = (
    "hr_bpm", "rr_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "p_axis_deg", "axis_deg", "t_axis_deg",
)


def millivolt_factor(unit: str | None, source: str | Path | None) -> float:
    """Factor converting `unit` to mV; an empty unit is taken as mV (WFDB's default)."""
    key = (unit or "mV").strip().lower()
    if key not in UNIT_TO_MILLIVOLT:
        raise InvalidSignalError(source, f"unknown signal unit {unit!r}; expected mV, uV or V")
    return UNIT_TO_MILLIVOLT[key]


def parse_number(value: Any) -> float | None:
    """A finite float from '161', ' 52 ', 7.5; None for '', 'Failed', 'Indeterminate', NaN."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def device_measurements(values: dict[str, Any]) -> dict[str, float]:
    """`DEVICE_MEASUREMENT_KEYS` -> number, dropping what the cart left blank or failed.

    A cart that reports only the RR interval gets `hr_bpm = 60000 / rr_ms`, because the
    rate is what every report prints and RR is the same quantity.
    """
    unknown = set(values) - set(DEVICE_MEASUREMENT_KEYS)
    if unknown:
        raise ValueError(f"not device measurement keys: {sorted(unknown)}")
    parsed = {key: parse_number(values[key]) for key in DEVICE_MEASUREMENT_KEYS if key in values}
    result = {key: value for key, value in parsed.items() if value is not None}
    if "hr_bpm" not in result and result.get("rr_ms"):
        result["hr_bpm"] = round(60000.0 / result["rr_ms"], 1)
    return result


@dataclass
class RawRecording:
    """What a format reader decoded: signal [len(lead_names), samples] in mV, file order.

    source: a more specific format label than the reader's (the XML reader says which
        cart format it found); None keeps the reader's.
    median_beats: the cart's median (representative) beats as a `RawRecording` of their
        own [leads, beat samples] mV, when the file has them; `to_ecg` canonicalises them.
    """

    signal: np.ndarray
    fs: float
    lead_names: list[str]
    units: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    median_beats: RawRecording | None = None


def to_ecg(raw: RawRecording, path: str | Path, source: str, allow_flat_leads: bool = False) -> Ecg:
    """Check `raw`, reorder its leads by name and return a canonical 12-lead `Ecg`.

    Flat leads (a recorded lead whose samples are all equal, e.g. an unplugged
    electrode written as zeros) raise `InvalidSignalError` naming them, because a
    silent flat lead reads as asystole to every later step. With
    `allow_flat_leads=True` they are zeroed and masked out instead (`lead_mask`
    False, listed in `meta["flat_leads"]`). A record whose leads are all flat
    always raises. Channels that are not standard leads (Frank X/Y/Z, V4R, a
    respiration trace) are kept in `meta["extra_leads"]` / `meta["extra_signal"]`
    and are never a reason to reject the record; an extra channel with NaN or
    infinite samples is left out and named in `meta["unusable_extra_leads"]`.
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
    names = [normalise_cabrera(lead) for lead in raw.lead_names]
    signal = signal * np.asarray([-1.0 if lead != original else 1.0
                                  for lead, original in zip(names, raw.lead_names, strict=True)])[:, None]
    standard = [i for i, lead in enumerate(names) if is_standard_lead(lead)]
    finite = np.isfinite(signal)
    bad_rows = [i for i in standard if not finite[i].all()]
    if bad_rows:
        bad = [f"{raw.lead_names[i]} ({int((~finite[i]).sum())} samples)" for i in bad_rows]
        raise InvalidSignalError(name, f"NaN or infinite samples in lead(s) {', '.join(bad)}")
    unusable = [i for i in range(len(names)) if i not in standard and not finite[i].all()]

    flat_rows = [i for i in standard if np.ptp(signal[i]) == 0.0]
    flat_names = [raw.lead_names[i] for i in flat_rows]
    if standard and len(flat_rows) == len(standard):
        raise InvalidSignalError(name, "every lead is flat (constant); no ECG was recorded")
    if flat_rows and not allow_flat_leads:
        raise InvalidSignalError(
            name,
            f"flat (constant) lead(s) {', '.join(flat_names)}; "
            "to mask them instead pass allow_flat_leads=True (--allow-flat-leads on the command line)",
        )
    keep = [i for i in range(signal.shape[0]) if i not in flat_rows and i not in unusable]
    canonical = to_standard_leads(signal[keep].astype(np.float32), [names[i] for i in keep], source=name)
    meta: dict[str, Any] = {key: None for key in COMMON_META_KEYS}
    meta.update(raw.meta)
    meta.update(
        {
            "path": name,
            "source": raw.source or source,
            "record_id": raw.meta.get("record_id") or Path(name).stem,
            "lead_mask": list(canonical.present),
            "derived_leads": list(canonical.derived),
            "flat_leads": flat_names,
            "original_fs": float(raw.fs),
            "original_units": sorted(set(raw.units)) if raw.units else ["mV"],
            "original_leads": list(raw.lead_names),
            "extra_leads": list(canonical.extra_names),
        }
    )
    if canonical.extra_names:
        meta["extra_signal"] = canonical.extra_signal
    if unusable:
        meta["unusable_extra_leads"] = [raw.lead_names[i] for i in unusable]
    if raw.median_beats is not None:
        meta["median_beats"] = median_beats_ecg(raw.median_beats, name)
    return Ecg(signal=canonical.signal, fs=float(raw.fs), leads=STANDARD_LEADS, meta=meta)


def normalise_cabrera(lead: str) -> str:
    """'-aVR' -> 'aVR' (the caller flips the sign): Cabrera-format carts record -aVR."""
    return "aVR" if re.sub(r"[\s_]+", "", lead.lower()) in {"-avr", "minusavr"} else lead


def median_beats_ecg(median: RawRecording, name: str) -> Ecg:
    """The cart's median beats as a 12-lead `Ecg` [12, beat samples] mV (missing leads zero,
    limb leads derived from I and II as for the rhythm)."""
    signal = np.asarray(median.signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] != len(median.lead_names) or not np.isfinite(signal).all():
        raise InvalidSignalError(name, f"unusable median beats of shape {signal.shape}")
    if not (np.isfinite(median.fs) and median.fs > 0):
        raise SamplingRateError(name, f"median-beat sampling rate must be positive, got {median.fs!r}")
    canonical = to_standard_leads(signal.astype(np.float32), median.lead_names, source=name)
    return Ecg(signal=canonical.signal, fs=float(median.fs), leads=STANDARD_LEADS,
               meta={"path": name, "lead_mask": list(canonical.present),
                     "derived_leads": list(canonical.derived)})


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
