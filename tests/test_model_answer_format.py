"""Multiple-choice training targets: the dataset's "B: text" or, text first, "text (B)" — both parse to the same option."""

from __future__ import annotations

import pytest

from heartcare.bench.items import BenchItem
from heartcare.bench.parse import parse_choice
from heartcare.errors import ConfigError
from heartcare.model.config import GptConfig
from heartcare.model.examples import training_answer

CHOICES = ("normal axis", "left axis deviation", "right axis deviation", "extreme axis deviation")


def item(answer_index: int = 2, **changes) -> BenchItem:
    values = dict(id="q1", task="closed_qa", dimension="axis", modality="S", question="Which axis?",
                  answer=f"{'ABCD'[answer_index]}: {CHOICES[answer_index]}", choices=CHOICES, answer_index=answer_index)
    return BenchItem(**{**values, **changes})


def config(answer_format: str) -> GptConfig:
    return GptConfig(beat="unused", answer_format=answer_format)


def test_letter_first_keeps_the_dataset_answer():
    assert training_answer(item(), config("letter-first")) == "C: right axis deviation"


@pytest.mark.parametrize("answer_index", range(4))
def test_text_first_names_the_finding_then_its_letter_and_parses_to_the_same_option(answer_index):
    answer = training_answer(item(answer_index), config("text-first"))
    assert answer == f"{CHOICES[answer_index]} ({'ABCD'[answer_index]})"
    assert answer.startswith(CHOICES[answer_index])
    assert parse_choice(answer, CHOICES) == answer_index == parse_choice(item(answer_index).answer, CHOICES)


def test_free_text_answers_are_left_alone():
    report = item(task="report", answer="Sinus rhythm. Normal ECG.", choices=(), answer_index=-1)
    assert training_answer(report, config("text-first")) == "Sinus rhythm. Normal ECG."


def test_the_cpu_preset_trains_text_first_and_the_paper_preset_keeps_the_dataset_answer():
    from heartcare.train.gpt_presets import preset

    def preset_config(name: str) -> GptConfig:
        return GptConfig(beat="unused", **preset(name).model)

    assert training_answer(item(), preset_config("cpu")) == "right axis deviation (C)"
    assert training_answer(item(), preset_config("paper")) == "C: right axis deviation"


def test_an_unknown_answer_format_is_refused():
    with pytest.raises(ConfigError, match="answer_format"):
        config("letter-last")


@pytest.mark.parametrize("flag, field, expected", [
    ([], "answer_format", None), (["--answer-format", "text-first"], "answer_format", "text-first"),
    ([], "signal_pool", None), (["--signal-pool", "1"], "signal_pool", 1), (["--signal-pool", "4"], "signal_pool", 4),
    ([], "signal_summary", None), (["--signal-summary"], "signal_summary", True),
    ([], "lora_targets", None), (["--lora-targets", "q_proj, v_proj,down_proj"], "lora_targets", ("q_proj", "v_proj", "down_proj")),
])
def test_the_train_command_passes_its_model_settings(monkeypatch, tmp_path, flag, field, expected):
    from types import SimpleNamespace

    import heartcare.train.gpt_run as gpt_run
    from heartcare.cli import main

    seen = {}

    def fake_train_gpt(*args, **kwargs):
        seen["model_changes"] = args[7] or {}  # train_gpt(data, features, stage, preset, out, init, resume, model_changes, ...)
        result = SimpleNamespace(train_logs={"loss": 1.0}, valid_logs={}, steps=1, seconds=0.1)
        return SimpleNamespace(out=tmp_path, train_items=1, result=result)

    monkeypatch.setattr(gpt_run, "train_gpt", fake_train_gpt)
    assert main(["gpt", "train", "--data", str(tmp_path), "--features", str(tmp_path), "--stage", "joint",
                 "--out", str(tmp_path / "out"), *flag]) == 0
    assert seen["model_changes"].get(field) == expected


@pytest.mark.parametrize("flag, expected", [([], None), (["--epochs", "3"], 3)])
def test_the_train_command_passes_epochs_to_the_stage(monkeypatch, tmp_path, flag, expected):
    from types import SimpleNamespace

    import heartcare.train.gpt_run as gpt_run
    from heartcare.cli import main

    seen = {}

    def fake_train_gpt(*args, **kwargs):
        seen["stage_changes"] = args[8] or {}  # train_gpt(data, features, stage, preset, out, init, resume, model, stage, ...)
        result = SimpleNamespace(train_logs={"loss": 1.0}, valid_logs={}, steps=1, seconds=0.1)
        return SimpleNamespace(out=tmp_path, train_items=1, result=result)

    monkeypatch.setattr(gpt_run, "train_gpt", fake_train_gpt)
    assert main(["gpt", "train", "--data", str(tmp_path), "--features", str(tmp_path), "--stage", "warmup",
                 "--out", str(tmp_path / "out"), *flag]) == 0
    assert seen["stage_changes"].get("epochs") == expected
