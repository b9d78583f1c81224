"""Comparison-QA: time wording only for same-patient pairs in date order, balanced answers,
findings that are really new, distractors never compatible, no option-text prior."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import pytest

from heartcare.agent.description import RecordDescription, stable_hash
from heartcare.agent.hierarchy import compatible, excluded_texts, implied
from heartcare.agent.questions.comparison import (
    FIXED_OPTIONS,
    comparison_set,
    comparison_templates,
    consecutive_pairs,
    irrelevant_pairs,
    options_clash,
)
from heartcare.agent.vocabulary import ANSWER_THRESHOLD, NORMAL_PHRASES, describe_code

# Independent of the module's own list: any of these places two ECGs in time.
TIME = re.compile(r"\b(new|newly|later|earlier|previous|prior|before|after|since|follow-up|recent|current|"
                  r"baseline|change|changed|unchanged|developed|appeared|emerged|same patient|one patient)\b", re.I)
# Label profiles with skewed frequencies, as in PTB-XL (NORM ~ 40%).
PROFILES = (
    ({"NORM": 100.0, "SR": 0.0}, 40), ({"IMI": 80.0, "QWAVE": 0.0, "SR": 0.0}, 10), ({"AFIB": 0.0}, 8),
    ({"LVH": 100.0, "VCLVH": 0.0, "SR": 0.0}, 8), ({"CRBBB": 100.0, "SR": 0.0}, 6), ({"1AVB": 100.0, "SR": 0.0}, 5),
    ({"CLBBB": 100.0, "SR": 0.0}, 4), ({"STACH": 0.0, "NORM": 50.0}, 5), ({"SBRAD": 0.0, "NORM": 80.0}, 4),
    ({"AFLT": 0.0, "ISC_": 50.0}, 2), ({"ASMI": 100.0, "SR": 0.0}, 4), ({"LAFB": 100.0, "SR": 0.0, "PVC": 0.0}, 3),
    ({"PACE": 0.0}, 1),
)
MODALITIES = ("C-SS", "C-II", "C-SI")


def cohort(records: int, seed: int = 0) -> list[RecordDescription]:
    """Patients with 1-3 records each; a patient's later records may gain or lose findings."""
    rng = np.random.default_rng(seed)
    weights = np.array([weight for _, weight in PROFILES], float)
    descriptions: list[RecordDescription] = []
    patient = 0
    while len(descriptions) < records:
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
        year = int(rng.integers(1985, 1995))
        dating = rng.choice(["dated", "same day", "undated"], p=[0.8, 0.1, 0.1])  # time is unknown for some
        for visit in range(count):
            date = {"dated": f"{year + visit}-0{1 + visit}-15", "same day": f"{year}-03-01", "undated": None}[dating]
            labels = dict(PROFILES[int(rng.choice(len(PROFILES), p=weights / weights.sum()))][0])
            descriptions.append(RecordDescription(
                record_id=f"r{len(descriptions):05d}", patient_id=f"p{patient}", labels=labels, age=60, sex="F",
                measurements={"hr_bpm": float(rng.uniform(45, 130))}, date=date))
        patient += 1
    return descriptions


@pytest.fixture(scope="module")
def population() -> list[RecordDescription]:
    return cohort(1500)


@pytest.fixture(scope="module")
def items(population):
    return comparison_set(population, seed=3)


def _records(population) -> dict[str, RecordDescription]:
    return {d.record_id: d for d in population}


def _strong(description: RecordDescription) -> set[str]:
    return {c for c, v in description.certain_labels().items() if v >= ANSWER_THRESHOLD}


def test_every_kind_of_each_relation_is_built_in_every_form(items):
    built = Counter((item.meta["relation"], item.meta["kind"], item.modality) for item in items)
    for relation, kinds in (("consecutive", ("same_rhythm", "higher_rate", "new_finding")),
                            ("irrelevant", ("same_rhythm", "higher_rate", "which_shows"))):
        for kind in kinds:
            assert all(built[(relation, kind, modality)] >= 20 for modality in MODALITIES), (relation, kind, built)
    assert not built[("irrelevant", "new_finding", "C-SS")] and not built[("consecutive", "which_shows", "C-SS")]
    assert len({item.id for item in items}) == len(items)


