"""MIMIC-IV-ECG (Gow et al., PhysioNet 2023): ~800k 10 s 500 Hz diagnostic ECGs.

Layout read here:
    record_list.csv           subject_id, study_id, path (WFDB record, no extension)
    machine_measurements.csv  subject_id, study_id, report_0..report_17, rr_interval,
                              p_onset, p_end, qrs_onset, qrs_end, t_end, p_axis,
                              qrs_axis, t_axis (intervals in ms from the record start)
MIMIC stores aVF before aVL; `read_ecg` reorders by name. A few records hold NaN
samples: they are skipped with the reason, never crash the iteration. Labels are
empty (MIMIC-IV-ECG has no SCP codes); the machine report is the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.read import read_ecg
from heartcare.errors import DatasetLayoutError
from heartcare.sources.adapter import iterate_records
from heartcare.sources.record import LabelledRecord, SkippedRecord

# Machine values at or above this are "not measured" placeholders (29999, 32767).
MISSING_MARKER: float = 29999


def measurement(row: Any, key: str) -> float | None:
    value = row.get(key) if row is not None else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(value) or value >= MISSING_MARKER else value


def machine_measurements(row: Any) -> dict[str, float | None]:
    """Device intervals (ms) and axes from one machine_measurements row; None where absent."""
    p_onset, qrs_onset = measurement(row, "p_onset"), measurement(row, "qrs_onset")
    qrs_end, t_end = measurement(row, "qrs_end"), measurement(row, "t_end")
    rr = measurement(row, "rr_interval")

    def span(start: float | None, stop: float | None) -> float | None:
        return None if start is None or stop is None or stop <= start else stop - start

    return {
        "rr_ms": rr,
        "hr_bpm": None if not rr else round(60000.0 / rr, 1),
        "pr_ms": span(p_onset, qrs_onset),
        "qrs_ms": span(qrs_onset, qrs_end),
        "qt_ms": span(qrs_onset, t_end),
        "p_axis_deg": measurement(row, "p_axis"),
        "axis_deg": measurement(row, "qrs_axis"),
        "t_axis_deg": measurement(row, "t_axis"),
    }


def machine_report(row: Any) -> str:
    """report_0..report_17 joined into one text, skipping empty fields."""
    if row is None:
        return ""
    parts = []
    for index in range(18):
        value = row.get(f"report_{index}")
        if isinstance(value, str) and value.strip():
            parts.append(value.strip().rstrip("."))
    return ". ".join(parts) + ("." if parts else "")


class MimicEcgDataset:
    """Iterate a MIMIC-IV-ECG folder as `LabelledRecord`s; bad records go to `.skipped`."""

    def __init__(self, root: str | Path, limit: int | None = None, allow_flat_leads: bool = False) -> None:
        import pandas as pd

        self.root = Path(root)
        record_list = self.root / "record_list.csv"
        if not record_list.is_file():
            raise DatasetLayoutError(self.root, "record_list.csv not found (not a MIMIC-IV-ECG folder)")
        records = pd.read_csv(record_list)
        missing = [c for c in ("subject_id", "study_id", "path") if c not in records.columns]
        if missing:
            raise DatasetLayoutError(record_list, f"missing column(s) {', '.join(missing)}")
        self.records = records.head(limit) if limit is not None else records
        measurements_file = self.root / "machine_measurements.csv"
        self.measurements = pd.DataFrame()
        if measurements_file.is_file():
            table = pd.read_csv(measurements_file, low_memory=False)
            if "study_id" not in table.columns:
                raise DatasetLayoutError(measurements_file, "missing column study_id")
            # Indexed lookup: the full table has ~800k rows, too many to copy into dicts.
            self.measurements = table.drop_duplicates("study_id").set_index("study_id", drop=False)
        self.allow_flat_leads = allow_flat_leads
        self.skipped: list[SkippedRecord] = []

    def __len__(self) -> int:
        return len(self.records)

    def read_row(self, position: int) -> LabelledRecord:
        row = self.records.iloc[position]
        try:
            study_id, subject_id = int(row["study_id"]), int(row["subject_id"])
        except (TypeError, ValueError) as error:  # NaN ids in a damaged record_list row
            raise DatasetLayoutError(
                self.root / "record_list.csv", f"row {position + 1}: unusable id ({error})"
            ) from error
        path = self.root / str(row["path"])
        ecg = read_ecg(path, allow_flat_leads=self.allow_flat_leads)
        machine = self.measurements.loc[study_id] if study_id in self.measurements.index else None
        meta: dict[str, Any] = {
            "record_id": f"mimic_{study_id}",
            "study_id": study_id,
            "subject_id": subject_id,
            "ecg_time": row.get("ecg_time") if isinstance(row.get("ecg_time"), str) else None,
            "machine_measurements": machine_measurements(machine),
        }
        ecg.meta.update(source="mimic", record_id=meta["record_id"], patient_id=str(subject_id))
        return LabelledRecord(
            ecg=ecg, labels={}, report=machine_report(machine), patient_id=str(subject_id), meta=meta
        )

    def __iter__(self) -> Iterator[LabelledRecord]:
        def describe(position: int) -> tuple[str, str]:
            row = self.records.iloc[position]
            return f"mimic_{row['study_id']}", str(self.root / str(row["path"]))

        return iterate_records(list(range(len(self.records))), self.read_row, describe, self.skipped)
