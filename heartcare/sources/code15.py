"""CODE-15% (Ribeiro et al., Nat. Commun. 2020): 345k 12-lead ECGs from Brazil.

Layout read here:
    exams.csv            exam_id, age, is_male, patient_id, trace_file, and the binary
                         labels 1dAVb, RBBB, LBBB, SB, ST, AF (plus normal_ecg in later dumps)
    exams_part*.hdf5     `tracings` [N, 4096, 12] float at 400 Hz (leads I..V6 in
                         canonical order) and `exam_id` [N]
Records shorter than 4096 samples (10 s = 4000, 7 s = 2800) are zero-padded at both
ends; the padding is trimmed so it never reads as asystole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.raw import RawRecording, millivolt_factor, parse_age, to_ecg
from heartcare.errors import DatasetLayoutError, InvalidSignalError
from heartcare.sources.adapter import iterate_records
from heartcare.sources.record import LabelledRecord, SkippedRecord

CODE15_FS: float = 400.0
# CODE-15 label column -> SCP-ECG statement code.
LABEL_TO_SCP: dict[str, str] = {
    "1dAVb": "1AVB", "RBBB": "CRBBB", "LBBB": "CLBBB", "SB": "SBRAD", "ST": "STACH", "AF": "AFIB",
    "normal_ecg": "NORM",
}


def trim_zero_padding(tracing: np.ndarray, source: str) -> np.ndarray:
    """[samples, leads] -> the span between the first and last sample with any non-zero lead."""
    active = np.flatnonzero(np.any(tracing != 0, axis=1))
    if active.size == 0:
        raise InvalidSignalError(source, "tracing is all zeros")
    return tracing[active[0] : active[-1] + 1]


def patient_key(value: Any, exam_id: int) -> str:
    """Patient id as text; an exam without one stands for its own patient."""
    try:
        return str(int(value))
    except (TypeError, ValueError):  # NaN or missing
        return f"exam{exam_id}"


class Code15Dataset:
    """Iterate CODE-15 exams as `LabelledRecord`s; bad exams go to `.skipped`.

    units: what the stored values are in. CODE-15 tracings hold millivolt-sized
    amplitudes (QRS peaks around 1), so the default is mV; pass another unit if
    your copy was rescaled. HDF5 parts stay open while iterating; `close()` them.
    """

    def __init__(self, root: str | Path, units: str = "mV", allow_flat_leads: bool = False) -> None:
        import pandas as pd

        self.root = Path(root)
        exams = self.root / "exams.csv"
        if not exams.is_file():
            raise DatasetLayoutError(self.root, "exams.csv not found (not a CODE-15 folder)")
        self.table = pd.read_csv(exams)
        if "exam_id" not in self.table.columns:
            raise DatasetLayoutError(exams, "missing column exam_id")
        self.parts = sorted(self.root.glob("exams_part*.hdf5")) + sorted(self.root.glob("exams_part*.h5"))
        if not self.parts:
            raise DatasetLayoutError(self.root, "no exams_part*.hdf5 files found")
        self.factor = millivolt_factor(units, self.root)
        self.allow_flat_leads = allow_flat_leads
        self.skipped: list[SkippedRecord] = []
        # Indexed lookup: exams.csv has ~345k rows, too many to copy into dicts.
        self.rows = self.table.drop_duplicates("exam_id").set_index("exam_id", drop=False)
        self.locations: list[tuple[int, Path, int]] = []  # (exam_id, part file, row in part)
        self._handles: dict[Path, Any] = {}  # open h5py files: reopening per exam costs ~1 ms
        self._index_parts()

    def _index_parts(self) -> None:
        import h5py

        for part in self.parts:
            try:
                with h5py.File(part, "r") as handle:
                    if "tracings" not in handle or "exam_id" not in handle:
                        raise DatasetLayoutError(part, "HDF5 file lacks 'tracings' or 'exam_id'")
                    exam_ids = np.asarray(handle["exam_id"][:]).astype(np.int64)
                    if handle["tracings"].shape[0] != len(exam_ids):
                        raise DatasetLayoutError(part, "'tracings' and 'exam_id' differ in length")
            except OSError as error:
                raise DatasetLayoutError(part, f"not a readable HDF5 file ({error})") from error
            # Parts end with zero-id filler rows; only listed exams are records.
            listed = np.isin(exam_ids, self.rows.index.to_numpy())
            self.locations += [(int(exam_ids[i]), part, int(i)) for i in np.flatnonzero(listed)]

    def __len__(self) -> int:
        return len(self.locations)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> Code15Dataset:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_location(self, location: tuple[int, Path, int]) -> LabelledRecord:
        import h5py

        exam_id, part, index = location
        source = f"{part}[exam_id={exam_id}]"
        if part not in self._handles:
            self._handles[part] = h5py.File(part, "r")
        tracing = np.asarray(self._handles[part]["tracings"][index], dtype=np.float64)  # [4096, 12]
        if tracing.ndim != 2 or tracing.shape[1] != len(STANDARD_LEADS):
            raise InvalidSignalError(source, f"tracing shape {tracing.shape}, expected [samples, 12]")
        if not np.all(np.isfinite(tracing)):
            raise InvalidSignalError(source, "NaN or infinite samples")
        tracing = trim_zero_padding(tracing, source)
        row = self.rows.loc[exam_id]
        raw = RawRecording(
            signal=tracing.T * self.factor, fs=CODE15_FS, lead_names=list(STANDARD_LEADS),
            units=["mV"] * len(STANDARD_LEADS),
            meta={"record_id": f"code15_{exam_id}", "age": parse_age(row.get("age")),
                  "sex": None if "is_male" not in row else ("M" if bool(row["is_male"]) else "F"),
                  "patient_id": patient_key(row.get("patient_id"), exam_id)},
        )
        ecg = to_ecg(raw, source, "code15", allow_flat_leads=self.allow_flat_leads)
        labels = {scp: 100.0 for column, scp in LABEL_TO_SCP.items()
                  if column in row and str(row[column]).strip().lower() in {"true", "1", "1.0"}}
        meta: dict[str, Any] = {"record_id": f"code15_{exam_id}", "exam_id": exam_id,
                                "age": ecg.meta["age"], "sex": ecg.meta["sex"]}
        return LabelledRecord(ecg=ecg, labels=labels, report="", patient_id=ecg.meta["patient_id"], meta=meta)

    def __iter__(self) -> Iterator[LabelledRecord]:
        return iterate_records(
            self.locations, self.read_location,
            lambda location: (f"code15_{location[0]}", str(location[1])), self.skipped,
        )