def test_time_words_only_for_same_patient_pairs_in_date_order(items, population):
    records = _records(population)
    for item in items:
        first, second = (records[record_id] for record_id, _ in item.ecgs)
        stem = item.question.split(" Options: ")[0]
        if item.meta.get("finding"):
            stem = stem.replace(describe_code(item.meta["finding"]), "")  # "ST-T changes ..." is a finding, not time
        if item.meta["relation"] == "irrelevant":
            assert first.patient_id != second.patient_id
            assert not TIME.search(stem), item.question
        else:
            assert first.patient_id == second.patient_id
            if item.meta["kind"] != "higher_rate":  # the only kind whose order is dealt (it speaks of no time)
                assert (first.date or "", first.record_id) < (second.date or "", second.record_id)  # first = earlier
        if TIME.search(stem):  # time words only where both dates are known and in order
            assert item.meta["kind"] == "new_finding" and first.date and second.date and first.date < second.date, item.question
        shown = [text for text in (first.date, second.date, first.record_id, second.record_id) if text and text in item.question]
        assert not shown, item.question
    new = [item for item in items if item.meta["kind"] == "new_finding"]
    assert new and all(TIME.search(item.question) for item in new)


def test_shared_kinds_use_one_wording_for_both_relations(items):
    for kind in ("same_rhythm", "higher_rate"):
        stems = {relation: {item.question.split(" Options: ")[0] for item in items
                            if item.meta["kind"] == kind and item.meta["relation"] == relation}
                 for relation in ("consecutive", "irrelevant")}
        bank = set(comparison_templates()[kind])
        assert stems["consecutive"] <= bank and stems["irrelevant"] <= bank
        assert len(stems["irrelevant"]) >= 25  # every phrasing in use, not one per relation


def test_consecutive_pairs_are_one_patient_in_date_order(population):
    pairs = consecutive_pairs(population)
    assert pairs and all(a.patient_id == b.patient_id and (a.date or "", a.record_id) < (b.date or "", b.record_id) for a, b in pairs)
    other = irrelevant_pairs(population, seed=0)
    assert other and all(a.patient_id != b.patient_id for a, b in other)


def test_answers_are_balanced_per_kind_relation_and_modality(items):
    answers: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for item in items:
        answers[(item.meta["kind"], item.meta["relation"], item.modality)][item.answer_index] += 1
    for (kind, relation, modality), counts in answers.items():
        options = 4 if kind in ("which_shows", "new_finding") else 2
        spread = max(counts[i] for i in range(options)) - min(counts[i] for i in range(options))
        assert spread <= 1, (kind, relation, modality, counts)


def test_new_finding_answers_are_spread_over_the_findings_the_pairs_allow():
    # 40 patients go NORM -> IMI + AFIB: each such pair allows IMI, AFIB and the implied SVARR, so all
    # three are asked about equally often; others go NORM -> CLBBB or LVH (so distractors exist)
    later = ({"IMI": 100.0, "AFIB": 0.0}, {"CLBBB": 100.0, "SR": 0.0}, {"LVH": 100.0, "SR": 0.0},
             {"PACE": 0.0}, {"1AVB": 100.0, "SR": 0.0}, {"ASMI": 100.0, "SR": 0.0})
    descriptions = []
    for patient in range(240):
        descriptions.append(RecordDescription(f"a{patient}", f"p{patient}", {"NORM": 100.0, "SR": 0.0}, date="2000-01-01"))
        descriptions.append(RecordDescription(f"b{patient}", f"p{patient}", later[patient % 6], date="2001-01-01"))
    items = [item for item in comparison_set(descriptions, seed=0, modalities=("C-SS",)) if item.meta["kind"] == "new_finding"]
    asked = Counter(item.meta["finding"] for item in items if "AFIB" in descriptions[1 + 2 * int(item.ecgs[1][0][1:])].labels)
    assert set(asked) == {"IMI", "AFIB", "SVARR"} and max(asked.values()) - min(asked.values()) <= 1, asked
    assert sum(asked.values()) == 40


def test_new_findings_are_true_later_absent_earlier_and_distractors_never_compatible(items, population):
    records = _records(population)
    new = [item for item in items if item.meta["kind"] == "new_finding"]
    vocabulary = {item.choices[item.answer_index] for item in new}
    assert not vocabulary & set(NORMAL_PHRASES.values()) and not vocabulary & {"normal ECG", "sinus rhythm"}
    for item in new:
        earlier, later = (records[record_id] for record_id, _ in item.ecgs)
        code = item.meta["finding"]
        assert item.choices[item.answer_index] == describe_code(code)
        assert code in implied(_strong(later)) and code not in compatible(earlier.labels)
        distractors = [text for index, text in enumerate(item.choices) if index != item.answer_index]
        assert len(set(item.choices)) == 4 and set(distractors) <= vocabulary  # one answer vocabulary
        assert not set(distractors) & set(excluded_texts(later.labels)), (item.question, later.labels)
        assert not any(options_clash(a, b) for a in item.choices for b in item.choices if a != b), item.choices
        assert set(excluded_texts(later.labels)) <= set(item.meta["excluded"]) and not item.meta["fixed_options"]
        assert item.choices[item.answer_index] in item.meta["excluded"]


