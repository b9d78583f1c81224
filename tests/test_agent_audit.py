"""The shortcut audit: blind floors at chance on a real balanced build, leaks caught, answers checked."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from heartcare.agent.audit import (
    KIND_MARGIN,
    TASK_MARGIN,
    audit_dataset,
    audit_failures,
    binomial_tail,
    cell_counts,
    missing_option_cues,
    offered_answer_rates,
)
from heartcare.agent.description import QaItem

pytest.importorskip("sklearn")

CONDITIONS = ({"normal": 0.0}, {"atrial_fibrillation": 0.8}, {"left_bundle_branch_block": 0.7}, {"sinus_bradycardia": 0.6},
              {"first_degree_av_block": 0.6}, {"old_inferior_mi": 0.7}, {"right_bundle_branch_block": 0.7},
              {"left_ventricular_hypertrophy": 0.7}, {"sinus_tachycardia": 0.6}, {"left_anterior_fascicular_block": 0.7},
              {"premature_ventricular": 0.6}, {"st_depression": 0.6})


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Path:
    """A real build of 48 simulated records, most of them in test so its balanced cells are not empty."""
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import MemorySource
    from heartcare.sim.simulate import SimulationSpec, simulate
    from heartcare.sources.record import LabelledRecord

    records = []
    for index in range(48):  # 24 patients of two records: 8 train, 2 valid, 14 test
        patient = index // 2
        fold = 1 + patient % 8 if patient < 8 else 9 if patient < 10 else 10
        spec = SimulationSpec(conditions=CONDITIONS[(index * 5) % len(CONDITIONS)], age=30 + index, sex="MF"[index % 2])
        simulated = simulate(spec, fs=500.0, seconds=10.0, seed=100 + index)
        meta = {"record_id": f"sim_{index}", "age": 30 + index, "sex": "MF"[index % 2],
                "recording_date": f"2019-0{1 + index % 2}-10 09:00:00", "strat_fold": fold}
        records.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=simulated.report,
                                      patient_id=f"patient-{patient}", meta=meta))
    out = tmp_path_factory.mktemp("audit") / "ds"
    config = BuildConfig(sources=("ptbxl:memory",), out=str(out), images_per_record=1, image_presets=("clean",),
                         image_dpi=40.0, shard_size=16, seed=11, min_per_answer=1)  # 28 test records: thin kinds kept
    build_dataset(config, sources=[MemorySource(records)], progress=False)
    return out


def test_every_card_carries_the_audit_and_the_command_agrees(audited, capsys):
    from heartcare.cli import main

    card = json.loads((audited / "dataset.json").read_text())
    assert card["format_version"] == 2 and "## Audit" in (audited / "README.md").read_text()
    assert card["audit"] == json.loads(json.dumps(audit_dataset(audited)))  # same numbers, deterministic
    code = main(["agent", "audit", str(audited), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == card["audit"] and code == int(bool(audit_failures(printed)))
    # an option text right whenever offered fails the audit, naming the split, the text and its rate
    leaky = {**printed, "offered_answer_rates": {"test": {"flagged": [
        {"kind": "diagnosis", "text": "non-diagnostic T abnormalities", "offered": 25, "answer_rate": 0.52, "chance": 0.25}]}}}
    assert audit_failures(leaky)[-1] == ("test: diagnosis option 'non-diagnostic T abnormalities' is the answer 0.52 "
                                         "of the 25 times offered (chance 0.25)")
    cue = {**printed, "missing_option_cues": {"test": {"flagged": [
        {"kind": "rhythm", "missing": "atrial fibrillation", "text": "pacemaker", "items": 36, "answer_rate": 0.78,
         "chance": 0.25, "p_value": 4.62e-11}]}}}
    assert audit_failures(cue)[-1] == ("test: rhythm items without 'atrial fibrillation' have the answer 'pacemaker' "
                                       "0.78 of the 36 times (chance 0.25, p 4.6e-11)")


def test_blind_baselines_sit_at_chance_on_the_balanced_test_split(audited):
    audit = json.loads((audited / "dataset.json").read_text())["audit"]["baselines"]
    rows = [row for row in audit["cells"] if row["modality"] == "all"]
    assert {row["task"] for row in rows} == {"closed_qa", "comparison_qa"}
    for row in rows:
        margin = TASK_MARGIN if row["kind"] == "all" else KIND_MARGIN
        if row["kind"] == "all" or row["items"] >= 60:
            for name in ("majority", "option_prior", "tfidf"):
                assert row[name] - row["chance"] <= margin, (row, name)
    assert audit["flagged"] == []
    offered = json.loads((audited / "dataset.json").read_text())["audit"]["offered_answer_rates"]
    assert set(offered) == {"valid", "test"} and all(rates["flagged"] == [] for rates in offered.values())
    missing = json.loads((audited / "dataset.json").read_text())["audit"]["missing_option_cues"]
    assert set(missing) == {"valid", "test"} and all(cues["flagged"] == [] for cues in missing.values())
    assert sum(cues["pairs"] for cues in missing.values()) > 0


def test_answer_checker_finds_no_violation_in_a_real_build(audited):
    check = json.loads((audited / "dataset.json").read_text())["audit"]["answer_check"]
    assert check["checked"] > 0 and check["violations"] == 0, check["examples"]


def test_balance_is_reported_and_test_answers_are_balanced(audited):
    import pyarrow.parquet as pq

    card = json.loads((audited / "dataset.json").read_text())
    totals = card["balance"]["test"]["totals"]
    assert totals["items_in"] - totals["items_kept"] == (
        totals["dropped_answer_items"] + totals["dropped_over_quota"] + totals["dropped_no_distractors"]
        + totals["dropped_seldom_distractor_items"] + totals["dropped_absence_cue_items"])
    for group in card["balance"]["test"]["groups"].values():
        assert group["items_kept"] == group["per_answer"] * group["answers_kept"]
    rows = [r for r in pq.read_table(audited / "qa" / "test.parquet").to_pylist() if r["task"] in ("closed_qa", "comparison_qa")]
    assert rows and card["totals"]["items_per_split"]["test"] == pq.read_table(audited / "qa" / "test.parquet").num_rows


def test_the_audit_catches_a_leaky_dataset(tmp_path):
    """"normal ECG" always right and the stem naming the answer: all three blind floors must flag it."""
    from conftest import write_bench_dataset

    rng = np.random.default_rng(0)
    texts = ["normal ECG", "atrial fibrillation", "complete left bundle branch block", "first degree AV block", "LVH"]

    def item(index: int, split: str) -> QaItem:
        answer = texts[0] if index % 3 else texts[1 + index % 4]
        others = [t for t in texts if t != answer]
        options = [others[int(i)] for i in rng.choice(len(others), 3, replace=False)]
        position = int(rng.integers(4))
        options.insert(position, answer)
        question = f"Patient {index} ({answer.split()[0]} suspected): diagnosis? Options: " + "; ".join(
            f"{'ABCD'[i]}: {t}" for i, t in enumerate(options)) + "."
        return QaItem(id=f"{split}{index}", task="closed_qa", dimension="diagnosis", modality="S", question=question,
                      answer=f"{'ABCD'[position]}: {answer}", choices=tuple(options), answer_index=position,
                      ecgs=((f"r{index}", "S"),), meta={"kind": "diagnosis"})

    folder = write_bench_dataset(tmp_path / "leaky", {"train": [item(i, "train") for i in range(300)],
                                                      "test": [item(i, "test") for i in range(90)]})
    audit = audit_dataset(folder)
    (overall,) = [r for r in audit["baselines"]["cells"] if r["kind"] == "all"]
    assert overall["majority"] > 0.6 and overall["option_prior"] > 0.6 and overall["tfidf"] > 0.6
    assert "closed_qa/all" in audit["baselines"]["flagged"] and "closed_qa/diagnosis" in audit["baselines"]["flagged"]
    assert audit["answer_check"]["unchecked"] == 90 + 300  # records unknown: never counted as correct


def test_cells_under_300_test_items_are_flagged():
    from heartcare.bench.items import BenchItem

    items = [BenchItem(id=str(i), task="closed_qa", dimension="rhythm", modality="S", question="q", answer="a") for i in range(300)]
    items += [BenchItem(id=f"c{i}", task="comparison_qa", dimension="rhythm", modality="C-SS", question="q", answer="a",
                        meta={"kind": "same_rhythm"}) for i in range(299)]
    cells = cell_counts(items)
    assert cells["under_300"] == ["comparison_qa/rhythm/C-SS", "comparison_qa/same_rhythm/C-SS"]


def test_a_text_rarely_drawn_as_a_distractor_is_flagged():
    """Every text is the answer of 10 items; "T" is offered only there, the others also as distractors."""
    from heartcare.bench.items import BenchItem

    texts = ["T", "A", "B", "C", "D", "E"]
    others = texts[1:]
    items = []
    for answer in texts:
        for index in range(10):
            distractors = [text for text in others if text != answer][index % 2: index % 2 + 3]
            choices = tuple([answer, *distractors])
            items.append(BenchItem(id=f"{answer}{index}", task="closed_qa", dimension="diagnosis", modality="S",
                                   question="q", answer="a", choices=choices, answer_index=0))
    rates = offered_answer_rates(items, min_offered=5)
    flagged = {row["text"]: row for row in rates["flagged"]}
    assert set(flagged) == {"T"} and flagged["T"]["answer_rate"] == 1.0 and flagged["T"]["chance"] == 0.25
    assert rates["texts"] == len(texts)
    # every text offered as a distractor three times as often as it is the answer: nothing flagged
    balanced = [BenchItem(id=f"b{answer}{index}", task="closed_qa", dimension="diagnosis", modality="S", question="q",
                          answer="a", choices=tuple(texts[(position + step) % len(texts)] for step in range(4)),
                          answer_index=0)
                for position, answer in enumerate(texts) for index in range(10)]
    assert offered_answer_rates(balanced, min_offered=5)["flagged"] == []


def rhythm_items(paced_exclude_af: bool) -> list:
    """Five rhythm texts, four options: each item leaves one out, in turn among its own non-answers;
    paced items may always leave out atrial fibrillation (they exclude it)."""
    from heartcare.bench.items import BenchItem

    texts = ["sinus rhythm", "atrial fibrillation", "sinus bradycardia", "sinus tachycardia", "pacemaker"]
    items = []
    for answer in texts:
        others = [text for text in texts if text != answer]
        for index in range(20):
            left_out = "atrial fibrillation" if answer == "pacemaker" and paced_exclude_af else others[index % 4]
            choices = [text for text in others if text != left_out]
            choices.insert(index % 4, answer)
            items.append(BenchItem(id=f"{answer}{index}", task="closed_qa", dimension="rhythm", modality="S",
                                   question="q", answer="a", choices=tuple(choices), answer_index=index % 4,
                                   meta={"kind": "rhythm"}))
    return items


def test_an_answer_named_by_a_missing_text_is_flagged():
    cues = missing_option_cues(rhythm_items(paced_exclude_af=True))
    assert cues["pairs"] == 20  # 5 missing texts x 4 texts offered beside each
    (row,) = cues["flagged"]
    # AF is missing from the 20 paced items and from 5 of each other non-AF answer's 20 items
    assert (row["missing"], row["text"], row["items"], row["chance"]) == ("atrial fibrillation", "pacemaker", 35, 0.25)
    assert row["answer_rate"] == round(20 / 35, 4) and row["p_value"] == float(f"{binomial_tail(20, 35, 0.25):.3g}")
    # the same items pass the offered-rate check: every text is offered often enough, only absence names one
    assert offered_answer_rates(rhythm_items(paced_exclude_af=True), min_offered=5)["flagged"] == []
    assert missing_option_cues(rhythm_items(paced_exclude_af=False))["flagged"] == []
    # the 20 pairs are one family: a p value under alpha but over alpha / 20 is not enough
    p_value = binomial_tail(20, 35, 0.25)
    assert missing_option_cues(rhythm_items(paced_exclude_af=True), alpha=10 * p_value)["flagged"] == []
    assert len(missing_option_cues(rhythm_items(paced_exclude_af=True), alpha=40 * p_value)["flagged"]) == 1


def test_binomial_tail_matches_the_exact_sum():
    from math import comb

    for successes, trials, probability in ((20, 40, 0.25), (0, 9, 0.3), (7, 7, 0.5), (3, 12, 0.1)):
        exact = sum(comb(trials, k) * probability ** k * (1 - probability) ** (trials - k) for k in range(successes, trials + 1))
        assert binomial_tail(successes, trials, probability) == pytest.approx(exact, rel=1e-9)


@pytest.fixture
def stub_hierarchy(monkeypatch):
    """A minimal hierarchy (contract 1) so the checker's own logic is tested apart from the real one."""
    implications = {"LVH": {"VCLVH", "HVOLT"}, "1AVB": {"LPR"}}
    module = types.ModuleType("heartcare.agent.hierarchy")

    def implied(codes):
        return frozenset(set(codes).union(*(implications.get(code, set()) for code in codes)))

    def excluded_texts(codes):
        from heartcare.sources.scp import statements

        texts = [statements()[code].description for code in implied(codes)]
        return texts + (["normal ECG"] if set(codes) <= {"NORM", "SR"} else [])

    module.implied, module.compatible, module.excluded_texts = implied, implied, excluded_texts
    monkeypatch.setitem(sys.modules, "heartcare.agent.hierarchy", module)
    import heartcare.agent

    monkeypatch.setattr(heartcare.agent, "hierarchy", module, raising=False)
    return module


