"""Patient-level splits and the waveform-hash duplicate check.

PTB-XL's recommended folds: `strat_fold` 1-8 train, 9 valid, 10 test (folds are
patient-disjoint by construction). Sources without folds hash the patient id onto a
fold the same way, so all of a patient's records land in one split. A waveform hash
then catches the same signal filed under two patients (copied exports, re-imports).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from heartcare.agent.description import stable_hash

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")


def fold_split(fold: int) -> Split:
    """PTB-XL fold 1-10 -> split."""
    return "test" if fold == 10 else "valid" if fold == 9 else "train"


def assign_split(patient_id: str, strat_fold: int | None = None, seed: int = 0) -> Split:
    """The record's split: its PTB-XL fold when known, else a hash of its patient."""
    if strat_fold is not None and 1 <= int(strat_fold) <= 10:
        return fold_split(int(strat_fold))
    return fold_split(stable_hash(seed, "fold", patient_id) % 10 + 1)


def waveform_hash(signal: np.ndarray) -> str:
    """Hash of the signal quantised to 1 uV, so float noise from resampling does not hide copies.

    signal: [leads, samples] mV.
    """
    quantised = np.round(np.asarray(signal, dtype=np.float64) * 1000.0).astype(np.int32)
    return hashlib.blake2b(quantised.tobytes(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class DuplicateDrop:
    record_id: str
    duplicate_of: str
    reason: str


def drop_cross_split_duplicates(
    record_ids: list[str], splits: list[str], hashes: list[str]
) -> list[DuplicateDrop]:
    """Records whose waveform already appears in another split (first by record order wins).

    Duplicates inside one split are harmless for evaluation and are kept.
    """
    first_seen: dict[str, tuple[str, str]] = {}
    drops = []
    for record_id, split, digest in zip(record_ids, splits, hashes, strict=True):
        if digest not in first_seen:
            first_seen[digest] = (record_id, split)
            continue
        original, original_split = first_seen[digest]
        if original_split != split:
            drops.append(DuplicateDrop(record_id, original, f"same waveform as {original} in split {original_split}"))
    return drops


def overlap_report(patients: list[str], splits: list[str], hashes: list[str]) -> dict[str, int]:
    """Patients and waveforms found in more than one split (the card shows both, expected 0)."""
    patient_splits: dict[str, set[str]] = {}
    hash_splits: dict[str, set[str]] = {}
    for patient, split, digest in zip(patients, splits, hashes, strict=True):
        patient_splits.setdefault(patient, set()).add(split)
        hash_splits.setdefault(digest, set()).add(split)
    return {
        "patients_in_several_splits": sum(len(s) > 1 for s in patient_splits.values()),
        "waveforms_in_several_splits": sum(len(s) > 1 for s in hash_splits.values()),
    }
