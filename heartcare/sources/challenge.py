"""PhysioNet/CinC Challenge 2020/21 records: WFDB `.hea` + `.mat`, labels as SNOMED CT.

Header comments carry the labels: `#Age: 74`, `#Sex: Male`, `#Dx: 426783006,164889003`.
SNOMED codes are mapped to PTB-XL's SCP-ECG codes through the shipped table
`snomed_to_scp.csv` (the Challenge's scored classes plus common extras); codes
without an SCP equivalent are kept in `meta["unmapped_snomed"]`.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from pathlib import Path

from heartcare.ecg.read import read_ecg
from heartcare.errors import DatasetLayoutError
from heartcare.sources.adapter import iterate_records
from heartcare.sources.record import LabelledRecord, SkippedRecord


@cache
def snomed_to_scp() -> dict[str, str]:
    """SNOMED CT concept id -> SCP-ECG statement code."""
    text = resources.files("heartcare.sources").joinpath("snomed_to_scp.csv").read_text()
    return {row["snomed"]: row["scp_code"] for row in csv.DictReader(text.splitlines())}


def map_snomed(dx: str) -> tuple[dict[str, float], list[str]]:
    """'426783006,164889003' -> ({'SR': 100.0, 'AFIB': 100.0}, unmapped codes)."""
    table = snomed_to_scp()
    labels: dict[str, float] = {}
    unmapped: list[str] = []
    for code in (part.strip() for part in dx.replace(";", ",").split(",")):
        if not code:
            continue
        if code in table:
            labels[table[code]] = 100.0  # Challenge labels are binary
        else:
            unmapped.append(code)
    return labels, unmapped


def read_challenge(path: str | Path, allow_flat_leads: bool = False) -> LabelledRecord:
    """One Challenge record (the `.hea`, `.mat` or bare path) as a `LabelledRecord`."""
    ecg = read_ecg(path, allow_flat_leads=allow_flat_leads)
    ecg.meta["source"] = "challenge"
    labels, unmapped = map_snomed(str(ecg.meta.get("dx", "")))
    record_id = str(ecg.meta["record_id"])
    meta = {
        "record_id": record_id,
        "age": ecg.meta.get("age"),
        "sex": ecg.meta.get("sex"),
        "snomed": [c.strip() for c in str(ecg.meta.get("dx", "")).split(",") if c.strip()],
        "unmapped_snomed": unmapped,
    }
    # Challenge records carry no patient id; each record stands for its own patient.
    ecg.meta["patient_id"] = ecg.meta.get("patient_id") or record_id
    return LabelledRecord(ecg=ecg, labels=labels, report="", patient_id=ecg.meta["patient_id"], meta=meta)


class ChallengeDataset:
    """Every `*.hea` under `root` (the Challenge's per-source folders), sorted by path."""

    def __init__(self, root: str | Path, allow_flat_leads: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(self.root, "Challenge folder not found")
        self.headers = sorted(self.root.rglob("*.hea"))
        if not self.headers:
            raise DatasetLayoutError(self.root, "no .hea files found (expected Challenge WFDB records)")
        self.allow_flat_leads = allow_flat_leads
        self.skipped: list[SkippedRecord] = []

    def __len__(self) -> int:
        return len(self.headers)

    def __iter__(self):
        return iterate_records(
            self.headers,
            lambda header: read_challenge(header, self.allow_flat_leads),
            lambda header: (header.stem, str(header)),
            self.skipped,
        )
