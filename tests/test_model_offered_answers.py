"""Offered answers: finding tokens that believe only the answers their question offers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from test_model_findings import ANSWERS, IMAGE_DIM, LatentCache, finding_model, item  # noqa: E402

from heartcare.bench.prompt import user_text  # noqa: E402
from heartcare.model.chat import FINDING, IMAGE_FINDING  # noqa: E402
from heartcare.model.examples import collate, encode_item  # noqa: E402
from heartcare.model.findings import FindingProjector  # noqa: E402
from heartcare.model.offered_answers import offered_answers, restricted  # noqa: E402


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("offered") / "lm")


KINDS = (("closed_qa/diagnosis/diagnosis", ANSWERS + ("left anterior fascicular block",)),
         ("closed_qa/rhythm/rhythm", ("sinus rhythm", "sinus bradycardia", "atrial fibrillation")))


def test_a_kind_is_restricted_to_the_answers_its_question_names_when_it_names_two_or_more():
    question = "Which is shown? Options: A: left bundle branch block; B: normal ECG; C: sinus bradycardia."
    mask = offered_answers(question, KINDS)
    # diagnosis: 2 named -> only those; rhythm: "sinus bradycardia" alone -> the whole kind
    assert mask.tolist() == [0, 1, 1, 0, 1, 1, 1] + [1, 0]  # then the asked flags: diagnosis asked, rhythm not
    # a longer option holding a shorter one's words does not offer the shorter one too
    fascicular = "Options: A: left anterior fascicular block; B: atrial fibrillation."
    assert offered_answers(fascicular, KINDS)[:4].tolist() == [1, 0, 0, 1]
    assert offered_answers("What does this ECG show?", KINDS).tolist() == [1] * 7 + [0, 0]
    # a question naming every answer of a kind asks it, although its mask is all ones as for a kind not asked
    every_rhythm = "Options: A: sinus rhythm; B: sinus bradycardia; C: atrial fibrillation."
    assert offered_answers(every_rhythm, KINDS).tolist() == [1] * 7 + [0, 1]


def test_a_restricted_belief_is_renormalised_over_the_offer_and_an_empty_offer_keeps_the_belief():
    belief = torch.tensor([[0.6, 0.3, 0.1, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    offered = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    result = restricted(belief, offered)
    assert torch.allclose(result[0], torch.tensor([0.0, 0.75, 0.25, 0.0]))
    assert torch.allclose(result[1], torch.tensor([0.0, 0.0, 0.5, 0.5]))  # no belief on the offer: even over it
    assert torch.allclose(result[2], belief[2])
    assert torch.allclose(result.sum(dim=-1), torch.ones(3))


def test_the_projector_writes_the_best_offered_answer_where_the_favourite_is_not_offered():
    projector = FindingProjector(4, 6, [3, 2])
    with torch.no_grad():
        for classifier in projector.classifiers:
            classifier.weight.zero_()
        projector.classifiers[0].bias.copy_(torch.tensor([9.0, 4.0, 0.0]))  # answer 0 first, then 1
    rows = torch.ones(1, 4)
    unrestricted = projector(rows)
    offered = torch.tensor([[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])  # kind 1 asked, offers answers 1 and 2; kind 2 everything
    tokens = projector(rows, offered)
    assert torch.allclose(unrestricted[0], projector.answers[0][0], atol=1e-2)
    assert torch.allclose(tokens[0], projector.answers[0][1], atol=2e-2)
    assert torch.allclose(tokens[1], unrestricted[1])  # the other kind is untouched
    with pytest.raises(ValueError, match="offered answers"):
        projector(rows, torch.ones(1, 4))


def test_an_item_carries_its_offer_to_the_signal_and_picture_finding_tokens(tiny_backbone):
    model = finding_model(tiny_backbone, findings=KINDS, image_findings=True)
    model.config = dataclasses.replace(model.config, finding_choices=True)
    with torch.no_grad():  # the diagnosis reader is sure of normal ECG, which the items do not offer
        for projector in (model.finding_projector, model.image_finding_projector):
            projector.classifiers[0].weight.zero_()
            projector.classifiers[0].bias.copy_(torch.tensor([-6.0, 3.0, 12.0, 0.0]))
    signal_item = dataclasses.replace(item(0, "left bundle branch block"), choices=("atrial fibrillation", "left bundle branch block"),
                                      answer_index=1, question="Which finding? Options: A: atrial fibrillation; B: left bundle branch block.")
    picture_item = dataclasses.replace(signal_item, id="item-1", modality="I",
                                       ecgs=(dataclasses.replace(signal_item.ecgs[0], record_id="record-1-0", modality="I"),))
    cache = LatentCache({"record-0-0": "left bundle branch block", "record-1-0": "left bundle branch block"})
    cache.image = lambda record, index=0: np.ones((12, IMAGE_DIM), dtype=np.float32)
    assert "normal ECG" not in user_text(signal_item)
    encoded = [encode_item(one, cache, model.config, model.tokenizer, with_answer=True) for one in (signal_item, picture_item)]
    batch = collate(encoded, model.tokenizer.pad_token_id)
    assert batch["finding_offered"][0, :4].tolist() == [1, 1, 0, 0]
    assert batch["image_finding_offered"][0, :4].tolist() == [1, 1, 0, 0]
    embedded = model.embed_batch(batch)
    for token, projector in ((FINDING, model.finding_projector), (IMAGE_FINDING, model.image_finding_projector)):
        written = embedded[batch["input_ids"] == model.token_ids[token]][0]
        assert torch.allclose(written, projector.answers[0][1], atol=1e-3)  # left bundle branch block, not normal ECG
    from heartcare.model.findings import read_findings

    reading = read_findings(model, encoded[0])[0]["closed_qa/diagnosis/diagnosis"]
    assert next(iter(reading)) == "left bundle branch block" and "normal ECG" not in reading  # what the token said
    plain = collate([encode_item(signal_item, cache, dataclasses.replace(model.config, finding_choices=False), model.tokenizer,
                                 with_answer=True)], model.tokenizer.pad_token_id)
    assert "finding_offered" not in plain
    unrestricted = model.embed_batch(plain)[plain["input_ids"] == model.token_ids[FINDING]][0]
    assert torch.allclose(unrestricted, model.finding_projector.answers[0][2], atol=1e-3)


def test_a_question_put_through_ask_carries_its_offer(tiny_backbone, gpt_parts):
    from heartcare.model.ask import Question, prepare
    from heartcare.model.build import build_model
    from heartcare.model.config import GptConfig

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder="tiny", image_feature_dim=16,
                       signal_dim=32, lora_rank=4, lora_alpha=8, max_length=1024, signal_pool=5, findings=KINDS,
                       image_findings=True, finding_choices=True)
    model = build_model(config, load_encoders=True)
    photo = np.random.default_rng(3).integers(0, 255, size=(120, 300, 3), dtype=np.uint8)
    offered = prepare(model, Question("Options: A: normal ECG; B: atrial fibrillation.", [(None, photo)])).offered
    assert offered.tolist() == [1, 0, 1, 0, 1, 1, 1, 1, 0]
    free = prepare(model, Question("What does it show?", [(None, photo)]))
    assert free.offered.tolist() == [1] * 7 + [0, 0]
    model.config = config.with_changes(finding_choices=False)
    assert prepare(model, Question("Options: A: normal ECG; B: atrial fibrillation.", [(None, photo)])).offered is None


def test_a_trained_checkpoint_takes_the_offer_on_without_training_and_nothing_else(tiny_backbone, tmp_path):
    from heartcare.errors import ConfigError
    from heartcare.model.chat import EcgFeatures, encode
    from heartcare.model.checkpoint import from_pretrained, with_settings
    from heartcare.model.offered_answers import offered_answers

    model = finding_model(tiny_backbone, findings=KINDS)
    with torch.no_grad():
        for parameter in model.finding_projector.parameters():
            parameter.add_(torch.randn_like(parameter))
    model.save_pretrained(tmp_path / "plain")
    with_settings(tmp_path / "plain", tmp_path / "offered", {"finding_choices": True})
    loaded = from_pretrained(tmp_path / "offered", load_encoders=False)
    assert loaded.config.finding_choices and not from_pretrained(tmp_path / "plain", load_encoders=False).config.finding_choices
    ecg = EcgFeatures(signal=np.ones((5, 8), dtype=np.float32), finding=np.linspace(-1, 1, 16, dtype=np.float32)[None])
    question = "Options: A: normal ECG; B: atrial fibrillation."
    encoded = encode(model.tokenizer, [ecg], question, None, "You read ECGs.", 2, 1024, finding_tokens=2,
                     offered=offered_answers(question, KINDS))
    batch = collate([encoded], model.tokenizer.pad_token_id)
    whole = {key: value for key, value in batch.items() if key != "finding_offered"}
    assert torch.equal(model.logits(whole), loaded.logits(whole))  # the same weights
    assert not torch.allclose(loaded.logits(whole), loaded.logits(batch), atol=1e-5)  # the offer changes the tokens
    from heartcare.cli import main

    assert main(["gpt", "set", str(tmp_path / "offered"), "--finding-choices", "off", "--out", str(tmp_path / "back")]) == 0
    assert not from_pretrained(tmp_path / "back", load_encoders=False).config.finding_choices
    assert torch.equal(from_pretrained(tmp_path / "back", load_encoders=False).logits(whole), model.logits(whole))
    with pytest.raises(ConfigError, match="cannot change without training"):
        with_settings(tmp_path / "plain", tmp_path / "other", {"lora_rank": 8})
    with pytest.raises(ConfigError, match="new folder"):
        with_settings(tmp_path / "plain", tmp_path / "plain", {"finding_choices": True})


def _projector_with_a_kept_prior(unasked_prior: bool) -> FindingProjector:
    """Kinds of 3 and 2 answers, classifiers fitted to constant scores, the prior shift a fit would keep."""
    projector = FindingProjector(4, 6, [3, 2], unasked_prior=unasked_prior)
    with torch.no_grad():
        for classifier in projector.classifiers:
            classifier.weight.zero_()
        projector.classifiers[0].bias.copy_(torch.tensor([0.0, 1.0, 0.5]))
        projector.classifiers[1].bias.copy_(torch.tensor([1.0, 0.0]))  # the fit with the prior taken out favours answer 0
        projector.answer_prior_shift.copy_(torch.tensor([-0.1, -2.0, -0.3, -3.0, -0.05]))  # share x log prior, per answer
    return projector


def test_the_kinds_a_question_does_not_ask_read_with_the_train_prior_put_back():
    rows = torch.ones(2, 4)
    offered = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0],   # asks kind 1 (answers 0 and 1), not kind 2
                            [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])  # asks nothing
    kept = _projector_with_a_kept_prior(unasked_prior=True)
    first, second = kept.beliefs(rows, offered)
    # kind 2 is not asked by either row: its scores get the shift back, so the prior's favourite (answer 1) leads
    expected = (torch.tensor([1.0, 0.0]) + torch.tensor([-3.0, -0.05])).softmax(dim=-1)
    assert torch.allclose(second, expected.expand(2, -1)) and second[0].argmax() == 1
    # kind 1: asked by row 0, read as fitted (over its offer); not asked by row 1, shifted
    fitted = torch.tensor([0.0, 1.0]).softmax(dim=-1)
    assert torch.allclose(first[0], torch.cat([fitted, torch.zeros(1)]))
    assert torch.allclose(first[1], (torch.tensor([0.0, 1.0, 0.5]) + torch.tensor([-0.1, -2.0, -0.3])).softmax(dim=-1))
    # off, or without an offer: every kind read as fitted
    plain = _projector_with_a_kept_prior(unasked_prior=False).beliefs(rows, offered)
    assert torch.allclose(plain[1], torch.tensor([1.0, 0.0]).softmax(dim=-1).expand(2, -1))
    assert all(torch.allclose(a, b) for a, b in zip(kept.beliefs(rows), kept.probabilities(rows), strict=True))
    tokens = kept(rows, offered).reshape(2, 2, -1)  # the token is that belief over its answer rows
    assert torch.allclose(tokens[0, 1], expected @ kept.answers[1], atol=1e-6)


def test_an_old_checkpoint_without_a_kept_prior_loads_and_unasked_prior_is_a_setting(tiny_backbone, tmp_path):
    from safetensors.torch import load_file, save_file

    from heartcare.errors import ConfigError
    from heartcare.model.chat import EcgFeatures, encode
    from heartcare.model.checkpoint import from_pretrained, with_settings

    model = finding_model(tiny_backbone, findings=KINDS, image_findings=True)
    model.config = dataclasses.replace(model.config, finding_choices=True)
    with torch.no_grad():
        for parameter in model.finding_projector.parameters():
            parameter.add_(torch.randn_like(parameter))
        for projector in (model.finding_projector, model.image_finding_projector):
            projector.answer_prior_shift.copy_(torch.linspace(-3.0, -0.1, 7))
    model.save_pretrained(tmp_path / "kept")
    from heartcare.cli import main

    assert main(["gpt", "set", str(tmp_path / "kept"), "--unasked-prior", "on", "--out", str(tmp_path / "unasked")]) == 0
    loaded = from_pretrained(tmp_path / "unasked", load_encoders=False)
    assert loaded.image_finding_projector.unasked_prior and not model.image_finding_projector.unasked_prior  # both streams
    assert loaded.finding_projector.unasked_prior and torch.equal(loaded.finding_projector.answer_prior_shift,
                                                                  model.finding_projector.answer_prior_shift)
    ecg = EcgFeatures(signal=np.ones((5, 8), dtype=np.float32), finding=np.linspace(-1, 1, 16, dtype=np.float32)[None])
    question = "Options: A: normal ECG; B: atrial fibrillation."  # asks the diagnosis kind, not the rhythm
    batch = collate([encode(model.tokenizer, [ecg], question, None, "You read ECGs.", 2, 1024, finding_tokens=2,
                            offered=offered_answers(question, KINDS))], model.tokenizer.pad_token_id)
    tokens = batch["input_ids"] == model.token_ids[FINDING]
    before, after = model.embed_batch(batch)[tokens], loaded.embed_batch(batch)[tokens]
    assert torch.allclose(before[0], after[0])  # the asked kind's token is the same
    assert not torch.allclose(before[1], after[1], atol=1e-5)  # the unasked kind's has the prior back
    # a checkpoint written before the shift was kept: loads, with no shift, so the setting changes nothing
    projectors = tmp_path / "kept" / "projectors.safetensors"
    save_file({name: tensor for name, tensor in load_file(str(projectors)).items() if "answer_prior_shift" not in name}, str(projectors))
    with_settings(tmp_path / "kept", tmp_path / "old-unasked", {"finding_unasked_prior": True})
    old = from_pretrained(tmp_path / "old-unasked", load_encoders=False)
    assert not old.finding_projector.answer_prior_shift.any()
    with pytest.raises(ConfigError, match="needs finding_choices"):
        with_settings(tmp_path / "unasked", tmp_path / "x", {"finding_choices": False})
