"""Record sources the build reads: PTB-XL folders, DICOM folders, PDF folders, memory.

A source lists stable keys (so shards, and therefore resume, are deterministic) and
loads one key into a `LabelledRecord` plus the extra facts the QA builder uses (noise
flags, infarct stage, ectopy, PTB-XL fold). Loading raises `HeartcareError` for a
bad record; the build records the reason and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from heartcare.agent.description import NOISE_FLAGS
from heartcare.errors import DatasetLayoutError
from heartcare.sources.record import LabelledRecord


class RecordSource(Protocol):
    kind: str

    def keys(self) -> list[str]: ...

    def load(self, key: str) -> tuple[LabelledRecord, dict[str, Any]]: ...


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return ""
    return str(value).strip()


class PtbXlSource:
    """A PTB-XL-layout folder (the real one or heartcare's simulated cohort), read at 500 Hz."""

    kind = "ptbxl"

    def __init__(self, root: str | Path) -> None:
        from heartcare.sources.ptbxl import PtbXlDataset

        self.dataset = PtbXlDataset(root, fs=500)

    def keys(self) -> list[str]:
        return [str(int(key)) for key in self.dataset.table.index]

    def load(self, key: str) -> tuple[LabelledRecord, dict[str, Any]]:
        record = self.dataset.read(int(key))
        meta = record.meta  # the adapter puts the annotations there: text, or None when empty
        extras: dict[str, Any] = {
            # PTB-XL writes the affected leads into these columns; any text means "present".
            "noise": tuple(flag for flag in NOISE_FLAGS if _text(meta.get(flag))),
            "infarct_stage": _text(meta.get("infarction_stadium1")) or None,
            "extra_beats": _text(meta.get("extra_beats")) or None,
            "pacemaker": bool(_text(meta.get("pacemaker"))),
            "strat_fold": meta.get("strat_fold"),
        }
        sensitive = [_text(meta.get(private)) for private in ("nurse", "validated_by", "site", "device")]
        if any(sensitive):
            extras["sensitive"] = [value for value in sensitive if value]
        return record, extras


class DicomSource:
    """A folder of DICOM waveform exports; ids are hashed later since file names may be PHI."""

    kind = "dicom"

    def __init__(self, root: str | Path) -> None:
        from heartcare.sources.dicom_folder import DicomFolderDataset

        self.dataset = DicomFolderDataset(root)

    def keys(self) -> list[str]:
        return [str(path) for path in self.dataset.files]

    def load(self, key: str) -> tuple[LabelledRecord, dict[str, Any]]:
        record = self.dataset.read(Path(key))
        return record, {"noise": (), "sensitive": [Path(key).stem]}


class PdfSource:
    """A folder of vector ECG PDFs (hospital exports), read by the Converter."""

    kind = "pdf"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(self.root, "PDF folder not found")
        self.files = sorted(p for p in self.root.rglob("*.pdf"))
        if not self.files:
            raise DatasetLayoutError(self.root, "no .pdf files found")

    def keys(self) -> list[str]:
        return [str(path) for path in self.files]

    def load(self, key: str) -> tuple[LabelledRecord, dict[str, Any]]:
        from heartcare.agent.converter import convert_pdf

        record = convert_pdf(key)
        return record, {"noise": (), "sensitive": [Path(key).stem]}


class MemorySource:
    """Records already in memory (tests, notebooks); `extras` per record are optional."""

    kind = "memory"

    def __init__(self, records: list[LabelledRecord], extras: list[dict[str, Any]] | None = None) -> None:
        self.records = records
        self.extras = extras or [{} for _ in records]

    def keys(self) -> list[str]:
        return [str(index) for index in range(len(self.records))]

    def load(self, key: str) -> tuple[LabelledRecord, dict[str, Any]]:
        index = int(key)
        return self.records[index], dict(self.extras[index])


SOURCE_TYPES: dict[str, Callable[[str], RecordSource]] = {
    "ptbxl": PtbXlSource,
    "dicom": DicomSource,
    "pdf": PdfSource,
}


def open_source(spec: str) -> RecordSource:
    """"KIND:PATH" -> a source (ecgqa is not a record source; the build handles it)."""
    kind, _, path = spec.partition(":")
    if kind not in SOURCE_TYPES:
        raise DatasetLayoutError(spec, f"not a record source; known: {', '.join(SOURCE_TYPES)}")
    return SOURCE_TYPES[kind](path)
