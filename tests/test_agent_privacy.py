"""De-identification and split hygiene."""

from __future__ import annotations

import datetime as dt

import numpy as np

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
    assert deidentifier.shift_date("2020-01-01", "p2") != first or deidentifier.date_shift_days("p2") == deidentifier.date_shift_days("p1")
    assert dt.date.fromisoformat(first) < dt.date(2020, 1, 1)  # never shifted into the future
    assert deidentifier.pseudonym("p1") == Deidentifier("salt").pseudonym("p1") != Deidentifier("other").pseudonym("p1")
    dicom = deidentifier.shift_date("20200101093000", "p1")  # DICOM DT form
    assert dicom == first
    assert safe_age(300) == 90 and safe_age("nan") is None


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
