"""One reading per record: closed, open and report answers agree; hedges, guards and grammar."""

from __future__ import annotations

import re

import numpy as np

from heartcare.agent.description import RecordDescription
from heartcare.agent.questions.closed import closed_items
from heartcare.agent.questions.open import dimension_sentence, open_items
from heartcare.agent.questions.report import build_report
from heartcare.agent.reading import read
from heartcare.agent.templates import fill
from heartcare.agent.vocabulary import answer_vocabulary, misc_facts
from heartcare.bench.metrics.terms import extract_concepts
from heartcare.sources.scp import statements

MEASURED = {"hr_bpm": 75.0, "pr_ms": 170.0, "qrs_ms": 100.0, "qt_ms": 380.0, "qtc_ms": 410.0, "axis_deg": 40.0}


def describe(labels, record_id="r", **kwargs) -> RecordDescription:
    base = {"age": 58, "sex": "F", "measurements": MEASURED}
    base.update(kwargs)
    return RecordDescription(record_id=record_id, patient_id="p", labels=labels, **base)


def answers(description: RecordDescription) -> dict[str, str]:
    items = closed_items(description, np.random.default_rng(0), ("S",))
    return {item.meta["kind"]: item.choices[item.answer_index] for item in items}


def random_description(rng: np.random.Generator, index: int) -> RecordDescription:
    codes = list(statements())
    weights = np.array([statement.prevalence for statement in statements().values()])
    chosen = rng.choice(codes, size=int(rng.integers(1, 6)), replace=False, p=weights / weights.sum())
    labels = {str(code): float(rng.choice([0, 15, 35, 50, 80, 100])) for code in chosen}
    measurements = {"hr_bpm": float(rng.uniform(40, 140)), "pr_ms": float(rng.uniform(110, 260)),
                    "qrs_ms": float(rng.uniform(70, 160)), "qt_ms": float(rng.uniform(320, 480)),
                    "qtc_ms": float(rng.uniform(380, 520)), "axis_deg": float(rng.uniform(-170, 170))}
    return describe(labels, record_id=f"r{index}", measurements=measurements)


def test_likelihood_zero_afib_is_asserted_not_normal():
    description = describe({"AFIB": 0.0, "NORM": 0.0})
    assert answers(description)["rhythm"] == "atrial fibrillation"
    assert "As for the rhythm, the ECG shows atrial fibrillation." in [i.answer for i in open_items(description, np.random.default_rng(0), ("S",))]
    assert "Rhythm and rate: atrial fibrillation;" in build_report(description)


def test_below_threshold_rbbb_is_hedged_never_normal():
    description = describe({"CRBBB": 35.0, "SR": 0.0})
    assert answers(description)["diagnosis"] == "complete right bundle branch block"  # plain option text
    texts = [item.answer for item in open_items(description, np.random.default_rng(0), ("S",))]
    report = build_report(description)
    assert "Diagnostically, the ECG shows possible complete right bundle branch block." in texts
    assert "Diagnosis: possible complete right bundle branch block." in report
    assert "normal ECG" not in " ".join(texts) + report
    assert "no significant waveform abnormality" not in " ".join(texts) + report
    assert "possibly wide QRS complexes" in report


def test_measurement_guards():
    af = build_report(describe({"AFIB": 0.0}, measurements={**MEASURED, "pr_ms": 150.0}))
    assert "PR" not in af.split("Intervals:")[1].split("\n")[0]
    long_pr = {**MEASURED, "pr_ms": 230.0}
    assert "PR 230 ms" not in build_report(describe({"SR": 0.0, "NORM": 100.0}, measurements=long_pr))
    assert "PR 230 ms" in build_report(describe({"SR": 0.0, "1AVB": 100.0}, measurements=long_pr))
    assert "PR 170 ms" not in build_report(describe({"SR": 0.0, "1AVB": 100.0}))
    wide = {**MEASURED, "qrs_ms": 140.0}
    assert "QRS 140 ms" not in build_report(describe({"SR": 0.0, "NORM": 100.0}, measurements=wide))
    assert "QRS 140 ms" in build_report(describe({"SR": 0.0, "CLBBB": 100.0}, measurements=wide))
    lbbb = build_report(describe({"SR": 0.0, "CLBBB": 100.0}))  # QRS 100 ms disagrees with LBBB
    assert "QRS 100 ms" not in lbbb and "Waveform: wide QRS complexes." in lbbb
    assert "no significant waveform abnormality" not in lbbb


def test_closed_items_carry_kind_excluded_and_one_vocabulary():
    rng = np.random.default_rng(3)
    for index in range(300):
        description = random_description(rng, index)
        for item in closed_items(description, np.random.default_rng(index), ("S",)):
            kind = item.meta["kind"]
            vocabulary = set(answer_vocabulary(kind))
            assert len(item.choices) == 4 and set(item.choices) <= vocabulary, (kind, item.choices)
            answer = item.choices[item.answer_index]
            wrong = set(item.choices) - {answer}
            assert answer in item.meta["excluded"] and not wrong & set(item.meta["excluded"])
            assert "answer_code" in item.meta


