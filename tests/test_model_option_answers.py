"""Option answers: a question offering options answered by scoring them, with the asked reader's evidence."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from test_model_offered_answers import KINDS  # noqa: E402

from heartcare.model.option_answers import chosen_weight, fused_choice, question_options  # noqa: E402

QUESTION = "Which is shown? Options: A: normal ECG; B: atrial fibrillation; C: left bundle branch block."


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("options") / "lm")


def test_the_options_are_read_off_the_question_in_letter_order():
    assert question_options(QUESTION) == ["normal ECG", "atrial fibrillation", "left bundle branch block"]
    asked = QUESTION + " Answer with the letter of the correct option."  # the bench's instruction follows the options
    assert question_options(asked) == question_options(QUESTION)
    assert question_options("Options: A: 1st degree AV block; B: sinus rhythm") == ["1st degree AV block", "sinus rhythm"]
    assert question_options("What rhythm is this?") == []
    assert question_options("Options: A: normal ECG.") == []  # one option is no choice
    assert question_options("Options: A: normal ECG; C: atrial fibrillation.") == []  # letters out of order


def test_weight_zero_is_the_language_model_and_a_large_weight_the_reader():
    language, reader = [-1.0, -2.0, -3.0], [math.log(0.1), math.log(0.2), math.log(0.7)]
    assert fused_choice(language, reader, 0.0) == 0
    assert fused_choice(language, None, 50.0) == 0  # no reader: the language model alone whatever the weight
    assert fused_choice(language, reader, 50.0) == 2
    assert fused_choice(language, reader, 1.0) == 0  # -1 + log 0.1 = -3.30 still beats -3 + log 0.7 = -3.36
    assert fused_choice(language, reader, 2.0) == 2  # -3 + 2 log 0.7 = -3.71 beats -2 + 2 log 0.2 = -5.22
    assert fused_choice([-1.0, -1.0], None, 0.0) == 0  # ties: the first


def test_the_weight_is_the_one_with_the_best_mean_task_accuracy_and_the_smallest_on_ties():
    sure = [math.log(0.98), math.log(0.01), math.log(0.01)]
    # the language model is right on task a, wrong on task b; the reader is right on both
    scored = [([-0.5, -1.0, -2.0], sure, 0, "a"), ([-2.0, -0.5, -1.0], sure, 0, "b")]
    weight, table = chosen_weight(scored)
    assert table["0.0"] == {"a": 100.0, "b": 0.0, "mean": 50.0}
    assert weight == 0.5 and table["0.5"]["mean"] == 100.0  # 0.25 is not enough: -2 + 0.25 log 0.98 < -0.5 + 0.25 log 0.01
    language_right = [([-0.5, -1.0, -2.0], [math.log(0.1), math.log(0.8), math.log(0.1)], 0, "a")]
    assert chosen_weight(language_right)[0] == 0.0  # a reader that is wrong never earns a weight
    with pytest.raises(ValueError):
        chosen_weight([])


def option_model(backbone, **changes):
    from heartcare.model.build import build_model
    from heartcare.model.config import GptConfig

    torch.manual_seed(0)
    config = GptConfig(backbone=str(backbone), beat="unused", signal_dim=8, lora_rank=4, lora_alpha=8, max_length=1024,
                       findings=KINDS, finding_choices=True, answer_format="text-first", **changes)
    model = build_model(config, load_encoders=False).eval()
    with torch.no_grad():  # the diagnosis reader is sure of left bundle branch block, whatever the ECG
        classifier = model.finding_projector.classifiers[0]
        classifier.weight.zero_()
        classifier.bias.fill_(-8.0)
        classifier.bias[KINDS[0][1].index("left bundle branch block")] = 8.0
    return model


def prompt(model, question: str = QUESTION, ecgs: int = 1):
    from heartcare.model.chat import EcgFeatures, encode
    from heartcare.model.offered_answers import offered_answers

    rng = np.random.default_rng(0)
    features = [EcgFeatures(signal=rng.normal(size=(5, 8)).astype(np.float32), finding=rng.normal(size=(1, 16)).astype(np.float32))
                for _ in range(ecgs)]
    return encode(model.tokenizer, features, question, None, "You read ECGs.", 2, 1024, finding_tokens=len(KINDS),
                  offered=offered_answers(question, KINDS))


def test_an_option_row_is_the_prompt_encoded_with_that_answer(tiny_backbone):
    from heartcare.model.chat import EcgFeatures, encode
    from heartcare.model.offered_answers import offered_answers
    from heartcare.model.option_answers import with_answer

    model = option_model(tiny_backbone)
    asked = prompt(model)
    features = [EcgFeatures(signal=np.asarray(asked.signal[0]), finding=np.asarray(asked.finding[0]))]
    whole = encode(model.tokenizer, features, QUESTION, "atrial fibrillation (B)", "You read ECGs.", 2, 1024,
                   finding_tokens=len(KINDS), offered=offered_answers(QUESTION, KINDS))
    row = with_answer(model, asked, "atrial fibrillation (B)")
    assert row.input_ids == whole.input_ids and row.labels == whole.labels and row.prompt_length == whole.prompt_length


def test_the_reader_speaks_for_the_asked_kind_over_the_offered_answers_only(tiny_backbone):
    from heartcare.model.option_answers import reader_scores

    model = option_model(tiny_backbone)
    choices = question_options(QUESTION)
    scores = reader_scores(model, prompt(model), choices)
    beliefs = [math.exp(score) for score in scores]
    assert sum(beliefs) == pytest.approx(1.0, abs=1e-4)  # renormalised over the three offered, not all four answers
    assert max(range(3), key=lambda index: beliefs[index]) == choices.index("left bundle branch block")
    assert reader_scores(model, prompt(model, ecgs=2), choices) is None  # a pair: no one reader speaks for the answer
    assert reader_scores(model, prompt(model), ["normal ECG", "a finding no reader knows"]) is None
    swapped = ["left bundle branch block", "normal ECG", "atrial fibrillation"]
    assert reader_scores(model, prompt(model), swapped) == pytest.approx([scores[2], scores[0], scores[1]], abs=1e-6)


def test_ask_answers_an_offering_question_by_its_options_and_generates_the_others(tiny_backbone):
    from heartcare.model.ask import answer_encoded
    from heartcare.model.examples import collate
    from heartcare.model.option_answers import option_answer, option_logprobs_of, with_answer

    model = option_model(tiny_backbone, closed_answers="options")
    free = prompt(model, "What does this ECG show?")
    asked = prompt(model)
    choices, letters = question_options(QUESTION), "ABC"
    language = option_logprobs_of(model, [with_answer(model, asked, option_answer(model.config, letters, choices, index))
                                          for index in range(3)])
    streamed, chosen = [], {}
    answers = answer_encoded(model, [asked, free], [6, 6], on_token=lambda row, token: streamed.append((row, token)),
                             options=[choices, []], chosen=chosen)
    best = max(range(3), key=lambda index: language[index])
    assert model.decode(answers[0]) == option_answer(model.config, letters, choices, best)
    assert [chosen[0]["scores"][letter]["language"] for letter in letters] == pytest.approx(language, abs=1e-3)
    assert answers[1] == answer_encoded(model, [free], [6])[0]  # the free question is generated as if alone
    assert [token for row, token in streamed if row == 0] == answers[0]  # each row's tokens reach its own stream
    assert [token for row, token in streamed if row == 1] == answers[1]
    assert 1 not in chosen

    reader_model = option_model(tiny_backbone, closed_answers="options", reader_weight=100.0)
    reader_model.load_state_dict(model.state_dict())
    answers = answer_encoded(reader_model, [asked], [6], options=[choices])
    assert model.decode(answers[0]) == "left bundle branch block (C)"  # the reader's answer outweighs the language model
    model.config = dataclasses.replace(model.config, closed_answers="generate")  # options offered, but the model writes
    assert answer_encoded(model, [asked], [6], options=[choices]) == model.generate(collate([asked], model.tokenizer.pad_token_id,
                                                                                            left=True), [6])


def test_a_reader_weight_needs_option_answers_and_finding_readers():
    from heartcare.errors import ConfigError
    from heartcare.model.config import GptConfig

    with pytest.raises(ConfigError, match="reader_weight"):
        GptConfig(backbone="lm", beat="beat", findings=KINDS, reader_weight=1.0)  # closed answers still generated
    with pytest.raises(ConfigError, match="reader_weight"):
        GptConfig(backbone="lm", beat="beat", closed_answers="options", reader_weight=1.0)  # no readers
    with pytest.raises(ConfigError, match="closed_answers"):
        GptConfig(backbone="lm", beat="beat", closed_answers="letters")
    assert GptConfig(backbone="lm", beat="beat", closed_answers="options").reader_weight == 0.0


def test_the_weight_chosen_on_valid_items_is_saved_with_its_table_and_the_bench_answers_by_it(built_dataset, gpt_parts, tmp_path, capsys,
                                                                                               monkeypatch):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.parse import parse_choice
    from heartcare.bench.runner import BenchConfig, run_bench
    from heartcare.cli import main
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.option_answers import WEIGHTS
    from heartcare.model.reader_weight import score_valid_items
    from heartcare.train.gpt_run import train_gpt

    run = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "warmup", progress=False, finding_tokens=True,
                    model_changes={"backbone": str(gpt_parts["backbone"]), "signal_dim": 32})
    out = tmp_path / "options"
    assert main(["gpt", "set", str(run.out), "--reader-weight", "1", "--out", str(tmp_path / "bad")]) != 0
    assert "reader_weight" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["gpt", "set", str(run.out), "--closed-answers", "options", "--reader-weight", "valid", "--out", str(out)]) != 0
    assert "--data" in capsys.readouterr().err
    assert main(["gpt", "set", str(run.out), "--finding-choices", "on", "--closed-answers", "options", "--reader-weight", "valid",
                 "--data", str(built_dataset), "--out", str(out)]) != 0
    assert "no valid multiple-choice items" in capsys.readouterr().err and not out.exists()  # the 24-record build has none
    items = BenchDataset.items  # so its train items stand in for valid ones: the code path is the same
    monkeypatch.setattr(BenchDataset, "items", lambda self, split: items(self, "train" if split == "valid" else split))
    assert main(["gpt", "set", str(run.out), "--finding-choices", "on", "--closed-answers", "options", "--reader-weight", "valid",
                 "--data", str(built_dataset), "--limit", "40", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    document = json.loads((out / "config.json").read_text())
    chosen = document["derived_from"]["chosen"]
    assert chosen["split"] == "valid" and chosen["items"] > 0 and chosen["with_reader"] > 0
    assert set(chosen["table"]) == {str(weight) for weight in WEIGHTS} and f"chosen: {chosen['weight']}" in printed
    best = max(row["mean"] for row in chosen["table"].values())
    assert chosen["table"][str(chosen["weight"])]["mean"] == best
    assert document["model"]["reader_weight"] == chosen["weight"] and document["model"]["closed_answers"] == "options"
    assert document["model"]["finding_choices"]

    # the table's rows are the scores answered: weight 0 = the language model's best option, a large weight = the reader's
    scored, _ = score_valid_items(run.out, built_dataset, limit=40, progress=False, settings={"finding_choices": True})
    assert sum(reader is not None for _, reader, _, _ in scored) == chosen["with_reader"]
    tasks = {task for *_, task in scored}
    language_right = {task: [] for task in tasks}
    for language, _, answer, task in scored:
        language_right[task].append(int(np.argmax(language)) == answer)
    assert chosen["table"]["0.0"]["mean"] == pytest.approx(
        round(sum(round(100 * sum(hits) / len(hits), 2) for hits in language_right.values()) / len(tasks), 2), abs=0.01)

    monkeypatch.setattr(BenchDataset, "items", items)
    model = from_pretrained(out, load_encoders=False)
    assert model.config.closed_answers == "options"
    run_bench(BenchConfig(data=built_dataset, model=f"heartcare-gpt:{out}", out=tmp_path / "bench", tasks=["closed-S-diagnosis"],
                          floors=False, progress=False))
    items = {one.id: one for one in BenchDataset(built_dataset).items("test")}
    rows = [json.loads(line) for line in (tmp_path / "bench" / "predictions.jsonl").read_text().splitlines()]
    assert rows and all(parse_choice(row["output"], items[row["id"]].choices) is not None for row in rows)  # always an option
