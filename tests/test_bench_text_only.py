"""text-only adapter: ECG withheld, batching exact, option log-likelihoods correct, tiny random Llama."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from heartcare.bench import prompt  # noqa: E402
from heartcare.bench.items import BenchItem, EcgRef  # noqa: E402
from heartcare.bench.models import MODELS, ModelContext, build_model  # noqa: E402
from heartcare.bench.models.text_only import NOT_APPLICABLE, TextOnlyModel  # noqa: E402
from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model.backbone import tiny_causal_lm  # noqa: E402


class SealedDataset:
    """A dataset that fails on any use: the text-only adapter must never reach for an ECG."""

    def __getattr__(self, name: str):
        raise AssertionError(f"text-only touched dataset.{name}")


def make_item(identifier: str, task: str, choices: tuple[str, ...] = (), record: str = "ptbxl_30") -> BenchItem:
    options = "; ".join(f"{'ABCD'[index]}: {choice}" for index, choice in enumerate(choices))
    question = f"Read the ECG of a 75-year-old male and answer ({identifier})." + (f" Options: {options}." if choices else "")
    return BenchItem(
        id=identifier,
        task=task,
        dimension="diagnosis",
        modality="S",
        question=question,
        answer=f"A: {choices[0]}" if choices else "sinus rhythm",
        choices=choices,
        answer_index=0 if choices else -1,
        ecgs=(EcgRef(record, "S"),),
        meta={"context": [0, 1000], "target": [1000, 1500], "fs": 250} if task == "signal_prediction" else {},
    )


MIXED = [
    make_item("q1", "open_qa"),
    make_item("q2", "closed_qa", ("complete right bundle branch block", "inferior myocardial infarction", "septal hypertrophy", "digitalis-effect")),
    make_item("q3", "signal_prediction"),
    make_item("q4", "comparison_qa", ("yes", "no")),
    make_item("q5", "closed_qa", ("sinus rhythm", "atrial fibrillation", "sinus tachycardia")),
    make_item("q6", "report"),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> TextOnlyModel:
    folder = tiny_causal_lm(tmp_path_factory.mktemp("tiny"))
    return TextOnlyModel(str(folder), ModelContext(dataset=SealedDataset()))  # type: ignore[arg-type]


def test_registry_names_the_adapter() -> None:
    assert MODELS["text-only"] == "heartcare.bench.models.text_only:TextOnlyModel"


def test_one_output_per_item_in_order(model: TextOnlyModel) -> None:
    outputs = model.respond(MIXED)
    assert len(outputs) == len(MIXED)
    for item, output in zip(MIXED, outputs, strict=True):
        if item.task == "signal_prediction":
            assert output.not_applicable == NOT_APPLICABLE and output.text is None and output.option_logprobs is None
            continue
        assert output.not_applicable is None and isinstance(output.text, str)
        assert 0 < output.extra["new_tokens"] <= prompt.max_new_tokens(item)
        if item.is_multiple_choice:
            assert len(output.option_logprobs) == len(item.choices)  # 4, 2 and 3 options: misordering shows
            assert all(score < 0 for score in output.option_logprobs)
        else:
            assert output.option_logprobs is None
    # The random model never says <|im_end|>, so each task runs to its own budget.
    assert outputs[5].extra["new_tokens"] == prompt.max_new_tokens(MIXED[5]) > outputs[1].extra["new_tokens"]


def test_batched_answers_equal_one_at_a_time(model: TextOnlyModel) -> None:
    batched = model.respond(MIXED)
    for item, together in zip(MIXED, batched, strict=True):
        (alone,) = model.respond([item])
        assert together.text == alone.text and together.not_applicable == alone.not_applicable
        if item.is_multiple_choice:
            assert together.option_logprobs == pytest.approx(alone.option_logprobs, abs=1e-4)


def test_option_logprobs_equal_a_direct_computation(model: TextOnlyModel) -> None:
    items = [item for item in MIXED if item.is_multiple_choice]
    scores = model.option_logprobs(items)
    for item, item_scores in zip(items, scores, strict=True):
        prompt_ids = model.prompt_ids(item)
        for index, choice in enumerate(item.choices):
            option = model.tokenizer(f"{item.letters[index]}: {choice}", add_special_tokens=False)["input_ids"]
            sequence = torch.tensor([prompt_ids + option])
            with torch.no_grad():
                logprobs = model.model(input_ids=sequence).logits[0].log_softmax(-1)  # [T, vocab]
            direct = sum(float(logprobs[len(prompt_ids) + k - 1, token]) for k, token in enumerate(option))
            assert item_scores[index] == pytest.approx(direct, abs=1e-4)


def test_scoring_chunks_do_not_change_scores(model: TextOnlyModel, monkeypatch) -> None:
    items = [item for item in MIXED if item.is_multiple_choice]
    whole = model.option_logprobs(items)
    monkeypatch.setattr(model, "scoring_items", 1)  # one item per pass: no padding at all
    for chunked, scores in zip(model.option_logprobs(items), whole, strict=True):
        assert chunked == pytest.approx(scores, abs=1e-4)


def test_prompt_is_the_chat_template_of_the_question_alone(model: TextOnlyModel) -> None:
    item = MIXED[1]
    text = model.tokenizer.decode(model.prompt_ids(item))
    expected = (
        f"<|im_start|>system\n{prompt.SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n{prompt.user_text(item)}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert text == expected
    assert "ptbxl_30" not in text and "signal" not in text.lower()


def test_not_a_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    context = ModelContext(dataset=SealedDataset())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a Hugging Face model folder") as error:
        TextOnlyModel(str(tmp_path), context)
    assert str(tmp_path) in str(error.value)
    with pytest.raises(ConfigError, match="no such model folder"):
        build_model(f"text-only:{tmp_path / 'missing'}", context)
