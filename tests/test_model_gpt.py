"""HeartcareGPT: splicing, answer-only loss, stage freezing, checkpoints, generation, `<prediction>`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.model.chat import IGNORE, SIGNAL, EcgFeatures, encode  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.examples import collate  # noqa: E402
from heartcare.train.config import StageConfig  # noqa: E402

FEATURE_DIM = 16


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("gpt") / "lm")


@pytest.fixture(scope="module")
def tiny_beat(tmp_path_factory) -> Path:
    """A small random Beat with the real window geometry (4-s context, 2-s horizon at 250 Hz)."""
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat

    torch.manual_seed(0)
    config = BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16, mlp_ratio=2, codebook_size=16)
    return build_beat(config).save_pretrained(tmp_path_factory.mktemp("gpt") / "beat")


def make_config(backbone: Path, beat: Path | str = "unused", **changes) -> GptConfig:
    base = GptConfig(backbone=str(backbone), beat=str(beat), image_encoder="tiny", image_feature_dim=FEATURE_DIM,
                     signal_dim=32 if beat != "unused" else 128, lora_rank=4, lora_alpha=8, max_length=1024)
    return base.with_changes(**changes)


@pytest.fixture(scope="module")
def model(tiny_backbone):
    from heartcare.model.build import build_model

    return build_model(make_config(tiny_backbone), load_encoders=False)


def features(seed: int, signal_tokens: int = 6, image_views: int = 12) -> EcgFeatures:
    rng = np.random.default_rng(seed)
    return EcgFeatures(signal=rng.normal(size=(signal_tokens, 128)).astype(np.float32),
                       image=rng.normal(size=(image_views, FEATURE_DIM)).astype(np.float32))


def example(model, ecgs, answer="B: left bundle branch block"):
    return encode(model.tokenizer, ecgs, "Which finding? Options: A: normal ECG; B: left bundle branch block.", answer,
                  "You read ECGs.", model.config.image_tokens, model.config.max_length)


def test_placeholders_sit_inside_the_user_turn_once_per_ecg(model):
    encoded = example(model, [features(0), features(1)])
    text = model.tokenizer.decode(encoded.input_ids)
    user = text.split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
    assert user.count("<signal_start>") == 2 and user.count("<image_start>") == 2
    assert user.index("ECG 1:") < user.index("ECG 2:") < user.index("Which finding?")
    assert encoded.input_ids.count(model.token_ids[SIGNAL]) == 12
    assert encoded.input_ids.count(model.token_ids["<image>"]) == 2 * 12 * 2


def test_features_land_on_their_placeholders_and_a_count_mismatch_raises(model):
    from heartcare.model.gpt import FeatureCountError

    batch = collate([example(model, [features(0)]), example(model, [features(1), features(2)])], model.tokenizer.pad_token_id)
    embedded = model.embed(batch["input_ids"], batch["signal"], batch["image"])
    slots = batch["input_ids"] == model.token_ids[SIGNAL]
    expected = model.signal_projector(batch["signal"])
    assert torch.allclose(embedded[slots], expected, atol=1e-6)  # row-major order: item 1's ECGs follow item 0's
    text = ~(slots | (batch["input_ids"] == model.token_ids["<image>"]))
    plain = model.language_model.get_input_embeddings()(batch["input_ids"])
    assert torch.equal(embedded[text], plain[text])
    with pytest.raises(FeatureCountError, match="placeholders"):
        model.embed(batch["input_ids"], batch["signal"][:-1], batch["image"])
    with pytest.raises(FeatureCountError, match="no features"):
        model.embed(batch["input_ids"], None, batch["image"])


def test_both_ecgs_of_a_pair_reach_the_model(model):
    first, second = features(0), features(1)
    changed = EcgFeatures(signal=second.signal + 3.0, image=second.image)
    logits = [model.logits(collate([example(model, [first, other])], model.tokenizer.pad_token_id))[0, -1] for other in (second, changed)]
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)


def test_loss_covers_the_answer_and_its_end_token_only(model):
    encoded = example(model, [features(0)])
    answer_ids = [token for token in encoded.labels if token != IGNORE]
    assert model.tokenizer.decode(answer_ids) == "B: left bundle branch block<|im_end|>"
    assert encoded.labels[: encoded.prompt_length] == [IGNORE] * encoded.prompt_length
    batch = collate([encoded], model.tokenizer.pad_token_id)
    loss, _ = model(batch)
    logits = model.logits(batch)[0, :-1]
    targets = batch["labels"][0, 1:]
    keep = targets != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert torch.allclose(loss, manual, atol=1e-5)


def test_a_prompt_longer_than_the_context_is_refused_not_cut(model):
    from heartcare.model.chat import PromptTooLongError

    with pytest.raises(PromptTooLongError, match="exceed max_length 1024"):
        example(model, [features(0, signal_tokens=1100)])


def _changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


@pytest.mark.parametrize("stage_parts", [("signal_projector", "image_projector"), ("lora", "signal_projector"), ("token_rows",)])
def test_a_stage_changes_only_its_parts(tiny_backbone, stage_parts):
    from heartcare.model.build import build_model

    model = build_model(make_config(tiny_backbone), load_encoders=False)
    stage = StageConfig(name="test", trainable={part: 1e-2 for part in stage_parts})
    groups = model.parameter_groups(stage)
    optimizer = torch.optim.AdamW([{k: v for k, v in group.items() if k != "name"} for group in groups])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    batch = collate([example(model, [features(0)]), example(model, [features(3)], "A: normal ECG")], model.tokenizer.pad_token_id)
    for _ in range(2):
        loss, _ = model(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = {name: p.detach().clone() for name, p in model.named_parameters()}
    changed = _changed(before, after)
    owners = {"signal_projector": "signal_projector.", "image_projector": "image_projector.", "lora": "lora_", "token_rows": "embed_tokens"}
    for part, marker in owners.items():
        touched = {name for name in changed if marker in name}
        assert bool(touched) == (part in stage_parts), (part, sorted(changed)[:5])
    assert all(any(owners[part] in name for part in stage_parts) or "lm_head" in name for name in changed)
    if "token_rows" in stage_parts:  # only the new ECG-token rows move, never the backbone's own
        name = next(name for name in changed if "embed_tokens" in name)
        moved = (before[name] != after[name]).any(dim=1).nonzero().flatten()
        assert moved.min() >= model.base_vocabulary and len(moved) > 0


def test_save_then_load_gives_identical_logits(tiny_backbone, tmp_path):
    from heartcare.errors import UnreadableFileError
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import from_pretrained, save_pretrained

    model = build_model(make_config(tiny_backbone), load_encoders=False)
    with torch.no_grad():  # as if trained: every saved part differs from a fresh build
        for part in ("signal_projector", "image_projector", "lora"):
            for parameter in model.part_parameters(part):
                parameter.add_(torch.randn_like(parameter) * 0.05)
        for matrix in model.part_parameters("token_rows"):  # a stage moves only the new rows
            matrix[model.base_vocabulary :] += torch.randn_like(matrix[model.base_vocabulary :])
    batch = collate([example(model, [features(0)])], model.tokenizer.pad_token_id)
    expected = model.logits(batch)
    folder = save_pretrained(model, tmp_path / "ckpt")
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "lora.safetensors", "projectors.safetensors", "token_rows.safetensors"]
    loaded = from_pretrained(folder, load_encoders=False)
    assert torch.allclose(loaded.logits(batch), expected, atol=1e-5)
    fresh = build_model(make_config(tiny_backbone), load_encoders=False)
    assert not torch.allclose(fresh.logits(batch), expected, atol=1e-3)
    # LoRA widened to the MLPs on loading (a joint stage from a warm-up): the new adapters start at zero,
    # the saved ones load, so the model answers as saved; a saved target left out is still refused
    widened = from_pretrained(folder, load_encoders=False,
                              overrides={"lora_targets": ("q_proj", "k_proj", "v_proj", "o_proj", "down_proj")})
    assert any(".down_proj.lora_A." in name for name, _ in widened.language_model.named_parameters())
    assert torch.allclose(widened.logits(batch), expected, atol=1e-5)
    with pytest.raises(UnreadableFileError, match="do not fit"):
        from_pretrained(folder, load_encoders=False, overrides={"lora_targets": ("q_proj", "k_proj", "v_proj")})


def test_a_checkpoint_fingerprint_follows_its_weights_not_its_path(tiny_backbone, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import FILES, checkpoint_fingerprint, merge, save_pretrained

    folder = save_pretrained(build_model(make_config(tiny_backbone), load_encoders=False), tmp_path / "ckpt")
    first = checkpoint_fingerprint(folder)
    shutil.copytree(folder, tmp_path / "copy")
    (folder / "training").mkdir()
    (folder / "training" / "optimizer.safetensors").write_bytes(b"resume state, not the model")
    assert checkpoint_fingerprint(tmp_path / "copy") == checkpoint_fingerprint(folder) == first
    rows = load_file(folder / FILES["token_rows"])
    name = sorted(rows)[0]
    rows[name] = rows[name].clone()
    rows[name].view(-1)[0] += 1.0  # one weight of one file moved
    save_file(rows, folder / FILES["token_rows"])
    assert checkpoint_fingerprint(folder) != first
    merged = merge(tmp_path / "copy", tmp_path / "merged")
    assert checkpoint_fingerprint(merged) not in (None, first)
    assert checkpoint_fingerprint(tmp_path / "nowhere") is None


def test_merged_checkpoint_needs_no_lora_and_answers_the_same(tiny_backbone, tmp_path):
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import from_pretrained, merge, save_pretrained

    model = build_model(make_config(tiny_backbone), load_encoders=False)
    with torch.no_grad():
        for parameter in model.part_parameters("lora"):
            parameter.add_(torch.randn_like(parameter) * 0.05)
    batch = collate([example(model, [features(0)])], model.tokenizer.pad_token_id)
    expected = model.logits(batch)
    merged = merge(save_pretrained(model, tmp_path / "ckpt"), tmp_path / "merged")
    loaded = from_pretrained(merged, load_encoders=False)
    assert loaded.config.lora_rank == 0 and not loaded.part_parameters("lora")
    assert torch.allclose(loaded.logits(batch), expected, atol=1e-4)


def test_generation_with_the_kv_cache_equals_full_recompute(model):
    prompts = [encode(model.tokenizer, [features(seed)], "What rhythm?", None, "You read ECGs.", 2, 1024) for seed in (0, 1, 2)]
    prompts[2] = encode(model.tokenizer, [features(2), features(4)], "Compare the rhythms.", None, "You read ECGs.", 2, 1024)
    batch = collate(prompts, model.tokenizer.pad_token_id, left=True)
    cached, full = model.generate(batch, 12), model.generate(batch, 12, use_cache=False)
    assert cached == full and all(len(answer) > 0 for answer in cached)
    alone = model.generate(collate([prompts[0]], model.tokenizer.pad_token_id, left=True), 12)
    assert alone[0] == cached[0]  # left padding does not change an answer


def test_a_prediction_answer_returns_a_two_second_waveform(tiny_backbone, tiny_beat):
    from heartcare.ecg.leads import STANDARD_LEADS
    from heartcare.ecg.record import Ecg
    from heartcare.model.ask import Question, ask
    from heartcare.model.build import build_model
    from heartcare.sim.simulate import SimulationSpec, simulate

    model = build_model(make_config(tiny_backbone, beat=tiny_beat, signal_pool=5), load_encoders=True)
    prediction_id = model.token_ids["<prediction>"]
    with torch.no_grad():  # make <prediction> the model's first answer whatever it reads
        model.language_model.get_output_embeddings().weight[prediction_id] *= 0
        model.language_model.get_output_embeddings().bias = None
        head = model.language_model.get_output_embeddings()
        head.weight[prediction_id] = 0
    hook = head.register_forward_hook(lambda module, inputs, output: output.index_fill(-1, torch.tensor([prediction_id]), 1e4))
    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=1).ecg
    try:
        (answer,) = ask(model, [Question("Generate the 2-second continuation.", [(ecg, None)], max_new_tokens=4)])
    finally:
        hook.remove()
    assert answer.text.startswith("<prediction>")
    assert answer.prediction.shape == (12, 500) and answer.prediction_fs == 250.0
    assert np.isfinite(answer.prediction).all() and answer.prediction.std() > 0
    assert isinstance(Ecg(answer.prediction, 250.0, list(STANDARD_LEADS)), Ecg)


def test_config_refuses_a_model_with_no_stream():
    from heartcare.errors import ConfigError

    with pytest.raises(ConfigError, match="signal stream"):
        GptConfig(beat=None, image_encoder=None)
    assert replace(GptConfig(beat="b"), image_view="whole").image_view == "whole"


def test_left_and_right_padding_give_the_same_loss_and_answer_logits(model):
    examples = [example(model, [features(0)]), example(model, [features(1), features(2)], "A: normal ECG")]
    right = collate(examples, model.tokenizer.pad_token_id)
    left = collate(examples, model.tokenizer.pad_token_id, left=True)
    assert torch.allclose(model(right)[0], model(left)[0], atol=1e-5)
    shorter = len(examples[0].input_ids)
    pad = right["input_ids"].shape[1] - shorter
    assert torch.allclose(model.logits(right)[0, :shorter], model.logits(left)[0, pad:], atol=1e-4)


@pytest.mark.parametrize("architecture", ["qwen2", "phi3"])
def test_other_backbones_work_unchanged(tiny_backbone, tmp_path, architecture):
    """Qwen2 (separate q/k/v) and Phi-3 (fused qkv_proj) folders: build, LoRA on attention, train a step, save, load."""
    import shutil

    from transformers import AutoConfig, AutoModelForCausalLM

    from heartcare.model.gpt import HeartcareGPT

    folder = tmp_path / architecture
    shutil.copytree(tiny_backbone, folder)
    base = json_load(folder / "config.json")
    config = AutoConfig.for_model(architecture, vocab_size=base["vocab_size"], hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=2048, bos_token_id=base["bos_token_id"], eos_token_id=base["eos_token_id"],
                                  tie_word_embeddings=False, pad_token_id=None)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    from heartcare.model.build import build_model

    model = build_model(make_config(folder), load_encoders=False)
    lora_modules = {name.split(".lora_A")[0].rsplit(".", 1)[-1] for name, _ in model.language_model.named_parameters() if "lora_A" in name}
    assert lora_modules == ({"qkv_proj", "o_proj"} if architecture == "phi3" else {"q_proj", "k_proj", "v_proj", "o_proj"})
    groups = model.parameter_groups(StageConfig(name="t", trainable={"lora": 1e-2, "signal_projector": 1e-2}))
    optimizer = torch.optim.AdamW([{k: v for k, v in group.items() if k != "name"} for group in groups])
    batch = collate([example(model, [features(0)])], model.tokenizer.pad_token_id, left=True)
    loss, _ = model(batch)
    loss.backward()
    optimizer.step()
    saved = model.save_pretrained(tmp_path / "ckpt")
    loaded = HeartcareGPT.from_pretrained(saved, load_encoders=False)
    assert torch.allclose(loaded.logits(batch), model.logits(batch), atol=1e-5)


def json_load(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def test_pooled_signal_tokens_are_means_of_consecutive_latents():
    from heartcare.model.examples import pool

    latents = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)  # two windows of 20 queries
    pooled = pool(latents, 5)
    assert pooled.shape == (8, 3)
    assert np.allclose(pooled[1], latents[5:10].mean(axis=0)) and np.allclose(pooled[-1], latents[35:].mean(axis=0))
    assert pool(latents, 1) is latents


def test_signal_summary_adds_the_mean_and_spread_of_all_latents_after_the_pooled_tokens():
    from heartcare.model.examples import signal_tokens

    rng = np.random.default_rng(0)
    latents = rng.normal(size=(40, 3)).astype(np.float32) * np.array([1.0, 2.0, 0.5], dtype=np.float32)
    plain = GptConfig(beat="b", signal_pool=5)
    assert np.array_equal(signal_tokens(latents, plain), latents.reshape(8, 5, 3).mean(axis=1))
    tokens = signal_tokens(latents, plain.with_changes(signal_summary=True))
    assert tokens.shape == (10, 3) and tokens.dtype == np.float32
    assert np.allclose(tokens[:8], latents.reshape(8, 5, 3).mean(axis=1))
    # over the 40 latents, not over the 8 pooled tokens (pooling averages the spread away)
    assert np.allclose(tokens[8], latents.mean(axis=0), atol=1e-6)
    assert np.allclose(tokens[9], latents.std(axis=0), atol=1e-6)
    assert not np.allclose(tokens[9], tokens[:8].std(axis=0))


class _FakeTokenizer:
    """Unknown tokens map to id 0 (a real token) and there is no unk token: only a round trip tells them apart."""

    def __init__(self, vocabulary: dict[str, int], eos_token_id: int | None) -> None:
        self.vocabulary, self.eos_token_id, self.unk_token_id = vocabulary, eos_token_id, None

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.vocabulary.get(token, 0)

    def convert_ids_to_tokens(self, token_id: int) -> str:
        return {index: token for token, index in self.vocabulary.items()}[token_id]


def test_end_of_turn_is_the_first_closing_token_the_vocabulary_really_has():
    from heartcare.errors import HeartcareError
    from heartcare.model.chat import end_of_turn_id

    assert end_of_turn_id(_FakeTokenizer({"<|endoftext|>": 0, "<|eot_id|>": 5}, eos_token_id=0)) == 5
    assert end_of_turn_id(_FakeTokenizer({"<|endoftext|>": 0, "</s>": 2}, eos_token_id=2)) == 2
    with pytest.raises(HeartcareError, match="no end-of-turn"):
        end_of_turn_id(_FakeTokenizer({"<|endoftext|>": 0}, eos_token_id=None))


def test_lora_adapts_the_modules_the_config_names(tiny_backbone, model):
    from heartcare.model.build import build_model

    def adapted(built) -> set[str]:
        return {name.split(".")[-4] for name, _ in built.language_model.named_parameters() if name.endswith("lora_A.default.weight")}

    assert adapted(model) == {"q_proj", "k_proj", "v_proj", "o_proj"}  # attention, as the paper's stage 3
    with_mlp = build_model(make_config(tiny_backbone, lora_targets=("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj")),
                           load_encoders=False)
    assert adapted(with_mlp) == {"q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}


def test_ask_reads_an_ecg_file_with_the_summary_tokens_as_training_does(tiny_backbone, tiny_beat):
    from heartcare.model.ask import ecg_features
    from heartcare.model.build import build_model
    from heartcare.model.examples import signal_tokens
    from heartcare.model.features import signal_latents
    from heartcare.sim.simulate import SimulationSpec, simulate

    model = build_model(make_config(tiny_backbone, beat=tiny_beat, signal_pool=5, signal_summary=True), load_encoders=True)
    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=1).ecg
    latents = signal_latents(model.beat, ecg)
    features = ecg_features(model, ecg, None)
    assert features.signal.shape == (len(latents) // 5 + 2, latents.shape[1])
    assert np.allclose(features.signal, signal_tokens(latents, model.config))


def kept_for_backward(model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """(loss, gradients of the trainable parameters, bytes the forward pass kept for the backward pass)."""
    kept = [0]

    def pack(tensor):
        kept[0] += tensor.numel() * tensor.element_size()
        return tensor

    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss, _ = model(batch)
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), gradients, kept[0]


def test_gradient_checkpointing_keeps_less_for_backward_and_gives_the_same_gradients(tiny_backbone):
    from heartcare.model.build import build_model

    torch.manual_seed(0)
    model = build_model(make_config(tiny_backbone, lora_dropout=0.3), load_encoders=False)  # dropout masks must replay
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.train()
    batch = collate([example(model, [features(0)]), example(model, [features(1), features(2)], "A: normal ECG")],
                    model.tokenizer.pad_token_id, left=True)
    torch.manual_seed(1)
    loss, gradients, kept = kept_for_backward(model, batch)
    model.gradient_checkpointing_enable()
    torch.manual_seed(1)
    loss_checkpointed, gradients_checkpointed, kept_checkpointed = kept_for_backward(model, batch)
    assert torch.equal(loss, loss_checkpointed)
    assert gradients.keys() == gradients_checkpointed.keys() and any("lora_" in name for name in gradients)
    for name, gradient in gradients.items():
        assert torch.allclose(gradient, gradients_checkpointed[name], atol=1e-6), name
    assert kept_checkpointed < kept / 2, (kept_checkpointed, kept)


def test_a_stage_with_gradient_checkpointing_turns_it_on_and_a_model_without_it_is_refused(tiny_backbone, tmp_path):
    from heartcare.errors import ConfigError
    from heartcare.model.build import build_model
    from heartcare.train.loop import train

    model = build_model(make_config(tiny_backbone), load_encoders=False)
    batch = collate([example(model, [features(0)])], model.tokenizer.pad_token_id, left=True)
    stage = StageConfig(name="joint", epochs=1, batch_size=1, max_steps=1, warmup_steps=0, progress=False,
                        trainable={"lora": 1e-3}, gradient_checkpointing=True)
    train(model, [batch], stage, tmp_path / "run", collate_fn=lambda rows: rows[0])
    language_model = model.language_model
    assert getattr(language_model, "is_activation_checkpointing", None) or language_model.is_gradient_checkpointing
    with pytest.raises(ConfigError, match="cannot recompute its activations"):
        train(torch.nn.Linear(2, 1), [torch.zeros(2)], stage, tmp_path / "linear", collate_fn=lambda rows: rows[0])
