"""What dataset adapters yield: a labelled ECG, or a note that a record was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heartcare.ecg.record import Ecg


@dataclass
class LabelledRecord:
    """One ECG with its SCP-ECG labels, free-text report and patient.

    labels: SCP-ECG statement code -> likelihood 0..100 (PTB-XL convention; datasets
    with binary labels use 100). meta: dataset fields such as strat_fold,
    recording_date, age, sex ("M"/"F"), plus anything dataset-specific.
    """

    ecg: Ecg
    labels: dict[str, float]
    report: str
    patient_id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        return str(self.meta.get("record_id") or self.ecg.meta.get("record_id"))


@dataclass(frozen=True)
class SkippedRecord:
    """A record an adapter could not use, and why (the HeartcareError message)."""

    record_id: str
    path: str
    reason: str
