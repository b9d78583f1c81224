"""`bench agreement`: how often one run picks another's option, and who is right where they part."""

from __future__ import annotations

import json

import pytest

from heartcare.bench.agreement import agreement, agreement_lines, mcnemar_exact
from heartcare.bench.runner import BenchConfig, run_bench
from heartcare.errors import ConfigError

LETTERS = "ABCD"


def saved_run(tmp_path, data, name: str, letters: dict[str, str | None]):
    """A bench run of `predictions:` answering each item id with its letter ("" : an unparsable answer)."""
    lines = [json.dumps({"id": key, "output": f"{letter}: as read" if letter else "I cannot tell"}) for key, letter in letters.items()]
    answers = tmp_path / f"{name}.jsonl"
    answers.write_text("\n".join(lines) + "\n")
    run_bench(BenchConfig(data=data, model=f"predictions:{answers}", out=tmp_path / name, progress=False, floors=False))
    return tmp_path / name


def dataset(tmp_path, count: int = 20):
    from test_bench_floors import build

    data = build(tmp_path, False)
    from heartcare.bench.dataset import BenchDataset

    items = BenchDataset(data).items("test")[:count]
    return data, {item.id: LETTERS[item.answer_index] for item in items}


def wrong(letter: str, shift: int = 1) -> str:
    return LETTERS[(LETTERS.index(letter) + shift) % 4]


def test_counts_agreement_and_who_is_right_where_runs_part(tmp_path):
    data, truth = dataset(tmp_path)
    ids = list(truth)
    # readers: right on the first 15; model copies them except: 3 items it fixes, 2 it breaks,
    # 1 where both are wrong apart, 1 it cannot parse where the readers were right
    readers = {key: truth[key] if index < 15 else wrong(truth[key]) for index, key in enumerate(ids)}
    model = dict(readers)
    for key in ids[15:18]:
        model[key] = truth[key]  # A right, B wrong
    for key in ids[0:2]:
        model[key] = wrong(truth[key])  # B right, A wrong
    model[ids[18]] = wrong(truth[ids[18]], 2)  # apart, neither right
    model[ids[2]] = ""  # unparsed: apart, B right
    report = agreement(saved_run(tmp_path, data, "model", model), saved_run(tmp_path, data, "readers", readers))
    total = report["tasks"][-1]
    assert total["task"] == "all" and total["items"] == 300  # the items the file lacks are answered wrong by both, alike
    entry = report["tasks"][0]
    assert entry["task"] == "closed-S-diagnosis"
    assert (entry["only_a_right"], entry["only_b_right"], entry["both_wrong_apart"]) == (3, 3, 1)
    assert entry["same_option"] == 300 - 7
    assert entry["agreement"] == pytest.approx(293 / 300)
    assert entry["p_value"] == pytest.approx(mcnemar_exact(3, 3)) == pytest.approx(1.0)
    lines = agreement_lines(report)
    assert "closed-S-diagnosis" in lines[2] and "97.7%" in lines[2]


def test_swapping_the_runs_swaps_who_is_right(tmp_path):
    data, truth = dataset(tmp_path)
    first = {key: truth[key] for key in truth}
    second = {key: wrong(truth[key]) if index % 2 else truth[key] for index, key in enumerate(truth)}
    a, b = saved_run(tmp_path, data, "a", first), saved_run(tmp_path, data, "b", second)
    forward, backward = agreement(a, b)["tasks"][0], agreement(b, a)["tasks"][0]
    assert (forward["only_a_right"], forward["only_b_right"]) == (10, 0)
    assert (backward["only_a_right"], backward["only_b_right"]) == (0, 10)
    assert forward["p_value"] == backward["p_value"] == pytest.approx(2 / 2**10)


def test_mcnemar_exact_two_sided_binomial():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)  # 1/32 each tail
    assert mcnemar_exact(5, 0) == mcnemar_exact(0, 5)
    assert mcnemar_exact(1, 4) == pytest.approx(2 * 6 / 32)
    assert mcnemar_exact(10, 10) == 1.0  # capped
    assert mcnemar_exact(2, 20) < 0.001


def test_runs_of_other_items_are_refused(tmp_path):
    data, truth = dataset(tmp_path)
    a = saved_run(tmp_path, data, "a", truth)
    from test_bench_floors import build

    other = build(tmp_path, True)
    from heartcare.bench.dataset import BenchDataset

    other_truth = {item.id: LETTERS[item.answer_index] for item in BenchDataset(other).items("test")[:5]}
    b = saved_run(tmp_path, other, "b", other_truth)
    with pytest.raises(ConfigError, match="same items"):
        agreement(a, b)


def test_command_prints_the_table(tmp_path, capsys):
    from heartcare.cli import main

    data, truth = dataset(tmp_path)
    a, b = saved_run(tmp_path, data, "a", truth), saved_run(tmp_path, data, "b", truth)
    assert main(["bench", "agreement", str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "100.0%" in printed and "closed-S-diagnosis" in printed
    assert main(["bench", "agreement", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks"][0]["same_option"] == 300


def test_items_a_run_could_not_be_asked_are_left_out_and_other_tasks_are_refused(tmp_path):
    data, truth = dataset(tmp_path)
    a, b = saved_run(tmp_path, data, "a", truth), saved_run(tmp_path, data, "b", truth)
    lines = (b / "predictions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first.update(not_applicable="an image to a signal-only model", parsed=None, correct=False)
    (b / "predictions.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    entry = agreement(a, b)["tasks"][0]
    assert entry["items"] == 299 and entry["same_option"] == 299 and entry["departures"] == 0
    first.pop("not_applicable")
    first["task"] = "closed-I-diagnosis"
    (b / "predictions.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(ConfigError, match="is task closed-I-diagnosis here"):
        agreement(a, b)
