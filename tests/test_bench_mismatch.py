"""The mismatched-ECG control: every item shown another item's ECG; a model reading the ECG falls, one
answering from the text alone does not."""

from __future__ import annotations

import dataclasses
import json

import pytest

from heartcare.agent.description import stable_hash
from heartcare.bench.dataset import BenchDataset
from heartcare.bench.following import question_key, shown_answer
from heartcare.bench.mismatch import CONTROL, mismatched_items
from heartcare.bench.models import MODELS
from heartcare.bench.models.base import Output
from heartcare.bench.runner import BenchConfig, run_bench

CHOICE_TASKS = ["closed-*", "comparison-*"]


def records(item) -> tuple[str, ...]:
    return tuple(ref.record_id for ref in item.ecgs)


class EcgReader:
    """Answers from the ECG it is shown: knows the right option of each (question, ECGs) pair in the split."""

    def __init__(self, argument, context) -> None:
        self.name = "ecg-reader"
        self.truth = {(item.question, item.choices, records(item)): item.answer_index
                      for item in context.dataset.items(context.split) if item.is_multiple_choice}

    def respond(self, items):
        answers = []
        for item in items:
            index = self.truth.get((item.question, item.choices, records(item)))
            if index is None:  # an ECG it never saw with this question: it still answers, from the recording alone
                index = stable_hash(0, "guess", *records(item)) % len(item.choices)
            answers.append(Output(text=item.letters[index]))
        return answers


class FindingReader:
    """Reads each recording's finding: for a question kind, the answer text the split gives those records; picks
    that text wherever it is offered, so another item's ECG moves it to that ECG's answer."""

    def __init__(self, argument, context) -> None:
        self.name = "finding-reader"
        self.truth = {(question_key(item), records(item)): item.answer_text
                      for item in context.dataset.items(context.split) if item.is_multiple_choice}

    def respond(self, items):
        answers = []
        for item in items:
            text = self.truth.get((question_key(item), records(item)))
            index = item.choices.index(text) if text in item.choices else item.answer_index
            answers.append(Output(text=item.letters[index]))
        return answers


class QuestionReader:
    """Answers from the text alone (a stand-in for a perfect blind model)."""

    def __init__(self, argument, context) -> None:
        self.name = "question-reader"

    def respond(self, items):
        return [Output(text=item.letters[item.answer_index]) for item in items]


class HalfQuestionReader:
    """Right on about half of the items, chosen by the item alone, whatever ECG it is shown."""

    def __init__(self, argument, context) -> None:
        self.name = "half-question-reader"

    def respond(self, items):
        return [Output(text=item.letters[item.answer_index if stable_hash(0, "half", item.id) % 2 else
                                         (item.answer_index + 1) % len(item.choices)]) for item in items]


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setitem(MODELS, "ecg-reader", f"{__name__}:EcgReader")
    monkeypatch.setitem(MODELS, "question-reader", f"{__name__}:QuestionReader")
    monkeypatch.setitem(MODELS, "finding-reader", f"{__name__}:FindingReader")
    monkeypatch.setitem(MODELS, "half-question-reader", f"{__name__}:HalfQuestionReader")


def accuracy(block) -> float:
    scored = [(entry["n"], entry["metrics"]["accuracy"]["value"]) for entry in block["tasks"].values()]
    return sum(n * value for n, value in scored) / sum(n for n, _ in scored)


def test_every_item_gets_other_records_of_the_same_layout_and_keeps_its_question(built_dataset):
    items = [item for item in BenchDataset(built_dataset).items("test") if item.is_multiple_choice]
    chosen = {"all": items}
    swapped, kept_own, donors = mismatched_items(chosen, seed=0)
    changed = 0
    for before, after in zip(items, swapped["all"], strict=True):
        assert (after.id, after.question, after.choices, after.answer_index) == (before.id, before.question, before.choices, before.answer_index)
        assert [ref.modality for ref in after.ecgs] == [ref.modality for ref in before.ecgs]
        if not set(records(after)) & set(records(before)):
            changed += 1
            assert records(donors[before.id]) == records(after) and donors[before.id].id != before.id
    assert changed == sum(1 for item in items if item.ecgs) - kept_own and changed > 0.9 * len(items)
    assert mismatched_items(chosen, seed=0)[0] == swapped
    assert mismatched_items(chosen, seed=1)[0] != swapped


def test_an_item_with_no_possible_partner_keeps_its_ecg_and_is_counted(built_dataset):
    item = next(item for item in BenchDataset(built_dataset).items("test") if item.ecgs)
    swapped, kept_own, donors = mismatched_items({"one": [item]}, seed=0)
    assert swapped["one"] == [item] and kept_own == 1 and donors == {}


