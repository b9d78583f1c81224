"""HeartAgent properties a regression would silently break: per-patient date shifts and
patient-level splits for sources without folds (through `process_record`, where the raw
patient id is known), and the quality window the Optimizer keeps."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from heartcare.agent.config import BuildConfig
from heartcare.agent.deidentify import MAX_SHIFT_DAYS, Deidentifier, safe_age, sensitive_values
from heartcare.agent.optimizer import optimize
from heartcare.agent.process import process_record
from heartcare.agent.splits import (
    DuplicateDrop,
    assign_split,
    drop_cross_split_duplicates,
    fold_split,
    overlap_report,
    waveform_hash,
)
from heartcare.ecg.record import Ecg
from heartcare.sources.record import LabelledRecord

PATIENTS, VISITS = 6, 3
VISIT_DATES = ("2020-01-15 08:00:00", "2020-02-15 09:30:00", "2020-03-15 10:00:00")  # the same for everyone


def beats(fs: float, seconds: float) -> np.ndarray:
    """[samples] sharp peaks at 72 bpm, QRS-like enough for the measurements to run."""
    time = np.arange(int(fs * seconds)) / fs
    return np.sin(np.pi * 1.2 * time) ** 40


@pytest.fixture(scope="module")
def processed() -> list[tuple[str, dict]]:
    """(raw patient, records.parquet row) for 6 patients x 3 visits of a source with no folds."""
    config = BuildConfig(sources=("dicom:unused",), out="unused", images_per_record=0)
    # two patients per split, so that a split by record would have somewhere else to put a visit
    candidates = (f"MRN-{number:04d}" for number in range(1000))
    chosen: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    while min(map(len, chosen.values())) < PATIENTS // 3:
        patient_id = next(candidates)
        chosen[assign_split(patient_id, None, config.seed)].append(patient_id)
    patients = [patient_id for found in chosen.values() for patient_id in found[: PATIENTS // 3]]
    trace = beats(250.0, 4.0)
    rows = []
    for patient, patient_id in enumerate(patients):
        for visit in range(VISITS):
            index = patient * VISITS + visit
            ecg = Ecg(np.tile(trace * (1 + 0.01 * index), (12, 1)).astype(np.float32), 250.0)
            record = LabelledRecord(ecg=ecg, labels={"NORM": 100.0}, report="Normal ECG.", patient_id=patient_id,
                                    meta={"record_id": f"ecg_{index:03d}", "recording_date": VISIT_DATES[visit]})
            rows.append((record.patient_id, process_record(record, {}, config, "dicom", f"key{index}", 0).row))
    return rows


def test_records_without_folds_keep_each_patient_in_one_split(processed):
    splits = defaultdict(set)
    for patient, row in processed:
        splits[patient].add(row["split"])
    assert all(len(found) == 1 for found in splits.values()), dict(splits)
    assert {split for found in splits.values() for split in found} == {"train", "valid", "test"}
    pseudonyms = defaultdict(set)
    for patient, row in processed:
        pseudonyms[patient].add(row["patient_id"])
    assert all(len(found) == 1 for found in pseudonyms.values()) and len(set.union(*pseudonyms.values())) == PATIENTS


def test_dates_shift_per_patient_and_keep_the_intervals_between_visits(processed):
    dates = defaultdict(list)
    for patient, row in processed:
        dates[patient].append(dt.date.fromisoformat(row["date"]))
    true = [dt.date.fromisoformat(date[:10]) for date in VISIT_DATES]
    offsets = set()
    for shifted in dates.values():
        shifts = {(date - original).days for date, original in zip(shifted, true, strict=True)}
        assert len(shifts) == 1  # one offset per patient: 31 and 29 days between visits survive
        (shift,) = shifts
        assert -MAX_SHIFT_DAYS <= shift <= -1
        offsets.add(shift)
    assert len(offsets) == PATIENTS  # a shared offset would let one known date unshift everyone


def test_assign_split_ignores_everything_but_the_patient_and_its_fold():
    for patient in (f"patient-{i}" for i in range(300)):
        assert assign_split(patient) == assign_split(patient, None) == assign_split(patient, strat_fold=0)
        assert assign_split(patient, 11) == assign_split(patient)  # an out-of-range fold is ignored
    assert [fold_split(fold) for fold in range(1, 11)] == ["train"] * 8 + ["valid", "test"]
    assert assign_split("anyone", "10") == "test"  # folds read from CSV arrive as strings
    seeds = {assign_split(f"patient-{i}", seed=1) == assign_split(f"patient-{i}", seed=0) for i in range(300)}
    assert seeds == {True, False}  # the seed reshuffles patients


def test_deidentifier_shifts_are_keyed_by_patient_and_salt():
    first, second = Deidentifier("salt-a"), Deidentifier("salt-b")
    assert first.shift_date("2020-01-01", "p1") == first.shift_date("2020-01-01T23:59:59", "p1")
    assert first.shift_date("2020-01-01", "p1") != first.shift_date("2020-01-01", "p2")
    assert first.shift_date("2020-01-01", "p1") != second.shift_date("2020-01-01", "p1")
    assert first.shift_date(dt.date(2020, 1, 1), "p1") == first.shift_date(dt.datetime(2020, 1, 1, 7), "p1")
    assert first.shift_date("not a date", "p1") is None and first.shift_date("", "p1") is None
    assert first.shift_date(None, "p1") is None
    assert first.pseudonym("p1") != first.pseudonym("p2") and first.pseudonym("p1").startswith("P")
    assert len(first.pseudonym("p1")) == 11


@pytest.mark.parametrize("noisy_s", [(20.0, 30.0), (0.0, 10.0), (10.0, 20.0)])
def test_optimizer_keeps_the_clean_window(noisy_s):
    """30 s with 10 s of 2 mV noise: the stored 10 s come from the clean part.

    Windows pay for the time they spend in noise bursts (`quality.window_score`), so none is
    kept; the last (or first) window regardless of quality would overlap the noise fully.
    """
    fs = 500.0
    signal = np.tile(beats(fs, 30.0), (12, 1))
    first, last = (int(edge * fs) for edge in noisy_s)
    signal[:, first:last] += np.random.default_rng(0).normal(0, 2.0, (12, last - first))
    stored = optimize(Ecg(signal.astype(np.float32), fs), fs=250, seconds=10.0)
    assert stored.signal.shape == (12, 2500)
    # judged from the stored samples, not from metadata: the share of 40 ms stretches whose
    # sample-to-sample jumps are noise (clean beats move < 0.05 mV per sample, the noise ~1 mV)
    jumps = np.abs(np.diff(stored.signal[0])[:2490]).reshape(-1, 10).mean(axis=1)
    assert (jumps > 0.2).mean() <= 0.02, (jumps > 0.2).mean()  # no noise kept (quality.window_score)


def test_pseudonyms_splits_and_hashes_are_stable_across_versions():
    """Rebuilding a dataset must give the same pseudonyms, date shifts, splits and waveform hashes:
    resumed builds, merged builds and published splits depend on it (a change here is a new dataset)."""
    deidentifier = Deidentifier()
    assert [deidentifier.pseudonym(p) for p in ("p1", "MRN-0042")] == ["P8538815411", "P3108109514"]
    assert [deidentifier.date_shift_days(p) for p in ("p1", "MRN-0042")] == [-2020, -279]
    expected = "train train train train valid train test train train train test train".split()
    assert [assign_split(f"patient{i}") for i in range(12)] == expected
    signal = np.arange(24, dtype=np.float32).reshape(12, 2) / 7
    assert waveform_hash(signal) == "c513b2d424be74d987ce46ef9df7a656"


def test_date_shifts_cover_exactly_one_day_to_ten_years_back():
    shifts = [Deidentifier("salt").date_shift_days(f"p{i}") for i in range(20000)]
    assert min(shifts) == -MAX_SHIFT_DAYS and max(shifts) == -1  # never 0 (no shift) nor forward
    assert Deidentifier().shift_date("2020-01-01T10:00:00Z", "p1") == "2014-06-21"  # UTC suffix parsed
    assert Deidentifier().shift_date("20200101", "p1") == "2014-06-21"  # DICOM DA


def test_sensitive_values_cover_every_identifying_field_and_split_names_into_parts():
    fields = ("name", "patient_name", "first_name", "last_name", "physician", "operator", "mrn", "patient_id",
              "address", "phone", "email", "nurse", "technician", "validated_by")
    for field in fields:
        assert f"value-of-{field}" in sensitive_values({field: f"value-of-{field}"}), field
    people = ("name", "patient_name", "first_name", "last_name", "physician", "operator", "nurse", "technician",
              "validated_by")
    for field in people:  # DICOM PN "Family^Given" and "Given Family": each part removed on its own
        assert set(sensitive_values({field: "Doe^Ann Li"})) == {"Doe^Ann Li", "Doe", "Ann"}, field
    for field in ("mrn", "patient_id", "phone", "email", "address"):
        assert sensitive_values({field: "12 34, 567"}) == ["12 34, 567"], field
    assert sensitive_values({"name": None, "age": 63, "sex": "F"}) == []
    assert all(isinstance(value, str) for value in sensitive_values({"mrn": 12345678}))


def test_scrub_removes_known_values_longest_first_and_keeps_short_ones():
    scrub = Deidentifier().scrub
    assert scrub("Annabel signed, Ann read", ["Ann", "Annabel"]) == "[REDACTED] signed, [REDACTED] read"
    assert scrub("Bob and Al", ["Bob", "Al"]) == "[REDACTED] and Al"  # under 3 characters: too common to cut
    # longest first, not alphabetical: "Meier" first would leave "Anna" behind
    assert scrub("seen by Anna Meier", ["Meier", "Anna Meier"]) == "seen by [REDACTED]"
    assert scrub("", ["Bob"]) == "" and scrub(None) == ""


def test_safe_age_keeps_newborns_and_groups_the_oldest():
    assert [safe_age(age) for age in (0, 0.5, 1, 63, "63.0", 89, 90, 91, 300)] == [0, 0, 1, 63, 63, 89, 90, 90, 90]
    assert safe_age(-1) is None and safe_age("unknown") is None and safe_age(None) is None


def test_duplicate_and_overlap_bookkeeping():
    drops = drop_cross_split_duplicates(["a", "b", "c"], ["train", "test", "train"], ["h", "h", "h"])
    assert drops == [DuplicateDrop("b", "a", "same waveform as a in split train")]
    with pytest.raises(ValueError):
        drop_cross_split_duplicates(["a", "b"], ["train"], ["h", "h"])
    with pytest.raises(ValueError):
        overlap_report(["p1"], ["train", "test"], ["h1"])
    report = overlap_report(["p1", "p2", "p2", "p3", "p3", "p3"], ["train", "train", "valid", "test", "test", "valid"],
                            ["h1", "h2", "h2", "h3", "h4", "h4"])
    assert report == {"patients_in_several_splits": 2, "waveforms_in_several_splits": 2}
    three = overlap_report(["p1", "p1", "p1"], ["train", "valid", "test"], ["h", "h", "h"])
    assert three == {"patients_in_several_splits": 1, "waveforms_in_several_splits": 1}


GOLDEN_QUESTIONS = Path(__file__).parent / "golden" / "agent_questions.json"
MEASURED = {"hr_bpm": 72.0, "pr_ms": 160.0, "qrs_ms": 96.0, "qt_ms": 380.0, "qtc_ms": 410.0, "axis_deg": 40.0}
# (labels, extra RecordDescription fields): one per kind of record the builders treat differently
GOLDEN_RECORDS = (
    ({"NORM": 100.0, "SR": 0.0}, {}),
    ({"IMI": 80.0, "LAFB": 35.0, "QWAVE": 0.0, "SR": 0.0}, {"infarct_stage": "Stadium III", "measurements": {**MEASURED, "axis_deg": -50.0}}),
    ({"AFIB": 0.0, "LVH": 100.0, "VCLVH": 0.0, "STD_": 0.0}, {"measurements": {**MEASURED, "hr_bpm": 118.0, "pr_ms": None}}),
    ({"CLBBB": 100.0, "SR": 0.0, "PVC": 0.0}, {"extra_beats": "1ES", "measurements": {**MEASURED, "qrs_ms": 150.0}}),
    ({"ASMI": 50.0, "INJAS": 50.0, "STE_": 0.0, "STACH": 0.0}, {"infarct_stage": "Stadium I", "noise": ("baseline_drift",)}),
    ({"1AVB": 100.0, "SBRAD": 0.0, "NDT": 0.0}, {"measurements": {**MEASURED, "hr_bpm": 48.0, "pr_ms": 240.0}, "sex": "F"}),
    ({"PACE": 0.0}, {"pacemaker": True, "age": None, "sex": None, "noise": ("static_noise", "burst_noise")}),
    ({"CRBBB": 100.0, "SARRH": 0.0, "LVOLT": 0.0}, {"measurements": {key: None for key in MEASURED}}),
    ({"AFLT": 0.0, "ISCAL": 100.0, "INVT": 0.0}, {"age": 91, "sex": "M"}),
    ({"NORM": 100.0, "IRBBB": 100.0, "SR": 0.0}, {}),  # a tie: the finding goes before "normal"
    # the hedging scale at its edges (80 / 60 / 30) and several doubtful findings joined in one clause
    ({"LAFB": 80.0, "IMI": 60.0, "ASMI": 30.0, "LVH": 15.0, "ISCAL": 20.0, "SR": 0.0}, {}),
    ({"NORM": 60.0, "SR": 0.0}, {}),
    ({"NORM": 30.0, "SR": 0.0}, {"sex": "F"}),
    ({"NORM": 10.0, "IRBBB": 10.0, "LAFB": 10.0, "SR": 0.0}, {}),
)


def golden_descriptions():
    from heartcare.agent.description import RecordDescription

    descriptions = []
    for index, (labels, extra) in enumerate(GOLDEN_RECORDS):
        fields = {"age": 40 + 5 * index, "sex": "MF"[index % 2], "measurements": MEASURED, **extra}
        descriptions.append(RecordDescription(record_id=f"r{index}", patient_id=f"p{index // 2}", labels=labels,
                                              date=f"2015-0{1 + index % 2}-10", **fields))
    return descriptions


def built_questions() -> list[dict]:
    from heartcare.agent.questions.closed import closed_items
    from heartcare.agent.questions.comparison import comparison_set
    from heartcare.agent.questions.open import open_items
    from heartcare.agent.questions.prediction import prediction_items, prediction_window
    from heartcare.agent.questions.report import build_report, report_items

    descriptions = golden_descriptions()
    items = []
    for index, description in enumerate(descriptions):
        rng = np.random.default_rng([7, index])
        items += closed_items(description, rng) + open_items(description, rng)
        items += report_items(description, rng, ("S", "I"), build_report(description))
        start = prediction_window(2500, rng)
        items += prediction_items(description, 2500, start, rng, ("S", "I"), f"images/{description.record_id}_context.png")
    items += comparison_set(descriptions, seed=3)
    return [json.loads(json.dumps(item.to_row(), sort_keys=True, default=list)) for item in items]


def test_question_builders_write_the_golden_items():
    """Every QA builder's exact output on fourteen kinds of record (questions, options, answers, meta).

    After an intended change of wording or rules, regenerate with HEARTCARE_UPDATE_GOLDEN=1 and
    review the diff of tests/golden/agent_questions.json like code.
    """
    items = built_questions()
    if os.environ.get("HEARTCARE_UPDATE_GOLDEN"):
        GOLDEN_QUESTIONS.write_text(json.dumps(items, indent=1, sort_keys=True) + "\n")
        pytest.skip("golden questions written; re-run to compare")
    golden = json.loads(GOLDEN_QUESTIONS.read_text())
    assert len(items) == len(golden)
    for item, expected in zip(items, golden, strict=True):
        assert item == expected
