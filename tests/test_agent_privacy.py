"""De-identification and split hygiene."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from heartcare.agent.deidentify import Deidentifier, safe_age, sensitive_values
from heartcare.agent.splits import (
    assign_split,
    drop_cross_split_duplicates,
    overlap_report,
    waveform_hash,
)

PLANTED = (
    "Patient: Johanna Gruber, MRN 12345678, born 12.03.1950, tel +49 30 1234567, "
    "mail j.gruber@klinik-example.de, lives at 221 Baker Street, Hauptstrasse 12. "
    "Seen by Dr. Anna Meier on March 4, 2021 (2021-03-04 10:22). QRS 94 ms, HR 72 bpm."
)
SECRETS = ("Johanna", "Gruber", "12345678", "12.03.1950", "1234567", "j.gruber", "Baker Street",
           "Hauptstrasse", "Anna Meier", "March 4, 2021", "2021-03-04")


def test_scrub_removes_every_planted_identifier_and_keeps_clinical_numbers():
    text = Deidentifier().scrub(PLANTED)
    for secret in SECRETS:
        assert secret not in text, secret
    assert "QRS 94 ms" in text and "HR 72 bpm" in text


def test_known_values_are_removed_verbatim():
    meta = {"name": "Ziggy Stardust", "physician": "Rumpelstilz"}
    text = Deidentifier().scrub("ziggy came; rumpelstilz signed", sensitive_values(meta))
    assert "ziggy" not in text.lower() and "rumpelstilz" not in text.lower()


def test_dates_shift_consistently_per_patient():
    deidentifier = Deidentifier("salt")
    first = deidentifier.shift_date("2020-01-01", "p1")
    second = deidentifier.shift_date("2020-03-01T10:00:00", "p1")
    gap = dt.date.fromisoformat(second) - dt.date.fromisoformat(first)
    assert gap.days == 60 and first != "2020-01-01"
    assert dt.date.fromisoformat(first) < dt.date(2020, 1, 1)  # never shifted into the future
    assert deidentifier.pseudonym("p1") == Deidentifier("salt").pseudonym("p1") != Deidentifier("other").pseudonym("p1")
    dicom = deidentifier.shift_date("20200101093000", "p1")  # DICOM DT form
    assert dicom == first
    assert safe_age(300) == 90 and safe_age("nan") is None


def _shift(deidentifier: Deidentifier, date: str, patient: str) -> int:
    return (dt.date.fromisoformat(deidentifier.shift_date(date, patient)) - dt.date.fromisoformat(date[:10])).days


def test_date_shift_differs_between_patients_and_is_constant_within_one():
    deidentifier = Deidentifier("salt")
    dates = ("2001-02-03", "2015-07-30", "2020-12-31T23:59:00")
    shifts = {patient: {_shift(deidentifier, date, patient) for date in dates} for patient in (f"p{i}" for i in range(200))}
    assert all(len(values) == 1 for values in shifts.values())  # one offset per patient: intervals survive
    offsets = [values.pop() for values in shifts.values()]
    assert len(set(offsets)) > 190  # a shared offset would let one known date unshift everyone
    assert all(-3650 <= offset <= -1 for offset in offsets)
    assert _shift(Deidentifier("other"), dates[0], "p1") != _shift(deidentifier, dates[0], "p1")  # keyed by the salt


def _dicom_folder(folder, patients: int, per_patient: int):
    """Copies of pydicom's 12-lead ECG, several per patient (no folds), each waveform and date made distinct."""
    import shutil

    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    folder.mkdir()
    template = get_testdata_file("waveform_ecg.dcm")
    for patient in range(patients):
        for visit in range(per_patient):
            path = folder / f"ecg_{patient:02d}_{visit}.dcm"
            shutil.copy(template, path)
            dataset = pydicom.dcmread(path)
            dataset.PatientID = f"MRN-{patient:04d}-X"
            dataset.AcquisitionDateTime = f"2013{1 + visit:02d}10105919"  # same calendar for every patient
            waveform = dataset.WaveformSequence[0]
            samples = np.frombuffer(waveform.WaveformData, np.int16).astype(np.int32)
            scale = 100 + patient * per_patient + visit  # a different amplitude per file: no duplicate drops
            waveform.WaveformData = (samples * scale // 100).astype(np.int16).tobytes()
            dataset.save_as(path)
    return folder


def test_a_folder_source_without_folds_keeps_each_patient_in_one_split_and_shifts_dates_per_patient(tmp_path):
    import pyarrow.parquet as pq

    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig

    folder = _dicom_folder(tmp_path / "dicom", patients=12, per_patient=3)
    out = tmp_path / "ds"
    build_dataset(BuildConfig(sources=(f"dicom:{folder}",), out=str(out), images_per_record=0, shard_size=8, seed=1), progress=False)
    rows = pq.read_table(out / "records.parquet").to_pylist()
    assert len(rows) == 36 and len({row["patient_id"] for row in rows}) == 12
    splits: dict[str, set[str]] = {}
    dates: dict[str, list[dt.date]] = {}
    for row in rows:
        splits.setdefault(row["patient_id"], set()).add(row["split"])
        dates.setdefault(row["patient_id"], []).append(dt.date.fromisoformat(row["date"]))
    assert all(len(found) == 1 for found in splits.values())  # patient-disjoint splits
    assert len({split for found in splits.values() for split in found}) >= 2
    offsets = set()
    for patient_dates in dates.values():
        first, second, third = sorted(patient_dates)
        assert [(second - first).days, (third - second).days] == [31, 28]  # Jan 10, Feb 10, Mar 10 2013
        offsets.add(first.toordinal())
    assert len(offsets) == 12  # same true dates, different shifted ones: each patient has its own offset
    json_card = (out / "dataset.json").read_text()
    assert '"patients_in_several_splits": 0' in json_card


def test_splits_follow_ptbxl_folds_or_a_patient_hash():
    assert [assign_split("x", fold) for fold in (1, 8, 9, 10)] == ["train", "train", "valid", "test"]
    splits = [assign_split(f"patient{i}") for i in range(2000)]
    share = {name: splits.count(name) / 2000 for name in ("train", "valid", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["test"] < 0.13
    assert assign_split("patient7") == assign_split("patient7")


def test_waveform_hash_catches_duplicates_across_splits():
    signal = np.round(np.random.default_rng(0).normal(size=(12, 500)), 3)  # on the 1-uV grid
    same = waveform_hash(signal) == waveform_hash(signal + 1e-5)  # sub-microvolt noise is still a copy
    assert same and waveform_hash(signal) != waveform_hash(signal * 2)
    hashes = [waveform_hash(signal), waveform_hash(signal), waveform_hash(signal), waveform_hash(signal * 2)]
    drops = drop_cross_split_duplicates(["a", "b", "c", "d"], ["train", "train", "test", "test"], hashes)
    assert [drop.record_id for drop in drops] == ["c"]
    assert overlap_report(["p1", "p1"], ["train", "test"], ["h1", "h2"]) == {
        "patients_in_several_splits": 1, "waveforms_in_several_splits": 0}