def test_closed_open_and_report_name_the_same_findings():
    rng = np.random.default_rng(7)
    for index in range(400):
        description = random_description(rng, index)
        reading = read(description)
        report = build_report(description)
        lines = dict(line.split(": ", 1) for line in report.splitlines())
        report_concepts = extract_concepts(report)
        chosen = answers(description)
        for dimension in ("diagnosis", "waveform", "rhythm"):
            sentence, codes = dimension_sentence(reading, dimension)
            named = extract_concepts(sentence) if sentence else frozenset()
            assert set(codes) == named, (sentence, codes)
            assert named <= report_concepts, (sentence, report)
            answer = chosen.get(dimension)
            state = reading.dimensions[dimension]
            if answer is None:
                assert not state.findings and not state.normal
                continue
            answer_concepts = extract_concepts(answer)
            assert answer_concepts <= named, (answer, sentence)
            assert (state.answer_code or "-") in codes or answer == "no significant waveform abnormality"
            if answer == "no significant waveform abnormality":
                assert lines["Waveform"] == "no significant waveform abnormality."
        if {"CLBBB", "CRBBB"} & set(description.labels):
            assert "no significant waveform abnormality" not in report


def test_grammar_of_hedged_answers():
    bad = re.compile(r"\b(is|are) (possible|likely|consistent with)\b|shows consistent|the ECG is possible|\b1 seconds\b")
    rng = np.random.default_rng(11)
    for index in range(200):
        description = random_description(rng, index)
        texts = [item.answer for item in open_items(description, np.random.default_rng(index), ("S",))]
        texts.append(build_report(description))
        for text in texts:
            assert not bad.search(text), text
            assert "  " not in text and ".." not in text, text
    assert fill("the next {h} seconds", h=1) == "The next 1 second"


def test_misc_margins_and_label_agreement():
    assert "axis" not in misc_facts(describe({}, measurements={"axis_deg": -25.0}))  # within 10 degrees of -30
    assert misc_facts(describe({}, measurements={"axis_deg": -50.0}))["axis"].answer == "left axis deviation"
    assert "axis" not in misc_facts(describe({"LAFB": 100.0}, measurements={"axis_deg": 30.0}))  # disagrees with LAFB
    assert "rate" not in misc_facts(describe({}, measurements={"hr_bpm": 98.5}))  # within 3 bpm of 100
    assert "rate" not in misc_facts(describe({"STACH": 0.0}, measurements={"hr_bpm": 90.0}))
    assert misc_facts(describe({}, infarct_stage="Stadium II"))["infarct_stage"].answer == "recent infarction (stage II)"
    assert "infarct_stage" not in misc_facts(describe({"IMI": 100.0}))  # no stage stated, infarct present
    assert misc_facts(describe({"NORM": 100.0}))["infarct_stage"].answer == "no myocardial infarction"
    assert "ectopy" not in misc_facts(describe({"PRC(S)": 0.0}))  # origin unknown
    # every class of every misc kind is a possible answer
    seen: dict[str, set[str]] = {}
    cases = [describe({}, measurements={"axis_deg": a, "hr_bpm": h}) for a, h in ((40, 45), (-60, 55), (130, 80), (-140, 120))]
    cases += [describe({"NORM": 100.0}, noise=(flag,)) for flag in ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems")]
    cases += [describe({"NORM": 100.0}, infarct_stage=stage) for stage in ("Stadium I", "Stadium II", "Stadium III")]
    cases += [describe(labels) for labels in ({"PVC": 0.0}, {"PAC": 0.0}, {"PACE": 0.0})]
    for description in cases:
        for name, fact in misc_facts(description).items():
            seen.setdefault(f"misc:{name}", set()).add(fact.answer)
    for kind in ("misc:axis", "misc:rate", "misc:noise", "misc:infarct_stage", "misc:ectopy"):
        assert seen[kind] == set(answer_vocabulary(kind)), kind


def test_every_form_finding_gets_its_own_waveform_item_and_never_a_rival_as_distractor():
    from heartcare.agent.vocabulary import describe_code

    description = describe({"SR": 0.0, "NORM": 100.0, "LVOLT": 0.0, "QWAVE": 0.0, "TAB_": 0.0}, record_id="multi")
    form = read(description).dimensions["waveform"].codes
    assert len(form) >= 2
    items = [item for item in closed_items(description, np.random.default_rng(0), ("S",)) if item.dimension == "waveform"]
    texts = {describe_code(code) for code in form}
    assert sorted(item.choices[item.answer_index] for item in items) == sorted(texts)
    assert len({item.id for item in items}) == len(items)
    for item in items:  # another true finding offered as a wrong option would make two answers right
        wrong = set(item.choices) - {item.choices[item.answer_index]}
        assert not wrong & texts, item.choices
