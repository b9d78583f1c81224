"""PTB-XL (Wagner et al., Sci. Data 2020): 21,799 12-lead 10 s ECGs with SCP-ECG labels.

Layout read here:
    ptbxl_database.csv   ecg_id, patient_id, age, sex (0 male, 1 female), recording_date,
                         report, scp_codes ("{'NORM': 100.0}"), strat_fold,
                         filename_lr (100 Hz record), filename_hr (500 Hz record)
    scp_statements.csv   the statement table (heartcare ships its own copy)
    records100/ records500/  WFDB records named by filename_lr / filename_hr
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.raw import parse_age
from heartcare.ecg.read import read_ecg
from heartcare.errors import DatasetLayoutError, HeartcareError
from heartcare.sources.adapter import iterate_records
from heartcare.sources.record import LabelledRecord, SkippedRecord
from heartcare.sources.scp import parse_scp_codes

REQUIRED_COLUMNS: tuple[str, ...] = (
    "ecg_id", "patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr",
)
# Columns copied into meta when present: demographics and recording context.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "height", "weight", "device", "site", "nurse", "validated_by", "validated_by_human",
)
# Annotations every record's meta carries (the QA builder asks about them): the
# cardiologist's free text (PTB-XL writes the affected leads, e.g. ", I-AVR,"), as a
# stripped string, or None when the cell (or the whole column) is empty.
ANNOTATION_COLUMNS: tuple[str, ...] = (
    "baseline_drift", "static_noise", "burst_noise", "electrodes_problems",
    "infarction_stadium1", "infarction_stadium2", "extra_beats", "pacemaker", "heart_axis",
)
# PTB-XL ships each record at 100 Hz (filename_lr) and 500 Hz (filename_hr).
NATIVE_FILE_COLUMN: dict[int, str] = {100: "filename_lr", 500: "filename_hr"}


def clean_value(value: Any) -> Any:
    """NaN -> None, numpy scalars -> Python (so meta stays JSON-serialisable)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def patient_key(value: Any) -> str:
    """PTB-XL stores patient_id as a float (15709.0); ids are compared as strings."""
    value = clean_value(value)
    if value is None:
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def row_meta(ecg_id: int, row: Any) -> dict[str, Any]:
    """The meta dict of one ptbxl_database.csv row (raises ValueError on bad values)."""
    sex_code = clean_value(row.get("sex"))
    meta: dict[str, Any] = {
        "record_id": f"ptbxl_{ecg_id}",
        "ecg_id": ecg_id,
        "strat_fold": int(row["strat_fold"]),
        "recording_date": clean_value(row.get("recording_date")),
        "age": parse_age(clean_value(row.get("age"))),  # PTB-XL codes ages > 89 as 300
        "sex": None if sex_code is None else ("F" if int(sex_code) == 1 else "M"),
    }
    for extra in OPTIONAL_COLUMNS:
        if extra in row.index and clean_value(row[extra]) is not None:
            meta[extra] = clean_value(row[extra])
    for column in ANNOTATION_COLUMNS:
        meta[column] = annotation_text(row.get(column))
    return meta


def annotation_text(value: Any) -> str | None:
    """An annotation cell as text: NaN / empty / whitespace -> None, numbers -> str."""
    value = clean_value(value)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class PtbXlDataset:
    """Iterate a PTB-XL folder as `LabelledRecord`s; bad records go to `.skipped`.

    fs: 100 or 500 read the matching native files; any other rate reads the 500 Hz
    files and resamples. folds: keep only these `strat_fold` values (1..10).
    """

    def __init__(
        self,
        root: str | Path,
        fs: int = 500,
        folds: Iterable[int] | None = None,
        allow_flat_leads: bool = False,
    ) -> None:
        import pandas as pd

        self.root = Path(root)
        database = self.root / "ptbxl_database.csv"
        if not database.is_file():
            raise DatasetLayoutError(self.root, "ptbxl_database.csv not found (not a PTB-XL folder)")
        try:
            table = pd.read_csv(database, index_col="ecg_id")
        except (ValueError, pd.errors.ParserError) as error:
            raise DatasetLayoutError(database, f"cannot read the table ({error})") from error
        missing = [c for c in REQUIRED_COLUMNS if c != "ecg_id" and c not in table.columns]
        if missing:
            raise DatasetLayoutError(database, f"missing column(s) {', '.join(missing)}")
        if not table.index.is_unique:
            duplicated = sorted(set(table.index[table.index.duplicated()].tolist()))[:5]
            raise DatasetLayoutError(database, f"duplicate ecg_id(s) {duplicated}")
        if folds is not None:
            table = table[table["strat_fold"].isin(list(folds))]
        if fs <= 0:
            raise DatasetLayoutError(self.root, f"fs must be positive, got {fs}")
        self.table = table
        self.fs = fs
        self.file_column = NATIVE_FILE_COLUMN.get(int(fs), "filename_hr")
        self.allow_flat_leads = allow_flat_leads
        self.skipped: list[SkippedRecord] = []

    def __len__(self) -> int:
        return len(self.table)

    def record_path(self, ecg_id: int) -> Path:
        return self.root / str(self.table.at[ecg_id, self.file_column])

    def read(self, ecg_id: int) -> LabelledRecord:
        """One record by `ecg_id`; raises a `HeartcareError` when it cannot be used."""
        if ecg_id not in self.table.index:
            raise DatasetLayoutError(self.root, f"ecg_id {ecg_id} not in ptbxl_database.csv")
        row = self.table.loc[ecg_id]
        path = self.record_path(ecg_id)
        resample_to = None if int(self.fs) in NATIVE_FILE_COLUMN else self.fs
        ecg = read_ecg(path, fs=resample_to, allow_flat_leads=self.allow_flat_leads)
        labels = parse_scp_codes(str(row["scp_codes"]), source=f"{path} (scp_codes)")
        try:
            meta = row_meta(int(ecg_id), row)
        except (TypeError, ValueError) as error:  # a hand-edited or damaged table row
            raise DatasetLayoutError(
                self.root / "ptbxl_database.csv", f"ecg_id {ecg_id}: unusable value ({error})"
            ) from error
        patient_id = patient_key(row["patient_id"])
        ecg.meta.update(
            source="ptbxl", record_id=meta["record_id"], patient_id=patient_id,
            age=meta["age"], sex=meta["sex"], recording_date=meta["recording_date"],
        )
        report = clean_value(row.get("report")) or ""
        return LabelledRecord(ecg=ecg, labels=labels, report=str(report), patient_id=patient_id, meta=meta)

    def __iter__(self) -> Iterator[LabelledRecord]:
        def describe(ecg_id: int) -> tuple[str, str]:
            try:
                return f"ptbxl_{ecg_id}", str(self.record_path(ecg_id))
            except (KeyError, HeartcareError):
                return f"ptbxl_{ecg_id}", str(self.root)

        return iterate_records(list(self.table.index), self.read, describe, self.skipped)
