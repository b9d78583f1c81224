"""The which-shows comparison token: "which ECG shows finding X?" read from each ECG's presence of X."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.model.chat import COMPARISON, EcgFeatures, encode  # noqa: E402
from heartcare.model.comparison_tokens import RHYTHM_KIND, named_finding, shown_beliefs  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.examples import collate  # noqa: E402

SIGNAL_DIM = 8
RHYTHMS = ("atrial fibrillation", "sinus rhythm")
FINDINGS = (("closed_qa/diagnosis/diagnosis", ("normal ECG", "old myocardial infarction")), (RHYTHM_KIND, RHYTHMS))
NAMED = (("IMI", "inferior myocardial infarction"), ("MI", "myocardial infarction"), ("PVC", "ventricular premature complex"))


def test_the_four_answers_follow_from_both_presences():
    presence = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.9, 0.2], [1.0, 0.0]])
    named = torch.tensor([True, True, True, True, True, False])
    table = shown_beliefs(presence, named)
    assert table[:4].argmax(dim=1).tolist() == [0, 1, 2, 3]  # first, second, both, neither
    assert torch.allclose(table[4], torch.tensor([0.9 * 0.8, 0.1 * 0.2, 0.9 * 0.2, 0.1 * 0.8]))
    assert torch.allclose(table[5], torch.full((4,), 0.25))  # no finding named: no lean
    assert torch.allclose(table.sum(dim=1), torch.ones(6))


def test_the_question_names_the_longest_finding_in_whole_words():
    config = GptConfig(beat="b", findings=FINDINGS, comparison_findings=True, named_findings=NAMED)
    assert named_finding("Which ECG shows 'inferior myocardial infarction'?", config) == 0
    assert named_finding("Which of the two shows MYOCARDIAL INFARCTION?", config) == 1
    assert named_finding("Which recording carries a ventricular premature complex?", config) == 2
    assert named_finding("Which ECG shows myocardial infarctions?", config) == -1  # not the whole words
    assert named_finding("Which ECG is faster?", config) == -1
    with pytest.raises(Exception, match="needs comparison_findings"):
        GptConfig(beat="b", findings=FINDINGS, named_findings=NAMED)
    assert config.comparison_tokens == 3 and config.with_changes(named_findings=()).comparison_tokens == 2


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("named") / "lm")


def named_model(backbone: Path):
    from heartcare.model.build import build_model

    config = GptConfig(backbone=str(backbone), beat="unused", image_encoder=None, signal_dim=SIGNAL_DIM, lora_rank=4, lora_alpha=8,
                       max_length=1024, findings=FINDINGS, comparison_findings=True, named_findings=NAMED)
    model = build_model(config, load_encoders=False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.finding_projector.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
        # presence of finding k follows finding input k: strongly shown above 0, strongly absent below
        model.finding_projector.input_mean.zero_()
        model.finding_projector.input_scale.fill_(1.0)
        model.finding_projector.presence.weight.zero_()
        model.finding_projector.presence.bias.zero_()
        for index in range(len(NAMED)):
            model.finding_projector.presence.weight[index, index] = 20.0
    return model


def ecg(shows: list[int], seed: int) -> EcgFeatures:
    rng = np.random.default_rng(seed)
    finding = np.full((1, 2 * SIGNAL_DIM), -1.0, dtype=np.float32)
    finding[0, shows] = 1.0
    return EcgFeatures(signal=rng.normal(size=(5, SIGNAL_DIM)).astype(np.float32), finding=finding)


def which_shows_token(model, pair: list[EcgFeatures], question: str) -> torch.Tensor:
    encoded = encode(model.tokenizer, pair, question, None, "You read ECGs.", 2, 1024, finding_tokens=2,
                     comparison_tokens=model.config.comparison_tokens, named_finding=named_finding(question, model.config))
    assert model.tokenizer.decode(encoded.input_ids).count(COMPARISON) == 3
    batch = collate([encoded], model.tokenizer.pad_token_id)
    return model.embed_batch(batch)[batch["input_ids"] == model.token_ids[COMPARISON]][2]


def test_the_pair_gets_the_answer_of_the_finding_its_question_names(tiny_backbone):
    model = named_model(tiny_backbone)
    first, second, both, neither = model.finding_projector.comparison.answers[2]
    pvc_in_first = [ecg([2], 1), ecg([0], 2)]  # the first shows PVC, the second an inferior MI
    assert torch.allclose(which_shows_token(model, pvc_in_first, "Which ECG shows ventricular premature complex?"), first, atol=1e-3)
    assert torch.allclose(which_shows_token(model, pvc_in_first, "Which ECG shows inferior myocardial infarction?"), second, atol=1e-3)
    assert torch.allclose(which_shows_token(model, [ecg([0, 2], 3), ecg([2], 4)], "Which shows ventricular premature complex?"), both, atol=1e-3)
    assert torch.allclose(which_shows_token(model, pvc_in_first, "Which ECG shows myocardial infarction?"), neither, atol=1e-3)
    unnamed = which_shows_token(model, pvc_in_first, "Which ECG is faster?")
    assert torch.allclose(unnamed, (first + second + both + neither) / 4, atol=1e-5)


def test_a_batch_without_the_named_findings_is_refused(tiny_backbone):
    from heartcare.model.gpt import FeatureCountError

    model = named_model(tiny_backbone)
    encoded = encode(model.tokenizer, [ecg([0], 5), ecg([1], 6)], "Which shows inferior myocardial infarction?", None, "You read ECGs.", 2,
                     1024, finding_tokens=2, comparison_tokens=3, named_finding=0)
    batch = collate([encoded], model.tokenizer.pad_token_id)
    assert batch["comparison_finding"].tolist() == [0]
    with pytest.raises(FeatureCountError, match="named finding"):
        model.embed_batch({key: value for key, value in batch.items() if key != "comparison_finding"})
    from heartcare.model.comparison_tokens import read_comparison

    said = read_comparison(model, encoded)["named_finding"]  # what `ask --json` reports beside the answer
    assert said["code"] == "IMI" and said["the first ECG"] > 0.99 and said["neither ECG"] < 0.01


class LabelledCache:
    """Records whose latents carry, in dimension k, whether they show named finding k (plus noise)."""

    def __init__(self, labels: dict[str, frozenset[str]]) -> None:
        self.labels = labels

    def __contains__(self, record: str) -> bool:
        return record in self.labels

    def signal(self, record: str) -> np.ndarray:
        latents = np.random.default_rng(zlib.crc32(record.encode())).normal(size=(20, SIGNAL_DIM)).astype(np.float32)
        for index, (code, _) in enumerate(NAMED):
            latents[:, index] += 1.5 if code in self.labels[record] else -1.5
        return latents


def test_fitting_teaches_each_ecg_which_named_findings_it_shows(tiny_backbone):
    from heartcare.bench.items import BenchItem, EcgRef
    from heartcare.model.findings import fit_findings

    rng = np.random.default_rng(0)
    labels = {f"record-{index}": frozenset(code for code, _ in NAMED if rng.random() < 0.3) for index in range(240)}

    def rhythm_item(index: int, split: str) -> BenchItem:
        answer = RHYTHMS[index % 2]
        return BenchItem(id=f"{split}-{index}", task="closed_qa", dimension="rhythm", modality="S", question="Which rhythm?",
                         answer=answer, choices=RHYTHMS, answer_index=RHYTHMS.index(answer), ecgs=(EcgRef(f"record-{index}", "S"),),
                         meta={"subtopic": "rhythm"})

    model = named_model(tiny_backbone)
    rates = dict.fromkeys(labels, 70.0)
    report = fit_findings(model, [rhythm_item(index, "train") for index in range(200)], LabelledCache(labels), target_norm=1.0,
                          valid_items=[rhythm_item(index, "valid") for index in range(200, 240)], rates=rates, labels=labels)
    presence = report["finding_projector"]["presence"]
    assert presence["findings"] == 3 and presence["train_records"] == 200 and presence["valid_balanced_accuracy"] > 0.9
    from heartcare.model.findings import stream_input

    held_out = [f"record-{index}" for index in range(200, 240)]
    cache = LabelledCache(labels)
    rows = torch.from_numpy(np.concatenate([stream_input(cache, record, "signal", model.config) for record in held_out]))
    said = model.finding_projector.presences(rows.to(model.finding_projector.input_mean.dtype)) > 0.5
    truth = torch.tensor([[code in labels[record] for code, _ in NAMED] for record in held_out])
    assert float((said == truth).float().mean()) > 0.9  # the head says shown where the record shows it
    from heartcare.model.findings import answer_embeddings

    words = answer_embeddings(model, ("the first ECG", "the second ECG", "both ECGs", "neither ECG"), target_norm=1.0)
    assert torch.allclose(model.finding_projector.comparison.answers[2], words.to(model.finding_projector.comparison.answers[2].dtype), atol=1e-5)
