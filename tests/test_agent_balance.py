"""Split-level answer balance: no option text carries a prior, nothing is dropped silently."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from heartcare.agent.balance import (
    answer_prior,
    balance_rows,
    balance_table,
    per_answer_count,
    summarise,
)
from heartcare.agent.description import QaItem

# Skewed like PTB-XL diagnoses: the first answer dominates.
ANSWER_COUNTS = {"normal ECG": 400, "left ventricular hypertrophy": 90, "atrial fibrillation": 60, "first degree AV block": 45,
                 "complete left bundle branch block": 40, "inferior myocardial infarction": 40, "rare finding": 3}
# The old builder's mistake: distractors from a much larger vocabulary than the answers.
EXCLUDING = {"left ventricular hypertrophy": ("atrial fibrillation",), "first degree AV block": ("complete left bundle branch block",)}
OTHER_TEXTS = [f"never the answer {index}" for index in range(30)]


def closed_item(index: int, answer: str, rng: np.random.Generator, modality: str = "S", excluded=(), kind="diagnosis") -> QaItem:
    pool = [text for text in OTHER_TEXTS + list(ANSWER_COUNTS) if text != answer and text not in excluded]
    options = [pool[int(i)] for i in rng.choice(len(pool), 3, replace=False)]
    options.insert(0, answer)  # always letter A: the balancer must re-deal it
    return QaItem(id=f"item{index}-{modality}", task="closed_qa", dimension="diagnosis", modality=modality,  # type: ignore[arg-type]
                  question=f"Patient {index}: which diagnosis? Options: " + "; ".join(f"{'ABCD'[i]}: {t}" for i, t in enumerate(options)) + ".",
                  answer=f"A: {answer}", choices=tuple(options), answer_index=0, ecgs=((f"rec{index}", modality[0]),),
                  meta={"kind": kind, "excluded": list(excluded)})


def skewed_rows(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows, index = [], 0
    for answer, count in ANSWER_COUNTS.items():
        for _ in range(count):
            # Some answers exclude a text (as LVH excludes "high QRS voltage"): uniform distractor draws
            # would offer it too rarely, so it would be right more often than 1 time in 4.
            excluded = EXCLUDING.get(answer, ())
            rows.append(closed_item(index, answer, rng, excluded=excluded).to_row())
            index += 1
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def offer_rates(rows: list[dict]) -> dict[str, tuple[int, int]]:
    """option text -> (times correct, times offered)."""
    offered, correct = Counter(), Counter()
    for row in rows:
        for index, text in enumerate(row["choices"]):
            offered[text] += 1
            correct[text] += index == row["answer_index"]
    return {text: (correct[text], offered[text]) for text in offered}


def test_per_answer_count_keeps_the_most_items():
    counts = {"a": 10, "b": 8, "c": 3, "d": 3, "e": 1}
    assert per_answer_count(counts, 4) == 3  # 4 answers x 3 = 12 beats 5 x 1; c = 8 keeps only 2 answers
    assert per_answer_count(counts, 2) == 8  # 2 x 8 = 16
    assert per_answer_count({"a": 5, "b": 5}, 4) == 0  # fewer answers than options: cannot balance


def test_every_offered_text_is_correct_one_time_in_four():
    balanced, _ = balance_rows(skewed_rows(), seed=0, select=True)
    rates = offer_rates([row for _, row in balanced])
    answers = {row["choices"][row["answer_index"]] for _, row in balanced}
    assert set(rates) == answers  # distractors come from the answer vocabulary only
    for text, (correct, offered) in rates.items():
        assert abs(correct / offered - 0.25) < 0.03, (text, correct, offered)


# Train frequencies and exclusions that go together, as on a 2,000-record build: the rarer
# infarcts exclude each other, so an equal-offer draw pairs them mostly with commoner texts.
TRAIN_COUNTS = {"normal ECG": 400, "T abnormality": 150, "inferior MI": 120, "anteroseptal MI": 90,
                "lateral MI": 60, "left ventricular hypertrophy": 50, "left anterior fascicular block": 40}
INFARCTS = ("inferior MI", "anteroseptal MI", "lateral MI")


def majority_accuracy(rows: list[dict], prior: Counter) -> float:
    """The majority floor: the offered text most often right in train (ties to the first letter)."""
    hits = [max(range(len(row["choices"])), key=lambda i: (prior[row["choices"][i]], -i)) == row["answer_index"] for row in rows]
    return sum(hits) / len(hits)


def test_the_train_commonest_option_is_right_one_time_in_four():
    rng = np.random.default_rng(5)
    train = [closed_item(i, answer, rng).to_row() for i, answer in enumerate(a for a, n in TRAIN_COUNTS.items() for _ in range(n))]
    test = []
    for answer in TRAIN_COUNTS:
        excluded = tuple(text for text in INFARCTS if text != answer) if answer in INFARCTS else ()
        test += [closed_item(10_000 + len(test), answer, rng, excluded=excluded).to_row() for _ in range(40)]
    prior = answer_prior(train)[("closed_qa", "diagnosis")]
    assert prior == Counter(TRAIN_COUNTS)
    balanced, _ = balance_rows(test, seed=0, select=True, prior={("closed_qa", "diagnosis"): prior})
    rows = [row for _, row in balanced]
    assert len(rows) == 280 and abs(majority_accuracy(rows, prior) - 0.25) <= 0.01
    for text, (correct, offered) in offer_rates(rows).items():  # equal offers still hold
        assert abs(correct / offered - 0.25) < 0.04, (text, correct, offered)


def test_balancing_keeps_exactly_c_per_answer_and_counts_what_it_drops():
    rows = skewed_rows()
    balanced, reports = balance_rows(rows, seed=0, select=True)
    (report,) = reports.values()
    answers = Counter(row["choices"][row["answer_index"]] for _, row in balanced)
    assert set(answers.values()) == {40} and report["per_answer"] == 40 and report["answers_kept"] == 4
    assert report["dropped_answers"] == {"rare finding": 3}
    # six texts, four options: the items of an answer that excludes a text always leave it out, which names them
    assert report["dropped_absence_cues"] == {"first degree AV block": 45, "left ventricular hypertrophy": 90}
    assert report["items_in"] == len(rows) == report["items_kept"] + 3 + 135 + report["dropped_over_quota"]
    totals = summarise(reports)
    assert totals["items_in"] - totals["items_kept"] == (totals["dropped_answer_items"] + totals["dropped_over_quota"]
                                                          + totals["dropped_absence_cue_items"])


def test_excluded_texts_are_never_offered_and_letters_are_dealt_evenly():
    balanced, _ = balance_rows(skewed_rows(), seed=0, select=True)
    for _, row in balanced:
        meta = json.loads(row["meta"])
        answer = row["choices"][row["answer_index"]]
        assert not set(meta["excluded"]) & (set(row["choices"]) - {answer})
        assert len(set(row["choices"])) == 4 and row["answer"] == f"{'ABCD'[row['answer_index']]}: {answer}"
        options = "; ".join(f"{'ABCD'[i]}: {t}" for i, t in enumerate(row["choices"]))
        assert row["question"].endswith(f"? Options: {options}.") and row["question"].count("Options:") == 1
    letters = Counter(row["answer_index"] for _, row in balanced)
    assert max(letters.values()) - min(letters.values()) <= 1


def test_items_whose_distractors_would_run_out_are_dropped_and_counted():
    rng = np.random.default_rng(1)
    rows = [row for row in skewed_rows()]
    everything = list(ANSWER_COUNTS)
    rows.append(closed_item(9999, "normal ECG", rng, excluded=everything[1:5]).to_row())  # 1 allowed text left
    balanced, reports = balance_rows(rows, seed=0, select=True)
    (report,) = reports.values()
    assert report["dropped_no_distractors"] == 1 and "item9999-S" not in {row["id"] for _, row in balanced}


def test_train_keeps_its_answers_and_redraws_distractors_from_its_own_vocabulary():
    rows = skewed_rows()
    redrawn, reports = balance_rows(rows, seed=0, select=False)
    assert [index for index, _ in redrawn] == list(range(len(rows)))  # nothing dropped, order kept
    before = Counter(row["choices"][row["answer_index"]] for row in rows)
    after = Counter(row["choices"][row["answer_index"]] for _, row in redrawn)
    assert before == after and set(offer_rates([row for _, row in redrawn])) == set(ANSWER_COUNTS)
    assert len(Counter(row["answer_index"] for _, row in redrawn)) == 4


def test_balancing_is_deterministic_and_independent_of_row_order():
    rows = skewed_rows(seed=0)
    first, _ = balance_rows(rows, seed=3, select=True)
    again, _ = balance_rows(list(rows), seed=3, select=True)
    shuffled, _ = balance_rows(skewed_rows(seed=7), seed=3, select=True)
    assert first == again
    assert sorted(json.dumps(row, sort_keys=True) for _, row in first) == sorted(json.dumps(row, sort_keys=True) for _, row in shuffled)
    other, _ = balance_rows(rows, seed=4, select=True)
    assert {row["id"] for _, row in other} != {row["id"] for _, row in first}


def test_fixed_options_are_balanced_by_selection_only():
    rows = []
    for index in range(30):
        answer = 0 if index < 20 else 1  # 20 "Yes", 10 "No"
        rows.append(QaItem(id=f"pair{index}", task="comparison_qa", dimension="rhythm", modality="C-SS",
                           question="Same rhythm?", answer=("Yes", "No")[answer], choices=("Yes", "No"), answer_index=answer,
                           ecgs=((f"a{index}", "S"), (f"b{index}", "S")), meta={"kind": "same_rhythm", "fixed_options": True}).to_row())
    balanced, reports = balance_rows(rows, seed=0, select=True)
    assert Counter(row["answer"] for _, row in balanced) == {"Yes": 10, "No": 10}
    assert all(row == rows[index] for index, row in balanced)  # options and wording untouched
    assert reports["comparison_qa/same_rhythm/C-SS"]["dropped_over_quota"] == 10


def test_balance_table_touches_multiple_choice_rows_only():
    import pyarrow as pa

    from heartcare.agent.writer import qa_schema

    rows = skewed_rows()[:200]
    rng = np.random.default_rng(0)
    free = QaItem(id="open1", task="open_qa", dimension="diagnosis", modality="S", question="What?", answer="An answer.",
                  ecgs=(("rec1", "S"),))
    ecgqa = closed_item(5000, "normal ECG", rng).to_row() | {"id": "ecgqa1", "meta": json.dumps({"source": "ecgqa"})}
    table = pa.Table.from_pylist([free.to_row(), *rows, ecgqa], schema=qa_schema())
    balanced, reports = balance_table(table, seed=0, select=True)
    ids = balanced.column("id").to_pylist()
    assert ids[0] == "open1" and ids[-1] == "ecgqa1" and balanced.schema == table.schema
    assert balanced.slice(len(ids) - 1).to_pylist()[0] == ecgqa  # external items are left as they are
    assert 1 < len(ids) - 2 < len(rows) and list(reports) == ["closed_qa/diagnosis/S"]


@pytest.mark.parametrize("modality", ["S", "I"])
def test_signal_and_image_forms_of_a_record_are_kept_together(modality):
    rng = np.random.default_rng(0)
    rows = [closed_item(i, answer, rng, modality=m).to_row()
            for i, answer in enumerate(a for a, n in ANSWER_COUNTS.items() for _ in range(n)) for m in ("S", "I")]
    balanced, _ = balance_rows(rows, seed=2, select=True)
    kept = {row["ecgs"][0]["record_id"] for _, row in balanced if row["modality"] == modality}
    other = {row["ecgs"][0]["record_id"] for _, row in balanced if row["modality"] != modality}
    assert kept == other


def test_a_kind_too_thin_to_balance_leaves_the_split():
    """Under min_per_answer items per answer the kind is dropped (and reported), never kept with a prior."""
    from heartcare.agent.balance import balance_rows

    rows = []
    for index in range(40):
        answer = f"finding {index % 5}" if index < 10 else "finding 0"  # finding 1-4: two items each
        options = [answer] + [f"finding {(index % 5 + k) % 5}" for k in (1, 2, 3)]
        rows.append({"id": f"i{index}", "task": "closed_qa", "dimension": "diagnosis", "modality": "S",
                     "question": "Which? Options: " + "; ".join(f"{'ABCD'[k]}: {t}" for k, t in enumerate(options)) + ".",
                     "choices": options, "answer": f"A: {answer}", "answer_index": 0,
                     "ecgs": [{"record_id": f"r{index}", "modality": "S"}],
                     "meta": json.dumps({"kind": "diagnosis", "excluded": [answer]})})
    kept, reports = balance_rows(rows, seed=0, select=True, min_per_answer=5)
    assert kept == [] and reports["closed_qa/diagnosis/S"]["too_thin"] is True
    kept, reports = balance_rows(rows, seed=0, select=True, min_per_answer=1)
    assert len(kept) == 10 and reports["closed_qa/diagnosis/S"]["per_answer"] == 2


def compatible_rows(seed: int = 2) -> list[dict]:
    """Like PTB-XL's "non-diagnostic T abnormalities": a finding compatible with most records, so most
    items of other answers exclude it, and it cannot be offered as a distractor often enough."""
    rng = np.random.default_rng(seed)
    rows = []
    for answer in ("normal ECG", "inferior MI", "anteroseptal MI", "left ventricular hypertrophy",
                   "left anterior fascicular block", "T abnormality"):
        for _ in range(30):
            excluded = ("T abnormality",) if answer != "T abnormality" and rng.random() < 0.8 else ()
            rows.append(closed_item(len(rows), answer, rng, excluded=excluded).to_row())
    return rows


def test_an_answer_seldom_allowed_as_a_distractor_leaves_the_split():
    rows = compatible_rows()
    balanced, reports = balance_rows(rows, seed=0, select=True)
    (report,) = reports.values()
    kept = [row for _, row in balanced]
    # 150 other items, about 30 allow it: 3 x 30 offers are needed for it to be right one time in 4
    assert report["dropped_seldom_distractors"] == {"T abnormality": 30}
    assert report["items_kept"] == 150 and report["answers_kept"] == 5
    assert summarise(reports)["dropped_seldom_distractor_items"] == 30
    for text, (correct, offered) in offer_rates(kept).items():
        assert abs(correct / offered - 0.25) < 0.03, (text, correct, offered)


def test_proportional_draws_make_every_text_about_as_often_right_when_offered():
    """Natural answer counts: a text is offered in proportion to how often it is right, so no
    text but the one too common to be offered enough ("normal ECG", 59% of the items) stands out."""
    redrawn, _ = balance_rows(skewed_rows(), seed=0, select=False, proportional=True)
    rows = [row for _, row in redrawn]
    rates = {text: correct / offered for text, (correct, offered) in offer_rates(rows).items()
             if ANSWER_COUNTS[text] >= 40 and text != "normal ECG"}
    assert len(rates) == 5 and max(rates.values()) - min(rates.values()) < 0.03, rates
    allowing = sum(row["choices"][row["answer_index"]] != "normal ECG" for row in rows)
    correct, offered = offer_rates(rows)["normal ECG"]
    # offered by every item that allows it but the first drawn, where every text ties
    assert correct == 400 and allowing - 1 <= offered - 400 <= allowing


RHYTHMS = ("sinus rhythm", "atrial fibrillation", "sinus bradycardia", "sinus tachycardia", "pacemaker")


def rhythm_rows(texts=RHYTHMS, per_answer: int = 30, seed: int = 0) -> list[dict]:
    """Rhythm-like items: paced records exclude atrial fibrillation as a distractor (it may lie under the pacing)."""
    rng = np.random.default_rng(seed)
    rows = []
    for answer in texts:
        for _ in range(per_answer):
            excluded = ("atrial fibrillation",) if answer == "pacemaker" else ()
            options = [answer, *rng.choice([t for t in texts if t != answer and t not in excluded], 3, replace=False)]
            rows.append(QaItem(id=f"r{len(rows)}", task="closed_qa", dimension="rhythm", modality="S",  # type: ignore[arg-type]
                               question="Which rhythm? Options: " + "; ".join(options) + ".", answer=f"A: {answer}",
                               choices=tuple(options), answer_index=0, ecgs=((f"rec{len(rows)}", "S"),),
                               meta={"kind": "rhythm", "excluded": list(excluded)}).to_row())
    return rows


def answer_when_missing(rows: list[dict], missing: str, answer: str) -> tuple[int, int]:
    """(items whose answer is `answer`, items) among the items that do not offer `missing`."""
    without = [row for row in rows if missing not in row["choices"]]
    return sum(row["choices"][row["answer_index"]] == answer for row in without), len(without)


def test_an_answer_named_by_the_option_its_items_leave_out_leaves_the_split():
    """Five texts, four options: each item leaves one out, and a paced item always leaves out AF."""
    rows = rhythm_rows()
    right, total = answer_when_missing(rows, "atrial fibrillation", "pacemaker")
    assert total and right / total > 0.5  # the cue in the items as built
    balanced, reports = balance_rows(rows, seed=0, select=True)
    (report,) = reports.values()
    assert report["dropped_absence_cues"] == {"pacemaker": 30} and report["dropped_seldom_distractors"] == {}
    assert report["items_kept"] == 120 and report["answers_kept"] == 4
    assert summarise(reports)["dropped_absence_cue_items"] == 30
    kept = [row for _, row in balanced]
    assert {text for row in kept for text in row["choices"]} == set(RHYTHMS) - {"pacemaker"}


def test_an_exclusion_among_many_texts_names_no_answer_and_is_kept():
    """Eight texts, four options: AF is left out of half the items anyway, so its absence says little."""
    texts = (*RHYTHMS, "atrial flutter", "junctional rhythm", "sinus arrhythmia")
    balanced, reports = balance_rows(rhythm_rows(texts), seed=0, select=True)
    (report,) = reports.values()
    assert report["dropped_absence_cues"] == {} and report["answers_kept"] == 8
    right, total = answer_when_missing([row for _, row in balanced], "atrial fibrillation", "pacemaker")
    assert right == 30 and right / total < 0.25 + 0.12


def test_absence_cue_bound():
    from heartcare.agent.balance import _entries_by_group, absence_cue

    (entries,) = _entries_by_group(rhythm_rows(), 0).values()
    assert absence_cue(entries) == "pacemaker"
    assert absence_cue(entries, margin=0.76) is None  # 1 / (5 - 4) = 1.0 against chance 0.25
    assert absence_cue([e for e in entries if e.answer != "sinus rhythm"]) is None  # four texts: none left out