def test_the_control_separates_a_model_that_reads_the_ecg_from_one_that_reads_the_question(built_dataset, tmp_path, fakes):
    reader = run_bench(BenchConfig(data=built_dataset, model="ecg-reader", out=tmp_path / "reader", tasks=CHOICE_TASKS,
                                   floors=False, mismatched_ecgs=True, progress=False))
    blind = run_bench(BenchConfig(data=built_dataset, model="question-reader", out=tmp_path / "blind", tasks=CHOICE_TASKS,
                                  floors=False, mismatched_ecgs=True, progress=False))
    assert accuracy(reader) == 1.0 and accuracy(reader["controls"][CONTROL]) < 0.6
    assert accuracy(blind) == 1.0 and accuracy(blind["controls"][CONTROL]) == 1.0
    report = (tmp_path / "reader" / "report.md").read_text()
    assert f"ecg-reader, {CONTROL} (control)" in report
    # the control's answers are cached apart: a rerun without the flag keeps the model's own score
    again = run_bench(BenchConfig(data=built_dataset, model="ecg-reader", out=tmp_path / "reader", tasks=CHOICE_TASKS,
                                  floors=False, progress=False))
    assert accuracy(again) == 1.0 and "controls" not in again
    saved = json.loads((tmp_path / "reader" / "results.json").read_text())
    assert "controls" not in saved


