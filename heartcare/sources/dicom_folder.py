"""A folder of hospital DICOM ECG exports (`*.dcm`), e.g. from a cart or PACS dump.

Labels are empty (DICOM ECGs carry device statements, not SCP codes with
likelihoods); the report is the device's text annotations when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from heartcare.ecg.read import read_ecg
from heartcare.errors import DatasetLayoutError
from heartcare.sources.adapter import iterate_records
from heartcare.sources.record import LabelledRecord, SkippedRecord


def device_report(path: Path) -> str:
    """Unformatted text annotations of the waveform (the cart's interpretation)."""
    import pydicom

    dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
    lines = []
    for annotation in dataset.get("WaveformAnnotationSequence", []):
        text = annotation.get("UnformattedTextValue")
        if text:
            lines.append(str(text).strip())
    return "\n".join(lines)


class DicomFolderDataset:
    """Every `*.dcm` under `root` as a `LabelledRecord`; unreadable ones go to `.skipped`."""

    def __init__(self, root: str | Path, allow_flat_leads: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(self.root, "DICOM folder not found")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in {".dcm", ".dicom"})
        if not self.files:
            raise DatasetLayoutError(self.root, "no .dcm files found")
        self.allow_flat_leads = allow_flat_leads
        self.skipped: list[SkippedRecord] = []

    def __len__(self) -> int:
        return len(self.files)

    def read(self, path: Path) -> LabelledRecord:
        ecg = read_ecg(path, allow_flat_leads=self.allow_flat_leads)
        patient_id = ecg.meta.get("patient_id") or str(ecg.meta["record_id"])
        ecg.meta["patient_id"] = patient_id
        meta = {"record_id": ecg.meta["record_id"], "age": ecg.meta.get("age"), "sex": ecg.meta.get("sex"),
                "recording_date": ecg.meta.get("recording_date"), "file": str(path)}
        return LabelledRecord(ecg=ecg, labels={}, report=device_report(path), patient_id=patient_id, meta=meta)

    def __iter__(self) -> Iterator[LabelledRecord]:
        return iterate_records(self.files, self.read, lambda path: (path.stem, str(path)), self.skipped)