def _closed(record: str, options: list[str], answer: int, kind: str) -> object:
    from heartcare.agent.answer_check import Item

    return Item(f"{record}-{kind}", "closed_qa", "diagnosis", tuple(options), answer, (record,), {"kind": kind})


def test_checker_flags_true_distractors_and_wrong_answers(stub_hierarchy):
    from heartcare.agent.answer_check import Item, check_answers

    rows = [{"record_id": "lvh", "labels": json.dumps({"LVH": 100.0, "SR": 0.0}), "measurements": json.dumps({"axis_deg": -45.0, "hr_bpm": 80.0})},
            {"record_id": "avb", "labels": json.dumps({"1AVB": 100.0}), "measurements": json.dumps({"axis_deg": 30.0, "hr_bpm": 60.0})}]
    good = _closed("lvh", ["normal ECG", "left ventricular hypertrophy", "first degree AV block", "atrial fibrillation"], 1, "diagnosis")
    true_distractor = _closed("lvh", ["high QRS voltage", "normal ECG", "complete left bundle branch block", "sinus rhythm"], 2, "waveform")
    implied_distractor = _closed("avb", ["prolonged PR interval", "first degree AV block", "normal ECG", "atrial fibrillation"], 1, "diagnosis")
    axis = _closed("lvh", ["normal axis", "left axis deviation", "right axis deviation", "extreme axis deviation"], 0, "misc:axis")
    faster = Item("rate", "comparison_qa", "rhythm", ("the first ECG", "the second ECG"), 1, ("lvh", "avb"), {"kind": "higher_rate"})
    check = check_answers([good], rows)
    assert check["checked"] == 1 and check["violations"] == 0
    check = check_answers([good, true_distractor, implied_distractor, axis, faster], rows)
    assert check["checked"] == 5 and check["violations"] == 4
    joined = " ".join(check["examples"])
    for phrase in ("'high QRS voltage' is true", "'complete left bundle branch block' is not true", "'prolonged PR interval'",
                   "'normal axis' is not true", "'left axis deviation' is true", "rates are [80.0, 60.0]"):
        assert phrase in joined, phrase


def test_checker_catches_wrong_answers_in_a_real_build(audited):
    """Moving every answer to the next option must turn (nearly) every checked item into a violation."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from heartcare.agent.audit import audit_tables

    tables = {}
    for split in ("train", "test"):
        rows = pq.read_table(audited / "qa" / f"{split}.parquet").to_pylist()
        for row in rows:
            if row["choices"]:
                row["answer_index"] = (row["answer_index"] + 1) % len(row["choices"])
        tables[split] = pa.Table.from_pylist(rows)
    check = audit_tables(tables, pq.read_table(audited / "records.parquet"), seed=0)["answer_check"]
    assert check["checked"] > 100 and check["violations"] >= 0.9 * check["checked"], check["by_kind"]
    assert all(kind["violations"] > 0 for kind in check["by_kind"].values()), check["by_kind"]