def test_the_model_minus_its_control_is_paired_item_by_item(built_dataset, tmp_path, fakes):
    reader = run_bench(BenchConfig(data=built_dataset, model="ecg-reader", out=tmp_path / "reader", tasks=CHOICE_TASKS,
                                   floors=False, mismatched_ecgs=True, progress=False))
    control = reader["controls"][CONTROL]
    paired = control["model_minus_control"]
    assert set(paired) == set(reader["tasks"])
    for task, block in paired.items():
        entry = block["metrics"]["accuracy"]
        own, other = reader["tasks"][task]["metrics"]["accuracy"]["value"], control["tasks"][task]["metrics"]["accuracy"]["value"]
        assert block["n_paired"] == entry["n"] == reader["tasks"][task]["n"]
        assert entry["difference"] == pytest.approx(own - other) and (entry["a"], entry["b"]) == (own, other)
        low, high = entry["ci"]
        assert low <= entry["difference"] <= high
    assert any(block["metrics"]["accuracy"]["ci"][0] > 0 for block in paired.values())
    report = (tmp_path / "reader" / "report.md").read_text()
    assert "What the ECG adds" in report
    task, block = next(iter(paired.items()))
    entry = block["metrics"]["accuracy"]
    row = next(line for line in report.splitlines() if line.startswith(f"| ecg-reader - {CONTROL} | {task} | accuracy |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3:6] == [f"{100 * entry['a']:.1f}", f"{100 * entry['b']:.1f}", f"{100 * entry['difference']:+.1f}"]
    # right on the same half of the items with either ECG: every paired difference is zero, so the interval
    # is [0, 0]; items paired by anything but their id would differ on about half of them
    half = run_bench(BenchConfig(data=built_dataset, model="half-question-reader", out=tmp_path / "half",
                                 tasks=CHOICE_TASKS, floors=False, mismatched_ecgs=True, progress=False))
    for task, block in half["controls"][CONTROL]["model_minus_control"].items():
        accuracy_of_task = half["tasks"][task]["metrics"]["accuracy"]["value"]
        if 0 < accuracy_of_task < 1:
            assert block["metrics"]["accuracy"]["ci"] == [0.0, 0.0] and block["metrics"]["accuracy"]["p_value"] == 1.0


def test_the_control_difference_pools_runs_of_several_splits(built_dataset, tmp_path, fakes, capsys):
    from heartcare.bench.compare import pooled_control
    from heartcare.bench.mismatch import CONTROL_PREDICTIONS
    from heartcare.cli import main
    from heartcare.errors import ConfigError

    # the fixture's valid split has no multiple-choice items; a train run stands in for it
    runs = {split: tmp_path / f"reader-{split}" for split in ("train", "test")}
    results = {split: run_bench(BenchConfig(data=built_dataset, model="ecg-reader", out=out, tasks=CHOICE_TASKS, split=split,
                                            limit=40, floors=False, mismatched_ecgs=True, progress=False))
               for split, out in runs.items()}
    # one run pooled alone is that run's own paired difference
    alone = pooled_control([runs["test"]])["tasks"]
    for task, block in results["test"]["controls"][CONTROL]["model_minus_control"].items():
        assert alone[task]["n_paired"] == block["n_paired"]
        assert alone[task]["metrics"]["accuracy"]["difference"] == pytest.approx(block["metrics"]["accuracy"]["difference"])
    pooled = pooled_control([runs["train"], runs["test"]])
    assert pooled["splits"] == ["train", "test"]
    for task, block in pooled["tasks"].items():
        parts = [result["controls"][CONTROL] for result in results.values() if task in result["tasks"]]
        counts = [result["tasks"][task]["n"] for result in results.values() if task in result["tasks"]]
        own = [result["tasks"][task]["metrics"]["accuracy"]["value"] for result in results.values() if task in result["tasks"]]
        other = [part["tasks"][task]["metrics"]["accuracy"]["value"] for part in parts]
        entry = block["metrics"]["accuracy"]
        assert block["n_paired"] == entry["n"] == sum(counts)  # every item of both splits, once
        assert entry["a"] == pytest.approx(sum(n * value for n, value in zip(counts, own, strict=True)) / sum(counts))
        assert entry["b"] == pytest.approx(sum(n * value for n, value in zip(counts, other, strict=True)) / sum(counts))
        assert entry["difference"] == pytest.approx(sum(n * (a - b) for n, a, b in zip(counts, own, other, strict=True)) / sum(counts))
    assert main(["bench", "control", str(runs["train"]), str(runs["test"])]) == 0
    assert "splits: train, test" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="same split"):
        pooled_control([runs["test"], runs["test"]])
    blind = run_bench(BenchConfig(data=built_dataset, model="question-reader", out=tmp_path / "blind", tasks=CHOICE_TASKS,
                                  floors=False, mismatched_ecgs=True, progress=False))
    assert blind["model"] == "question-reader"
    with pytest.raises(ConfigError, match="question-reader"):  # another model's answers never pool in
        pooled_control([runs["train"], tmp_path / "blind"])
    # a rerun without the control removes its per-item file (it would pair with other answers) and is refused
    run_bench(BenchConfig(data=built_dataset, model="ecg-reader", out=runs["train"], tasks=CHOICE_TASKS, split="train",
                          limit=40, floors=False, progress=False))
    assert not (runs["train"] / CONTROL_PREDICTIONS).exists()
    with pytest.raises(ConfigError, match="no mismatched-ECG control"):
        pooled_control([runs["train"], runs["test"]])


def test_the_shown_ecgs_answer_counts_only_when_the_donor_asked_the_same_thing_and_it_is_a_wrong_option():
    from heartcare.bench.items import BenchItem

    def item(answer, choices=("sinus rhythm", "atrial fibrillation", "pacemaker"), kind="rhythm", finding=None):
        meta = {"kind": kind} if finding is None else {"kind": kind, "finding": finding}
        return BenchItem(id=answer, task="closed_qa", dimension="rhythm", modality="S", question="?", answer="",
                         choices=choices, answer_index=choices.index(answer), meta=meta)

    own = item("sinus rhythm")
    assert shown_answer(own, item("pacemaker", ("pacemaker", "sinus rhythm"))) == "C"  # by text, not by letter
    assert shown_answer(own, item("sinus rhythm", ("atrial flutter", "sinus rhythm"))) is None  # the item's own answer
    assert shown_answer(own, item("atrial flutter", ("atrial flutter", "sinus rhythm"))) is None  # not offered here
    assert shown_answer(own, item("pacemaker", kind="diagnosis")) is None  # answers another question
    which = item("the first ECG", ("the first ECG", "the second ECG"), kind="which_shows", finding="AFIB")
    assert shown_answer(which, item("the second ECG", ("the first ECG", "the second ECG"), kind="which_shows",
                                    finding="AFIB")) == "B"
    assert shown_answer(which, item("the second ECG", ("the first ECG", "the second ECG"), kind="which_shows",
                                    finding="LVH")) is None  # which shows another finding
    assert shown_answer(own, dataclasses.replace(item("pacemaker"), meta={})) is None  # no kind: nothing to compare


def test_a_model_that_reads_the_finding_follows_the_shown_ecg_and_a_blind_one_does_not(built_dataset, tmp_path, fakes,
                                                                                         capsys):
    from heartcare.bench.compare import pooled_control
    from heartcare.bench.mismatch import CONTROL_PREDICTIONS
    from heartcare.cli import main

    reader = run_bench(BenchConfig(data=built_dataset, model="finding-reader", out=tmp_path / "reader", tasks=CHOICE_TASKS,
                                   floors=False, mismatched_ecgs=True, progress=False))
    blind = run_bench(BenchConfig(data=built_dataset, model="question-reader", out=tmp_path / "blind", tasks=CHOICE_TASKS,
                                  floors=False, mismatched_ecgs=True, progress=False))
    follows = reader["controls"][CONTROL]["follows_shown_ecg"]
    control = [json.loads(line) for line in (tmp_path / "reader" / CONTROL_PREDICTIONS).read_text().splitlines()]
    counted = [record for record in control if record.get("shown_answer") is not None]
    assert follows and sum(entry["n"] for entry in follows.values()) == len(counted) > 20
    assert all(record["ecgs_of"] != record["id"] and record["shown_answer"] != record["answer"] for record in counted)
    for entry in follows.values():  # it picks the shown ECG's answer every time, and never with its own ECG
        assert (entry["with_shown_ecg"], entry["with_own_ecg"], entry["difference"]) == (1.0, 0.0, 1.0)
    assert any(entry["ci"][0] > 0 for entry in follows.values())
    for entry in blind["controls"][CONTROL]["follows_shown_ecg"].values():
        assert entry["with_shown_ecg"] == entry["with_own_ecg"] == 0.0 and entry["p_value"] == 1.0
    task = next(iter(follows))
    row = next(line for line in (tmp_path / "reader" / "report.md").read_text().splitlines()
               if line.startswith(f"| finding-reader - {CONTROL} | {task} | 100.0 | 0.0 | +100.0 |"))
    assert row
    assert pooled_control([tmp_path / "reader"])["follows_shown_ecg"] == follows
    assert main(["bench", "control", str(tmp_path / "reader")]) == 0
    assert "follows the ECG shown" in capsys.readouterr().out
