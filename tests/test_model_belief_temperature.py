"""Finding temperature: each finding token's belief sharpened before it becomes a token (an inference setting)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from test_model_findings import finding_model  # noqa: E402
from test_model_offered_answers import KINDS  # noqa: E402

from heartcare.model.belief_temperature import sharpened  # noqa: E402
from heartcare.model.findings import FindingProjector  # noqa: E402


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("temperature") / "lm")


def test_sharpening_keeps_the_order_and_the_unoffered_zeros_and_zero_gives_the_favourite_alone():
    belief = torch.tensor([[0.5, 0.3, 0.2, 0.0], [0.1, 0.6, 0.0, 0.3], [0.25, 0.25, 0.25, 0.25]])
    assert sharpened(belief, 1.0) is belief
    half = sharpened(belief, 0.5)
    assert torch.allclose(half[0], torch.tensor([25.0, 9.0, 4.0, 0.0]) / 38.0)  # squared, renormalised
    assert torch.allclose(half.sum(dim=-1), torch.ones(3))
    assert (half == 0).tolist() == (belief == 0).tolist()  # an answer not offered stays out
    assert torch.equal(half.argmax(dim=-1), belief.argmax(dim=-1))
    assert bool((half.max(dim=-1).values >= belief.max(dim=-1).values - 1e-6).all())  # sharper, never flatter
    assert torch.allclose(half[2], belief[2])  # an even belief has nothing to sharpen
    hot = sharpened(belief, 0.0)
    assert hot.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]  # ties: the first
    assert torch.allclose(sharpened(belief[:2], 1e-40), hot[:2])  # a tiny temperature is the limit, not NaN
    flatter = sharpened(belief, 2.0)
    assert bool((flatter.max(dim=-1).values <= belief.max(dim=-1).values + 1e-6).all())


def test_a_cold_projector_writes_the_believed_answers_row_and_a_warm_one_a_blend():
    projector = FindingProjector(4, 6, [3])
    with torch.no_grad():
        projector.classifiers[0].weight.zero_()
        projector.classifiers[0].bias.copy_(torch.tensor([1.0, 0.5, 0.0]))  # a mild preference for answer 0
    rows = torch.ones(2, 4)
    assert torch.allclose(projector(rows, None, 0.0)[0], projector.answers[0][0])
    blend = projector(rows)[0]
    assert not torch.allclose(blend, projector.answers[0][0], atol=1e-3)
    closer = projector(rows, None, 0.3)[0]
    assert (closer - projector.answers[0][0]).norm() < (blend - projector.answers[0][0]).norm()


def test_the_offer_is_applied_before_sharpening_so_a_cold_token_is_the_best_offered_answer():
    projector = FindingProjector(4, 6, [3])
    with torch.no_grad():
        projector.classifiers[0].weight.zero_()
        projector.classifiers[0].bias.copy_(torch.tensor([6.0, 1.0, 2.0]))  # favourite 0, then 2, then 1
    offered = torch.tensor([[0.0, 1.0, 1.0, 1.0]])  # the favourite is not offered (then the kind's asked flag)
    assert torch.allclose(projector(torch.ones(1, 4), offered, 0.0)[0], projector.answers[0][2])
    assert projector.beliefs(torch.ones(1, 4), offered, 0.0)[0].tolist() == [[0.0, 0.0, 1.0]]


def test_a_trained_checkpoint_takes_a_temperature_without_training_and_the_tokens_follow_it(tiny_backbone, tmp_path, capsys):
    from heartcare.cli import main
    from heartcare.model.chat import FINDING, EcgFeatures, encode
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.examples import collate
    from heartcare.model.findings import read_findings

    model = finding_model(tiny_backbone, findings=KINDS)
    with torch.no_grad():
        for classifier in model.finding_projector.classifiers:
            classifier.weight.mul_(0).add_(torch.randn_like(classifier.weight) * 0.1)
    model.save_pretrained(tmp_path / "warm")
    assert main(["gpt", "set", str(tmp_path / "warm"), "--finding-temperature", "0", "--out", str(tmp_path / "cold")]) == 0
    cold = from_pretrained(tmp_path / "cold", load_encoders=False)
    assert cold.config.finding_temperature == 0.0 and not cold.config.finding_choices
    ecg = EcgFeatures(signal=np.ones((5, 8), dtype=np.float32), finding=np.linspace(-1, 1, 16, dtype=np.float32)[None])
    encoded = encode(model.tokenizer, [ecg], "What does it show?", None, "You read ECGs.", 2, 1024, finding_tokens=2)
    batch = collate([encoded], model.tokenizer.pad_token_id)
    slots = batch["input_ids"] == model.token_ids[FINDING]
    rows = torch.from_numpy(ecg.finding).to(model.finding_projector.input_mean.dtype)
    favourites = [int(belief.argmax()) for belief in model.finding_projector.beliefs(rows)]
    written = cold.embed_batch(batch)[slots]
    for kind, favourite in enumerate(favourites):
        assert torch.allclose(written[kind], cold.finding_projector.answers[kind][favourite].to(written.dtype), atol=1e-3)
    assert not torch.allclose(model.embed_batch(batch)[slots], written, atol=1e-3)
    reading = read_findings(cold, encoded)[0]["closed_qa/diagnosis/diagnosis"]
    assert max(reading.values()) == 1.0  # what the token told the LLM, at the model's temperature
    assert main(["gpt", "set", str(tmp_path / "warm"), "--finding-temperature", "-1", "--out", str(tmp_path / "bad")]) != 0
    assert "finding_temperature" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["gpt", "set", str(tmp_path / "warm"), "--out", str(tmp_path / "none")]) != 0
    assert "name a setting" in capsys.readouterr().err


def test_a_temperature_needs_finding_tokens():
    from heartcare.errors import ConfigError
    from heartcare.model.config import GptConfig

    with pytest.raises(ConfigError, match="finding_temperature"):
        GptConfig(backbone="lm", beat="beat", finding_temperature=0.5)
    with pytest.raises(ConfigError, match="finding_temperature"):
        GptConfig(backbone="lm", beat="beat", findings=KINDS, finding_temperature=float("nan"))
    with pytest.raises(ConfigError, match="finding_temperature"):
        GptConfig(backbone="lm", beat="beat", findings=KINDS, finding_temperature=11.0)
    assert GptConfig(backbone="lm", beat="beat", findings=KINDS, finding_temperature=0.0).finding_temperature == 0.0
