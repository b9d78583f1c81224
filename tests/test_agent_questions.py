"""QA builders: the paper's rules on plain record descriptions (no signals, fast)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from heartcare.agent.description import RecordDescription, patient_phrase
from heartcare.agent.questions.closed import closed_items
from heartcare.agent.questions.comparison import (
    comparison_set,
    consecutive_pairs,
    irrelevant_pairs,
)
from heartcare.agent.questions.findings import closed_answer, hedge
from heartcare.agent.questions.open import open_items
from heartcare.agent.questions.prediction import prediction_items, prediction_window
from heartcare.agent.questions.report import build_report
from heartcare.agent.templates import distinct_n, phrasing_counts, template_bank
from heartcare.agent.vocabulary import axis_class, rate_band
from heartcare.sources.scp import statements

MEASURED = {"hr_bpm": 72.0, "pr_ms": 160.0, "qrs_ms": 96.0, "qt_ms": 380.0, "qtc_ms": 410.0, "axis_deg": -45.0}


def describe(labels, record_id="r1", patient="p1", **kwargs) -> RecordDescription:
    base = {"age": 63, "sex": "M", "measurements": MEASURED}
    base.update(kwargs)
    return RecordDescription(record_id=record_id, patient_id=patient, labels=labels, **base)


def test_closed_question_names_age_sex_and_uses_the_paper_option_format():
    items = closed_items(describe({"IMI": 80.0, "SR": 0.0, "QWAVE": 0.0}), np.random.default_rng(0))
    assert {item.dimension for item in items} == {"diagnosis", "waveform", "rhythm", "misc"}
    # without a form statement IMI leaves the waveform undetermined: no waveform item, not "normal"
    assert "waveform" not in {i.dimension for i in closed_items(describe({"IMI": 80.0, "SR": 0.0}), np.random.default_rng(0))}
    assert {item.modality for item in items} == {"S", "I"}
    for item in items:
        assert "63-year-old male" in item.question
        assert re.search(r"Options: A: [^;]+; B: [^;]+; C: [^;]+; D: [^;]+\.$", item.question)
        letter = "ABCD"[item.answer_index]
        assert item.answer == f"{letter}: {item.choices[item.answer_index]}"
        assert len(set(item.choices)) == 4


def test_answer_is_the_strongest_finding_never_a_normal_fallback():
    strong = describe({"IMI": 80.0, "LAFB": 35.0})
    assert closed_answer(strong, "diagnosis")[0] == "inferior myocardial infarction"
    # issue 18: below 60 the finding is still the answer (hedged only in open/report wording)
    weak = describe({"IMI": 50.0, "LAFB": 35.0})
    assert closed_answer(weak, "diagnosis") == ("inferior myocardial infarction", "IMI", 50.0)
    assert closed_answer(describe({"SR": 0.0}), "diagnosis") == (None, None, 0.0)  # nothing derivable
    # PTB-XL writes 0 for form/rhythm statements stated without likelihood: they count as certain.
    assert closed_answer(describe({"AFIB": 0.0}), "rhythm")[0] == "atrial fibrillation"


def test_distractors_never_overlap_any_true_label_and_come_from_the_same_category():
    table = statements()
    labels = {"IMI": 80.0, "LAFB": 35.0, "ISC_": 20.0, "NORM": 15.0, "SR": 0.0, "ABQRS": 0.0}
    true_texts = {table[code].description for code in labels}
    diagnostic_texts = {s.description for s in table.values() if "diagnostic" in s.kinds}
    for seed in range(40):
        for item in closed_items(describe(labels), np.random.default_rng(seed)):
            distractors = [c for i, c in enumerate(item.choices) if i != item.answer_index]
            assert not true_texts & set(distractors)
            if item.dimension == "diagnosis":
                assert set(distractors) <= diagnostic_texts


def test_correct_letter_is_uniformly_distributed():
    letters = Counter()
    rng = np.random.default_rng(1)
    for index in range(500):
        for item in closed_items(describe({"IMI": 80.0}, record_id=str(index)), rng, ("S",)):
            letters[item.answer_index] += 1
    total = sum(letters.values())
    assert set(letters) == {0, 1, 2, 3}
    assert all(abs(count / total - 0.25) < 0.04 for count in letters.values()), letters


def test_open_answers_are_hedged_by_likelihood():
    items = open_items(describe({"IMI": 85.0, "LAFB": 35.0}), np.random.default_rng(0), ("S",))
    diagnosis = next(item for item in items if item.dimension == "diagnosis")
    assert "the ECG shows findings consistent with inferior myocardial infarction" in diagnosis.answer
    # likelihood 100 or PTB-XL's 0 (stated, likelihood unknown) is said plainly
    plain = open_items(describe({"IMI": 100.0}), np.random.default_rng(0), ("S",))[0]
    assert plain.answer == "Diagnostically, the ECG shows inferior myocardial infarction."
    assert "possible left anterior fascicular block" in diagnosis.answer
    assert hedge(15) == "cannot exclude" and hedge(65) == "likely"


def test_report_has_every_section_and_the_measurements():
    report = build_report(describe({"IMI": 100.0, "SR": 0.0}))
    for heading in ("Patient:", "Rhythm and rate:", "Intervals:", "Axis:", "Waveform:", "Diagnosis:", "Recommendation:"):
        assert heading in report
    assert "QRS 96 ms" in report and "left axis deviation" in report and "inferior myocardial infarction" in report


def test_prediction_items_use_beat_windows_in_signal_and_image_form():
    rng = np.random.default_rng(0)
    start = prediction_window(2500, rng)
    items = prediction_items(describe({}), 2500, start, rng, ("S", "I"), "images/00000/r_context.png")
    assert sorted((item.modality, item.meta["target"]["samples"]) for item in items) == [
        ("I", 250), ("I", 500), ("S", 250), ("S", 500)
    ]
    for item in items:
        # one context window for every horizon; the target is its own block (format 2), never inside the context
        assert item.meta["context"] == {"file": None, "offset": start, "samples": 1000}
        assert item.meta["target"]["offset"] == 0 and start + 1000 + item.meta["target"]["samples"] <= 2500
        assert item.ecgs == (("r1", item.modality),)
        assert ("image" in item.meta) == (item.modality == "I")
    assert len({item.id for item in items}) == 4
    # only the 1-s horizon fits into 5.2 s; nothing fits into 4.8 s
    short = prediction_items(describe({}), 1300, prediction_window(1300, rng), rng)
    assert [item.meta["target"]["samples"] for item in short] == [250]
    assert prediction_window(1200, rng) is None and prediction_items(describe({}), 1200, None, rng) == []


def test_comparison_pairs_and_balanced_answers():
    descriptions = [
        describe({"SR": 0.0} if i % 3 else {"AFIB": 0.0}, record_id=f"r{i}", patient=f"p{i // 2}",
                 date=f"2020-01-0{1 + i % 2}", measurements={"hr_bpm": 60.0 + 11 * i})  # 10 bpm margin
        for i in range(40)
    ]
    consecutive = consecutive_pairs(descriptions)
    assert consecutive and all(a.patient_id == b.patient_id and a.date <= b.date for a, b in consecutive)
    irrelevant = irrelevant_pairs(descriptions, seed=0)
    assert irrelevant and all(a.patient_id != b.patient_id for a, b in irrelevant)
    items = comparison_set(descriptions, seed=0)
    assert {item.modality for item in items} == {"C-SS", "C-II", "C-SI"}
    for relation in ("consecutive", "irrelevant"):
        for modality in ("C-SS", "C-II", "C-SI"):
            group = [item for item in items if item.meta["relation"] == relation and item.modality == modality]
            same = Counter(item.answer_index for item in group if item.meta["kind"] == "same_rhythm")  # A: Yes, B: No
            assert same[0] == same[1] > 0, (relation, modality, same)
            faster = Counter(item.answer_index for item in group if item.meta["kind"] == "higher_rate")
            assert abs(faster[0] - faster[1]) <= 1 and faster[0] > 0, (relation, modality, faster)
            letters = Counter(item.answer_index for item in group if item.meta["kind"] == "new_finding")
            if relation == "irrelevant":  # "new" speaks of time: only same-patient pairs in date order get it
                assert not letters
            elif letters:
                assert max(letters.values()) - min(letters[i] for i in range(4)) <= 1, (relation, modality, letters)
    for item in items:
        if item.meta["kind"] == "higher_rate":  # the dealt letter really is the faster ECG
            rates = {d.record_id: d.measurements["hr_bpm"] for d in descriptions}
            first, second = (rates[record_id] for record_id, _ in item.ecgs)
            assert item.answer_index == (0 if first > second else 1)
    si = next(item for item in items if item.modality == "C-SI")
    assert [modality for _, modality in si.ecgs] == ["S", "I"]
    assert [item.id for item in comparison_set(list(reversed(descriptions)), seed=0)] != []  # order-free input


def test_same_rhythm_keeps_both_answers_when_successive_pairs_have_one():
    # one patient AFIB -> SR -> AFIB: both successive pairs answer "No"; only the
    # non-successive (first, third) pair answers "Yes" - it must be used, not everything dropped
    rhythms = ({"AFIB": 0.0}, {"SR": 0.0}, {"AFIB": 0.0})
    descriptions = [describe(labels, record_id=f"r{i}", patient="p1", date=f"2020-01-0{i + 1}") for i, labels in enumerate(rhythms)]
    items = [item for item in comparison_set(descriptions, seed=0, modalities=("C-SS",)) if item.meta["kind"] == "same_rhythm"]
    assert sorted(item.answer for item in items) == ["A: Yes", "B: No"]
    assert all(item.meta["relation"] == "consecutive" for item in items)
    # a single class with no pair of the other stays out (nothing to balance it with)
    alike = [describe({"SR": 0.0}, record_id=f"s{i}", patient="p2", date=f"2020-01-0{i + 1}") for i in range(3)]
    assert not [item for item in comparison_set(alike, seed=0) if item.meta["kind"] == "same_rhythm"]


def test_template_bank_has_30_phrasings_per_task_and_distinct_n_works():
    assert min(phrasing_counts().values()) >= 30
    assert len(template_bank()["source_nouns"]["I"]) >= 3
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n([], 2) == 0.0


def test_vocabulary_classes_and_patient_phrase():
    assert axis_class(45) == "normal axis" and axis_class(-60) == "left axis deviation"
    assert axis_class(120) == "right axis deviation" and axis_class(-120) == "extreme axis deviation"
    assert rate_band(45) == "under 50 bpm" and rate_band(130) == "over 100 bpm"
    assert patient_phrase(describe({}, age=80, sex="F")) == "an 80-year-old female patient"
    assert "90 or older" in patient_phrase(describe({}, age=90))
    assert patient_phrase(describe({}, age=None, sex=None)) == "an adult patient"


def test_ecgqa_entries_map_onto_records_of_one_split(tmp_path):
    import json

    from heartcare.agent.ecgqa import ecgqa_items, read_ecgqa

    entries = [
        {"question_id": 1, "question_type": "single-verify", "attribute_type": "noise",
         "question": "Does this ECG show baseline drift?", "answer": ["yes"], "ecg_id": [5]},
        {"question_id": 2, "question_type": "comparison_consecutive-query", "attribute_type": "scp_code",
         "question": "What is newly shown in the second ECG?", "answer": ["inferior myocardial infarction"], "ecg_id": [5, 6]},
        {"question_id": 3, "question_type": "single-query", "question": "Which leads?", "answer": ["V1"], "ecg_id": [99]},
    ]
    path = tmp_path / "ecgqa.json"
    path.write_text(json.dumps(entries))
    items = ecgqa_items(read_ecgqa(path), {"ptbxl_5": "train", "ptbxl_6": "train"}, with_images=True)
    train = items["train"]
    assert {i.task for i in train} == {"closed_qa", "comparison_qa"} and len(train) == 5
    verify = next(i for i in train if i.task == "closed_qa")
    assert verify.answer == "yes" and verify.answer_index == 0
    assert all(i.ecgs[0][0] == "ptbxl_5" for i in train)
