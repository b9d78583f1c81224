"""What the QA builders know about one ECG, and the QA item they produce.

The builders never touch the waveform: they work from this plain description
(labels, demographics, measurements, noise flags), so they are fast, easy to test
and identical for every source (PTB-XL, simulator, PDF, DICOM).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["closed_qa", "open_qa", "comparison_qa", "report", "signal_prediction"]
Dimension = Literal["diagnosis", "waveform", "rhythm", "misc"]
Modality = Literal["S", "I", "C-SS", "C-II", "C-SI"]

TASKS: tuple[Task, ...] = ("closed_qa", "open_qa", "comparison_qa", "report", "signal_prediction")
DIMENSIONS: tuple[Dimension, ...] = ("diagnosis", "waveform", "rhythm", "misc")
MODALITIES: tuple[Modality, ...] = ("S", "I", "C-SS", "C-II", "C-SI")

# Noise / artefact flags PTB-XL records carry (columns of ptbxl_database.csv).
NOISE_FLAGS: tuple[str, ...] = ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems")


def effective_likelihood(likelihood: float) -> float:
    """PTB-XL writes 0 for statements stated without a likelihood (all form and rhythm
    codes, some diagnostic ones): those are asserted findings, so they count as 100."""
    return 100.0 if likelihood <= 0 else float(likelihood)


@dataclass(frozen=True)
class RecordDescription:
    """One ECG as the QA builders see it.

    labels: SCP code -> likelihood 0-100 (0 = stated without likelihood);
    measurements: `measure(ecg).to_dict()` keys (hr_bpm, pr_ms, qrs_ms, qt_ms, qtc_ms,
    axis_deg), values may be None; noise: the NOISE_FLAGS that are set; noise_shown: whether
    the stored signal still shows the recording's noise (False once denoised: the flags then
    describe a recording no reader sees, so no signal-quality question is asked);
    infarct_stage: PTB-XL `infarction_stadium1` text or None; extra_beats: PTB-XL
    `extra_beats` text or None; date: ISO date (already shifted by de-identification).
    """

    record_id: str
    patient_id: str
    labels: dict[str, float] = field(default_factory=dict)
    age: int | None = None
    sex: Literal["M", "F"] | None = None
    measurements: dict[str, float | None] = field(default_factory=dict)
    noise: tuple[str, ...] = ()
    noise_shown: bool = True
    infarct_stage: str | None = None
    extra_beats: str | None = None
    pacemaker: bool = False
    date: str | None = None

    def certain_labels(self) -> dict[str, float]:
        """Labels with their effective likelihood (0 -> 100)."""
        return {code: effective_likelihood(value) for code, value in self.labels.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "patient_id": self.patient_id,
            "labels": dict(self.labels),
            "age": self.age,
            "sex": self.sex,
            "measurements": dict(self.measurements),
            "noise": list(self.noise),
            "noise_shown": self.noise_shown,
            "infarct_stage": self.infarct_stage,
            "extra_beats": self.extra_beats,
            "pacemaker": self.pacemaker,
            "date": self.date,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordDescription:
        return cls(
            record_id=str(data["record_id"]),
            patient_id=str(data["patient_id"]),
            labels={str(k): float(v) for k, v in (data.get("labels") or {}).items()},
            age=None if data.get("age") is None else int(data["age"]),
            sex=data.get("sex"),
            measurements=dict(data.get("measurements") or {}),
            noise=tuple(data.get("noise") or ()),
            noise_shown=bool(data.get("noise_shown", True)),
            infarct_stage=data.get("infarct_stage"),
            extra_beats=data.get("extra_beats"),
            pacemaker=bool(data.get("pacemaker", False)),
            date=data.get("date"),
        )


def patient_phrase(description: RecordDescription) -> str:
    """'a 63-year-old male patient' (the paper puts age and sex in every question)."""
    sex = {"M": "male ", "F": "female "}.get(description.sex or "", "")
    if description.age is None:
        return f"an adult {sex}patient"  # PTB-XL hides some ages; never guess one
    if description.age >= 90:
        return f"a {sex}patient aged 90 or older"  # HIPAA: ages above 89 are grouped
    age = f"{description.age}-year-old"
    # "an" before ages spoken with a vowel sound: 8, 11, 18, 80-89
    article = "an" if age.startswith(("8", "11-", "18-")) else "a"
    return f"{article} {age} {sex}patient"


@dataclass(frozen=True)
class QaItem:
    """One row of qa/{split}.parquet (DESIGN.md schema); `meta` is JSON-encoded on write."""

    id: str
    task: Task
    dimension: Dimension
    modality: Modality
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    answer_index: int = -1
    ecgs: tuple[tuple[str, str], ...] = ()  # (record_id, modality "S"/"I")
    meta: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "dimension": self.dimension,
            "modality": self.modality,
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
            "answer_index": self.answer_index,
            "ecgs": [{"record_id": record_id, "modality": modality} for record_id, modality in self.ecgs],
            "meta": json.dumps(self.meta, sort_keys=True),
        }


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process and run (unlike `hash`)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def item_id(*parts: object) -> str:
    return f"{stable_hash(*parts):016x}"
