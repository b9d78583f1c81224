"""`Ecg`: the one in-memory record every heartcare component passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.errors import InvalidSignalError, SamplingRateError

# Keys readers fill in `Ecg.meta` when they know them (all optional):
#   path, source, record_id, patient_id, age, sex ("M"/"F"), recording_date,
#   lead_mask (list[bool], True = lead really recorded), derived_leads,
#   original_fs, original_units, original_leads (the file's own labels), flat_leads.
#   extra_leads: list[str], channels that are not one of the 12 (Frank X/Y/Z, V7-V9,
#     V3R-V6R under those names, anything else under its own label);
#   extra_signal: float32 [len(extra_leads), samples] mV, their samples exactly as read
#     (at original_fs, full length; preprocessing does not touch them): use `extra_lead`.
#   device_measurements: dict, the cart's own hr_bpm, rr_ms, pr_ms, qrs_ms, qt_ms,
#     qtc_ms, p_axis_deg, axis_deg (QRS), t_axis_deg (only those the file gives);
#   device_statements: list[str], the cart's interpretation text, one line each;
#   median_beats: `Ecg` [12, beat samples] mV of the cart's median/representative beats.


@dataclass
class Ecg:
    """A multi-lead ECG in physical units.

    signal: [leads, samples] float32 millivolts; fs: sampling rate in Hz;
    leads: lead names in that row order (canonical order after reading).
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...] = STANDARD_LEADS
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.meta.get("path") or self.meta.get("record_id")
        signal = np.asarray(self.signal)
        if signal.ndim != 2:
            raise InvalidSignalError(source, f"signal must be 2-D [leads, samples], got shape {signal.shape}")
        if signal.shape[0] != len(self.leads):
            raise InvalidSignalError(
                source, f"{signal.shape[0]} signal rows but {len(self.leads)} lead names"
            )
        if signal.shape[1] == 0:
            raise InvalidSignalError(source, "signal has no samples")
        if not np.all(np.isfinite(signal)):
            bad = [self.leads[i] for i in np.where(~np.isfinite(signal).all(axis=1))[0]]
            raise InvalidSignalError(source, f"NaN or infinite samples in lead(s) {', '.join(bad)}")
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise SamplingRateError(source, f"sampling rate must be a positive number, got {self.fs!r}")
        self.signal = signal.astype(np.float32, copy=False)
        self.fs = float(self.fs)
        self.leads = tuple(self.leads)
        self.meta.setdefault("lead_mask", [True] * len(self.leads))

    @property
    def samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def seconds(self) -> float:
        return self.samples / self.fs

    @property
    def lead_mask(self) -> np.ndarray:
        """[leads] bool: True where the lead was recorded (not zero-filled)."""
        return np.asarray(self.meta["lead_mask"], dtype=bool)

    @property
    def name(self) -> str:
        """A label for messages: the path, the record id, or 'ECG'."""
        return str(self.meta.get("path") or self.meta.get("record_id") or "ECG")

    def lead(self, name: str) -> np.ndarray:
        """[samples] mV of one lead by canonical name."""
        return self.signal[self.leads.index(name)]

    def extra_lead(self, name: str) -> np.ndarray:
        """[samples] mV of a non-standard channel by name ('X', 'V4R', ...), as read from the file."""
        from heartcare.ecg.leads import extra_lead_name

        names = list(self.meta.get("extra_leads") or [])
        wanted = extra_lead_name(name)
        if wanted not in names:
            raise KeyError(f"{self.name}: no extra lead {name!r}; extra leads are {names or 'none'}")
        return np.asarray(self.meta["extra_signal"][names.index(wanted)])

    def with_signal(self, signal: np.ndarray, fs: float | None = None, **meta: Any) -> Ecg:
        """A copy with a new signal (same leads), e.g. after filtering or resampling."""
        return replace(self, signal=signal, fs=self.fs if fs is None else fs, meta={**self.meta, **meta})

    def crop(self, start_s: float, stop_s: float) -> Ecg:
        """The part between two times in seconds."""
        start, stop = int(round(start_s * self.fs)), int(round(stop_s * self.fs))
        return self.with_signal(self.signal[:, max(start, 0) : min(stop, self.samples)])

    def summary(self) -> dict[str, Any]:
        """Plain facts for printing: source, fs, leads, duration, demographics."""
        return {
            "source": self.meta.get("source"),
            "record_id": self.meta.get("record_id"),
            "fs": self.fs,
            "leads": list(self.leads),
            "missing_leads": [n for n, ok in zip(self.leads, self.lead_mask, strict=True) if not ok],
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
            "age": self.meta.get("age"),
            "sex": self.meta.get("sex"),
        }