def test_fixed_kind_answers_are_true_of_the_pair(items, population):
    records = _records(population)
    for item in items:
        first, second = (records[record_id] for record_id, _ in item.ecgs)
        kind = item.meta["kind"]
        if kind == "new_finding":
            continue
        assert item.meta["fixed_options"] and item.meta["excluded"] == [] and item.choices == FIXED_OPTIONS[kind]
        if kind == "higher_rate":
            rates = first.measurements["hr_bpm"], second.measurements["hr_bpm"]
            assert rates[item.answer_index] >= rates[1 - item.answer_index] + 10
        elif kind == "same_rhythm":
            rhythms = [{c for c in _strong(d) if c in {"SR", "AFIB", "STACH", "SBRAD", "AFLT", "PACE"}} for d in (first, second)]
            assert (rhythms[0] == rhythms[1]) == (item.answer_index == 0), (rhythms, item.answer)
        else:
            code = item.meta["finding"]
            shown = [code in implied(_strong(d)) for d in (first, second)]
            absent = [code not in compatible(d.labels) for d in (first, second)]
            expected = {(True, False): 0, (False, True): 1, (True, True): 2, (False, False): 3}[tuple(shown)]
            assert item.answer_index == expected
            assert all(s or a for s, a in zip(shown, absent, strict=True))  # "not shown" means surely absent


def _visible(item) -> tuple[str, str | None]:
    """What a blind model sees besides the options: the kind and, for "which shows X", the finding X."""
    return item.meta["kind"], item.meta["finding"] if item.meta["kind"] == "which_shows" else None


def test_blind_option_prior_is_near_chance(items):
    """Fit how often each option text (and each named finding) is right on one half; score the other."""
    halves = ([], [])
    for item in items:
        halves[stable_hash("half", item.id) % 2].append(item)
    fit, held = halves
    right, offered = Counter(), Counter()
    for item in fit:
        key = _visible(item)
        for index, text in enumerate(item.choices):
            offered[(key, text)] += 1
            right[(key, text)] += index == item.answer_index
    by_kind: dict[str, list[float]] = defaultdict(list)
    for item in held:
        key = _visible(item)
        prior = [right[(key, text)] / offered[(key, text)] if offered[(key, text)] else 0.25 for text in item.choices]
        best = max(prior)
        picks = [index for index, value in enumerate(prior) if value == best]
        by_kind[item.meta["kind"]].append((item.answer_index in picks) / len(picks))  # ties: expected accuracy
    for kind, scores in by_kind.items():
        chance = 1 / len(FIXED_OPTIONS.get(kind, "ABCD"))
        assert len(scores) >= 100 and abs(np.mean(scores) - chance) < 0.08, (kind, np.mean(scores), chance, len(scores))


def test_which_shows_asks_each_finding_with_every_answer_about_equally(items):
    per_finding: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        if item.meta["kind"] == "which_shows":
            per_finding[item.meta["finding"]][item.answer_index] += 1
    assert len(per_finding) >= 10
    for finding, counts in per_finding.items():
        total = sum(counts.values())
        if total >= 40:  # the named finding must not hint at the answer
            assert max(counts.values()) / total <= 0.32, (finding, counts)


def test_deterministic_and_independent_of_input_order(population):
    part = population[:400]
    once = [item.to_row() for item in comparison_set(part, seed=5)]
    assert once == [item.to_row() for item in comparison_set(list(reversed(part)), seed=5)]
    assert once != [item.to_row() for item in comparison_set(part, seed=6)]


def test_templates_have_30_phrasings_per_kind_and_time_words_only_for_new_findings():
    templates = comparison_templates()
    assert set(templates) == {"same_rhythm", "higher_rate", "new_finding", "which_shows"}
    for kind, phrasings in templates.items():
        assert len(set(phrasings)) >= 30
        if kind != "new_finding":  # kinds asked of two patients speak of no time
            assert not [p for p in phrasings if TIME.search(p)], kind
    assert sum(bool(TIME.search(p)) for p in templates["new_finding"]) >= 25


def test_a_split_of_one_patient_or_one_rhythm_yields_no_unbalanced_items():
    alike = [RecordDescription(f"s{i}", "p1", {"SR": 0.0, "NORM": 100.0}, measurements={"hr_bpm": 70.0},
                               date=f"2020-01-0{i + 1}") for i in range(3)]
    assert comparison_set(alike, seed=0) == []
    assert comparison_set([], seed=0) == []
