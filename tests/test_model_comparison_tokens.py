"""Comparison tokens: a pair's same-rhythm and which-is-faster beliefs, written in answer words."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model.chat import COMPARISON, EcgFeatures, Encoded, encode  # noqa: E402
from heartcare.model.comparison_tokens import RHYTHM_KIND, ComparisonTokens, fit_rate  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.examples import collate  # noqa: E402

SIGNAL_DIM, IMAGE_DIM = 8, 6
RHYTHMS = ("atrial fibrillation", "sinus bradycardia", "sinus rhythm")
FINDINGS = (("closed_qa/diagnosis/diagnosis", ("normal ECG", "old myocardial infarction")), (RHYTHM_KIND, RHYTHMS))


def one_hot_rows(tokens: ComparisonTokens) -> None:
    with torch.no_grad():
        for index, rows in enumerate(tokens.answers):
            rows.zero_()
            rows[0, 2 * index] = 1.0
            rows[1, 2 * index + 1] = 1.0


def test_the_tokens_say_same_rhythm_and_the_faster_ecg_in_answer_words():
    tokens = ComparisonTokens(hidden=4)
    one_hot_rows(tokens)
    sinus, fibrillation = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0])
    rhythm = torch.stack([torch.stack([sinus, sinus]), torch.stack([sinus, fibrillation])])  # a same pair, a different one
    rate = torch.tensor([[110.0, 60.0], [60.0, 110.0]])  # first faster, then second faster
    out = tokens(rhythm, rate).reshape(2, 2, 4)
    assert torch.allclose(out[0, 0], torch.tensor([1.0, 0, 0, 0]), atol=1e-6)  # "Yes"
    assert torch.allclose(out[1, 0], torch.tensor([0.0, 1, 0, 0]), atol=1e-6)  # "No"
    assert torch.allclose(out[0, 1], torch.tensor([0.0, 0, 1, 0]), atol=1e-4)  # "the first ECG"
    assert torch.allclose(out[1, 1], torch.tensor([0.0, 0, 0, 1]), atol=1e-4)  # "the second ECG"
    close = tokens.beliefs(rhythm[:1], torch.tensor([[72.0, 70.0]]))[0, 1].detach()
    assert 0.5 < float(close) < 0.75  # 2 bpm apart at the 5 bpm scale: leaning, not sure


def test_the_rate_regression_recovers_a_linear_rate():
    rng = np.random.default_rng(0)
    inputs = torch.from_numpy(rng.normal(loc=2.0, size=(400, 5)))  # off-centre, as raw features are
    rates = 70 + 9 * inputs[:, 0] - 4 * inputs[:, 3] + torch.from_numpy(rng.normal(scale=0.5, size=400))
    weight, bias = fit_rate(inputs, rates)
    assert torch.allclose(weight, torch.tensor([9.0, 0, 0, -4, 0], dtype=weight.dtype), atol=0.15)
    assert abs(float(bias) - 70) < 0.5
    wide = torch.cat([inputs[:40], torch.from_numpy(rng.normal(size=(40, 95)))], dim=1)  # fewer records than inputs
    primal = torch.linalg.solve((wide - wide.mean(0)).T @ (wide - wide.mean(0)) + torch.eye(100, dtype=wide.dtype),
                                (wide - wide.mean(0)).T @ (rates[:40] - rates[:40].mean()))
    weight, bias = fit_rate(wide, rates[:40])
    assert torch.allclose(weight, primal, atol=1e-8)  # the same weights, solved over the 40 records
    assert torch.allclose(wide @ weight + bias, rates[:40], atol=1.0)


def test_the_rate_penalty_is_chosen_on_valid_records():
    from heartcare.model.comparison_tokens import chosen_rate_fit, fit_rates

    rng = np.random.default_rng(1)
    mix = rng.normal(size=(20, 300))

    def draw(records: int) -> tuple[torch.Tensor, torch.Tensor]:
        # 300 inputs for 40 train records, every one the rate's factor plus strong structure unrelated to it
        factor = rng.normal(size=(records, 1))
        inputs = factor + rng.normal(size=(records, 20)) @ mix + 0.1 * rng.normal(size=(records, 300))
        return torch.from_numpy(inputs), torch.from_numpy(75 + 10 * factor[:, 0] + 6 * rng.normal(size=records))

    train, valid = draw(40), draw(200)
    ridges = (1.0, 10.0, 100.0, 1_000.0)
    weight, bias, ridge = chosen_rate_fit(train, valid, ridges)
    errors = {penalty: float((valid[0] @ w + b - valid[1]).abs().mean()) for penalty, (w, b) in zip(ridges, fit_rates(*train, ridges), strict=True)}
    assert ridge == min(errors, key=errors.get) and ridge > 1.0  # the mild penalty interpolates train
    assert errors[ridge] < 0.8 * errors[1.0]
    assert torch.allclose(weight, fit_rates(*train, (ridge,))[0][0])
    assert chosen_rate_fit(train, None, ridges)[2] == 1.0  # no valid records: the default penalty


def test_pairs_index_their_finding_rows_across_a_batch():
    row = np.zeros((1, 4), dtype=np.float32)
    same = Encoded(input_ids=[1], labels=[-100], finding=[row, row], comparison=[(("finding", 0), ("finding", 1))])
    mixed = Encoded(input_ids=[1], labels=[-100], finding=[row], image_finding=[row],
                    comparison=[(("finding", 0), ("image_finding", 0))])
    batch = collate([same, mixed], pad_id=0)
    # 3 signal rows in the batch, then the picture rows: the mixed pair's picture is reading 3
    assert batch["comparison_index"].tolist() == [[0, 1], [2, 3]]
    assert "comparison_index" not in collate([Encoded(input_ids=[1], labels=[-100], finding=[row])], pad_id=0)


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("comparison") / "lm")


def comparison_model(backbone: Path, comparison: bool = True, pictures: bool = True):
    from heartcare.model.build import build_model

    config = GptConfig(backbone=str(backbone), beat="unused", image_encoder="tiny" if pictures else None, image_feature_dim=IMAGE_DIM,
                       signal_dim=SIGNAL_DIM, lora_rank=4, lora_alpha=8, max_length=1024, findings=FINDINGS,
                       image_findings=pictures, comparison_findings=comparison)
    model = build_model(config, load_encoders=False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.finding_projector.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model


def signal_ecg(seed: int) -> EcgFeatures:
    rng = np.random.default_rng(seed)
    return EcgFeatures(signal=rng.normal(size=(5, SIGNAL_DIM)).astype(np.float32), finding=rng.normal(size=(1, 2 * SIGNAL_DIM)).astype(np.float32))


def picture_ecg(seed: int) -> EcgFeatures:
    rng = np.random.default_rng(seed)
    return EcgFeatures(image=rng.normal(size=(12, IMAGE_DIM)).astype(np.float32), image_finding=rng.normal(size=(1, 2 * IMAGE_DIM)).astype(np.float32))


def test_a_pair_gets_its_comparison_tokens_after_the_second_ecg(tiny_backbone):
    from heartcare.model.gpt import FeatureCountError

    model = comparison_model(tiny_backbone)
    encoded = encode(model.tokenizer, [signal_ecg(1), picture_ecg(2)], "Which ECG is faster?", None, "You read ECGs.", 2, 1024,
                     finding_tokens=2, comparison_tokens=2)
    text = model.tokenizer.decode(encoded.input_ids)
    assert text.count(COMPARISON) == 2 and "<image_end>" + COMPARISON * 2 + "\nWhich ECG is faster?" in text
    batch = collate([encoded], model.tokenizer.pad_token_id)
    embedded = model.embed_batch(batch)
    slots = batch["input_ids"] == model.token_ids[COMPARISON]
    rhythm_kind = [kind for kind, _ in FINDINGS].index(RHYTHM_KIND)
    signal_row, picture_row = batch["finding"], batch["image_finding"]
    rhythm = torch.stack([model.finding_projector.probabilities(signal_row)[rhythm_kind][0],
                          model.image_finding_projector.probabilities(picture_row)[rhythm_kind][0]])[None]
    rate = torch.stack([model.finding_projector.rates(signal_row)[0], model.image_finding_projector.rates(picture_row)[0]])[None]
    assert torch.allclose(embedded[slots], model.finding_projector.comparison(rhythm, rate), atol=1e-5)
    from heartcare.model.comparison_tokens import read_comparison

    said = read_comparison(model, encoded)  # what `ask` reports beside the answer
    same, faster = model.finding_projector.comparison.beliefs(rhythm, rate)[0].tolist()
    assert said["same_rhythm"] == pytest.approx(same, abs=1e-4) and said["first_faster"] == pytest.approx(faster, abs=1e-4)
    assert said["rates_bpm"] == pytest.approx(rate[0].tolist(), abs=0.06)
    with pytest.raises(FeatureCountError, match="compared pairs"):
        model.embed_batch({key: value for key, value in batch.items() if key != "comparison_index"})
    single = encode(model.tokenizer, [signal_ecg(1)], "Which rhythm?", None, "You read ECGs.", 2, 1024, finding_tokens=2, comparison_tokens=2)
    assert COMPARISON not in model.tokenizer.decode(single.input_ids) and not single.comparison


def test_the_order_of_the_pair_decides_which_is_first(tiny_backbone):
    model = comparison_model(tiny_backbone)
    with torch.no_grad():
        model.finding_projector.rate.weight.zero_()
        model.finding_projector.rate.weight[0, 0] = 30.0  # a rate that follows the first input
        model.finding_projector.rate.bias.fill_(75.0)
        model.finding_projector.comparison.log_rate_scale.fill_(float(np.log(5.0)))
    slow, fast = signal_ecg(3), signal_ecg(4)
    slow.finding[0, 0], fast.finding[0, 0] = -1.0, 1.0

    def faster_token(pair):
        encoded = encode(model.tokenizer, pair, "Which is faster?", None, "You read ECGs.", 2, 1024, finding_tokens=2, comparison_tokens=2)
        batch = collate([encoded], model.tokenizer.pad_token_id)
        return model.embed_batch(batch)[batch["input_ids"] == model.token_ids[COMPARISON]][1]

    first, second = model.finding_projector.comparison.answers[1]
    assert torch.allclose(faster_token([fast, slow]), first, atol=1e-3)
    assert torch.allclose(faster_token([slow, fast]), second, atol=1e-3)


def test_comparison_tokens_need_the_rhythm_finding_and_survive_a_save(tiny_backbone, tmp_path):
    from heartcare.model.checkpoint import from_pretrained

    with pytest.raises(ConfigError, match="rhythm finding"):
        GptConfig(beat="b", findings=(("closed_qa/diagnosis/diagnosis", ("a", "b")),), comparison_findings=True)
    model = comparison_model(tiny_backbone)
    batch = collate([encode(model.tokenizer, [signal_ecg(5), signal_ecg(6)], "Same rhythm?", None, "You read ECGs.", 2, 1024,
                            finding_tokens=2, comparison_tokens=2)], model.tokenizer.pad_token_id)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = from_pretrained(tmp_path / "ckpt", load_encoders=False)
    assert loaded.config.comparison_findings and torch.equal(model.logits(batch), loaded.logits(batch))
    plain = comparison_model(tiny_backbone, comparison=False)
    assert plain.finding_projector.comparison is None and COMPARISON not in plain.tokenizer.get_vocab()


class RateCache:
    """Records whose latents carry their heart rate in the first dimension (and nothing else)."""

    def __init__(self, rates: dict[str, float]) -> None:
        self.rates = rates

    def __contains__(self, record: str) -> bool:
        return record in self.rates

    def signal(self, record: str) -> np.ndarray:
        latents = np.random.default_rng(zlib.crc32(record.encode())).normal(size=(20, SIGNAL_DIM)).astype(np.float32)
        latents[:, 0] += (self.rates[record] - 75.0) / 10.0
        return latents


def test_fitting_teaches_each_ecg_its_heart_rate(tiny_backbone):
    from heartcare.bench.items import BenchItem, EcgRef
    from heartcare.model.findings import fit_findings, stream_input

    rng = np.random.default_rng(0)
    rates = {f"record-{index}": float(rng.uniform(45, 130)) for index in range(240)}

    def rhythm_item(index: int, split: str) -> BenchItem:
        answer = RHYTHMS[index % 3]
        return BenchItem(id=f"{split}-{index}", task="closed_qa", dimension="rhythm", modality="S", question="Which rhythm?",
                         answer=answer, choices=RHYTHMS, answer_index=RHYTHMS.index(answer), ecgs=(EcgRef(f"record-{index}", "S"),),
                         meta={"subtopic": "rhythm"})

    model = comparison_model(tiny_backbone, pictures=False)
    cache = RateCache(rates)
    report = fit_findings(model, [rhythm_item(index, "train") for index in range(200)], cache, target_norm=1.0,
                          valid_items=[rhythm_item(index, "valid") for index in range(200, 240)], rates=rates)
    assert report["finding_projector"]["rate"]["valid_mae_bpm"] < 3.0  # the spread of the rates is about 25 bpm
    held_out = [f"record-{index}" for index in range(200, 240)]
    rows = torch.from_numpy(np.concatenate([stream_input(cache, record, "signal", model.config) for record in held_out]))
    estimates = model.finding_projector.rates(rows.to(model.finding_projector.input_mean.dtype)).detach().numpy()
    assert np.abs(estimates - np.array([rates[record] for record in held_out])).mean() < 3.0
    from heartcare.model.findings import answer_embeddings

    words = answer_embeddings(model, ("Yes", "No", "the first ECG", "the second ECG"), target_norm=1.0)
    for rows, expected in zip(model.finding_projector.comparison.answers, (words[:2], words[2:]), strict=True):
        assert torch.allclose(rows, expected.to(rows.dtype), atol=1e-5)  # they start as the backbone's own words
