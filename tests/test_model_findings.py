"""Finding tokens: a classifier's belief over a kind's answers, written in the backbone's word embeddings."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.bench.items import BenchItem, EcgRef  # noqa: E402
from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model.chat import COMPARISON, FINDING, EcgFeatures, encode  # noqa: E402
from heartcare.model.comparison_tokens import RHYTHM_KIND  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.examples import collate, finding_input  # noqa: E402
from heartcare.model.findings import FindingProjector, finding_vocabulary, fit_findings  # noqa: E402

ANSWERS = ("atrial fibrillation", "left bundle branch block", "normal ECG")
SIGNAL_DIM, IMAGE_DIM = 8, 6


def item(index: int, answer: str, modality: str = "S", task: str = "closed_qa", dimension: str = "diagnosis",
         ecgs: int = 1) -> BenchItem:
    choices = tuple(sorted({answer, *ANSWERS}))
    return BenchItem(id=f"item-{index}", task=task, dimension=dimension, modality=modality, question="Which finding?",
                     answer=answer, choices=choices, answer_index=choices.index(answer),
                     ecgs=tuple(EcgRef(f"record-{index}-{ecg}", modality[-1]) for ecg in range(ecgs)), meta={"kind": "diagnosis"})


class LatentCache:
    """A stand-in feature cache: record `record-i-*` holds latents whose mean marks its item's answer."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def __contains__(self, record: str) -> bool:
        return record in self.answers

    def signal(self, record: str) -> np.ndarray:
        rng = np.random.default_rng(abs(hash(record)) % 2**32)
        latents = rng.normal(scale=0.5, size=(20, SIGNAL_DIM)).astype(np.float32)
        latents[:, ANSWERS.index(self.answers[record])] += 2.0
        return latents

    def image(self, record: str, index: int = 0) -> np.ndarray:
        """12 lead-crop features whose spread marks the answer (the mean carries nothing)."""
        rng = np.random.default_rng(abs(hash(record)) % 2**32 + 1)
        views = rng.normal(scale=0.1, size=(12, IMAGE_DIM)).astype(np.float32)
        views[:, ANSWERS.index(self.answers[record])] *= 30.0
        return views


class RecordingCache(LatentCache):
    """Latents that carry nothing; the answer is only in the recording descriptors (as noise is)."""

    def signal(self, record: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(record.encode())).normal(size=(20, SIGNAL_DIM)).astype(np.float32)

    def recording(self, record: str, context: bool = False) -> np.ndarray:
        from heartcare.ecg.recording import WIDTH

        values = np.random.default_rng(zlib.crc32(record.encode()) + 2).normal(size=WIDTH).astype(np.float32)
        values[7 + ANSWERS.index(self.answers[record])] += 4.0
        return values


class LeadCache(LatentCache):
    """Pictures whose 12 crops differ only in which crop carries the mark: mean and spread are the same for every answer."""

    def image(self, record: str, index: int = 0) -> np.ndarray:
        views = np.random.default_rng(zlib.crc32(record.encode())).normal(scale=0.1, size=(12, IMAGE_DIM)).astype(np.float32)
        views[ANSWERS.index(self.answers[record]), 0] += 5.0
        return views


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("findings") / "lm")


def finding_model(backbone: Path, findings=(("closed_qa/diagnosis/diagnosis", ANSWERS), ("closed_qa/rhythm/", ("a", "b"))),
                  image_findings: bool = False, finding_recording: bool = False, image_finding_views: int = 0):
    from heartcare.model.build import build_model

    config = GptConfig(backbone=str(backbone), beat="unused", image_encoder="tiny" if image_findings else None,
                       image_feature_dim=IMAGE_DIM, signal_dim=SIGNAL_DIM, lora_rank=4, lora_alpha=8, max_length=1024,
                       findings=findings, image_findings=image_findings, finding_recording=finding_recording,
                       image_finding_views=image_finding_views)
    return build_model(config, load_encoders=False)


def test_a_confident_classifier_writes_its_answer_row_and_tokens_come_per_ecg_then_kind():
    projector = FindingProjector(4, 6, [3, 2])
    with torch.no_grad():
        for classifier in projector.classifiers:
            classifier.weight.zero_()
        projector.classifiers[0].bias.copy_(torch.tensor([0.0, 50.0, 0.0]))
        projector.classifiers[1].weight[0, 0] = 50.0  # kind 2 follows the first input: positive -> answer 0
    rows = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]])
    tokens = projector(rows)
    assert tokens.shape == (2 * 2, 6)
    assert torch.allclose(tokens[0], projector.answers[0][1], atol=1e-5) and torch.allclose(tokens[2], projector.answers[0][1], atol=1e-5)
    assert torch.allclose(tokens[1], projector.answers[1][0], atol=1e-5)
    assert torch.allclose(tokens[3], projector.answers[1][1], atol=1e-5)


def test_the_vocabulary_holds_closed_single_ecg_kinds_with_two_or_more_answers():
    items = [item(0, "normal ECG"), item(1, "atrial fibrillation"), item(2, "left bundle branch block", modality="I"),
             item(3, "normal ECG", dimension="rhythm"), item(4, "first degree AV block", task="comparison_qa", modality="C-SS", ecgs=2)]
    vocabulary = dict(finding_vocabulary(items))
    assert vocabulary == {"closed_qa/diagnosis/diagnosis": ("atrial fibrillation", "left bundle branch block", "normal ECG")}


def test_fitting_reads_the_answer_from_the_latents_and_writes_the_answers_words(tiny_backbone):
    train = [item(index, ANSWERS[index % 3]) for index in range(60)]
    valid = [item(100 + index, ANSWERS[index % 3]) for index in range(30)]
    pictures = [item(200 + index, ANSWERS[index % 3], modality="I") for index in range(60)]
    picture_tests = [item(300 + index, ANSWERS[index % 3], modality="I") for index in range(30)]
    cache = LatentCache({ref.record_id: one.choices[one.answer_index]
                         for one in (*train, *valid, *pictures, *picture_tests) for ref in one.ecgs})
    model = finding_model(tiny_backbone, findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),), image_findings=True)
    report = fit_findings(model, train + pictures, cache, target_norm=2.5, valid_items=valid + picture_tests)
    pictured = report["image_finding_projector"]["closed_qa/diagnosis/diagnosis"]
    assert pictured["train_items"] == 60 and pictured["valid_items"] == 30 and pictured["valid_accuracy"] >= 0.9
    entry = report["finding_projector"]["closed_qa/diagnosis/diagnosis"]
    assert entry["train_items"] == 60 and entry["valid_items"] == 30 and entry["valid_accuracy"] >= 0.9
    projector = model.finding_projector
    rows = torch.from_numpy(np.concatenate([finding_input(cache.signal(one.ecgs[0].record_id)) for one in valid]))
    belief = projector.probabilities(rows)[0].argmax(-1)
    assert belief.tolist() == [ANSWERS.index(one.choices[one.answer_index]) for one in valid]
    table = model.language_model.get_input_embeddings().weight
    for slot, answer in enumerate(ANSWERS):
        ids = model.tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
        mean = table[torch.tensor(ids)].detach().mean(0)
        row = projector.answers[0][slot].detach()
        assert abs(float(row.norm()) - 2.5) < 1e-4 and float(torch.cosine_similarity(row, mean, dim=0)) > 0.999


def test_the_recording_descriptors_reach_the_classifier_when_the_model_reads_them(tiny_backbone):
    """Noise lives in the recording, not in Beat's latents of the conditioned signal: only a model
    reading the descriptors can fit it."""
    train = [item(index, ANSWERS[index % 3]) for index in range(600)]
    valid = [item(1000 + index, ANSWERS[index % 3]) for index in range(60)]
    cache = RecordingCache({ref.record_id: one.choices[one.answer_index] for one in (*train, *valid) for ref in one.ecgs})
    accuracy = {}
    for reads in (True, False):
        model = finding_model(tiny_backbone, findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),), finding_recording=reads)
        entry = fit_findings(model, train, cache, target_norm=2.5, valid_items=valid)["finding_projector"]["closed_qa/diagnosis/diagnosis"]
        accuracy[reads] = entry["valid_accuracy"]
        assert model.finding_projector.input_mean.numel() == 2 * SIGNAL_DIM + (156 if reads else 0)
    assert accuracy[True] >= 0.9 and accuracy[False] <= 0.6, accuracy
    with pytest.raises(ConfigError, match="needs findings"):
        GptConfig(beat="unused", finding_recording=True)


def test_the_image_tokens_can_tell_which_lead_shows_a_change(tiny_backbone):
    """Mean and spread over the 12 crops lose which lead it was; the crops side by side keep it."""
    train = [item(index, ANSWERS[index % 3], modality=modality) for index in range(120) for modality in "SI"]
    valid = [item(500 + index, ANSWERS[index % 3], modality="I") for index in range(30)]
    cache = LeadCache({ref.record_id: one.choices[one.answer_index] for one in (*train, *valid) for ref in one.ecgs})
    accuracy = {}
    for views in (12, 0):
        model = finding_model(tiny_backbone, findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),), image_findings=True,
                              image_finding_views=views)
        fitted = fit_findings(model, train, cache, target_norm=2.5, valid_items=valid)
        accuracy[views] = fitted["image_finding_projector"]["closed_qa/diagnosis/diagnosis"]["valid_accuracy"]
        assert model.image_finding_projector.input_mean.numel() == (2 + views) * IMAGE_DIM
    assert accuracy[12] >= 0.9 and accuracy[0] <= 0.6, accuracy
    photo = finding_input(np.ones((1, IMAGE_DIM), np.float32), views=12)  # a photo read whole: one view, the rest zeros
    assert photo.shape == (1, 14 * IMAGE_DIM) and photo[0, 3 * IMAGE_DIM :].sum() == 0 and photo[0, 2 * IMAGE_DIM :].sum() == IMAGE_DIM


def test_a_model_reading_the_recording_needs_its_descriptors_in_the_cache():
    """`covers` (which items a cache can serve) must ask for the descriptors, or an old cache would
    fail mid-run instead of leaving the item out."""
    from heartcare.model.examples import needed_keys

    config = GptConfig(beat="unused", findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),), finding_recording=True)
    closed = item(1, ANSWERS[0])
    prediction = BenchItem(id="p", task="signal_prediction", dimension="rhythm", modality="S", question="?", answer="<prediction>",
                           ecgs=(EcgRef("record-9", "S"),), meta={})
    assert ("record-1-0", "recording/record-1-0") in needed_keys(closed, config)
    assert ("record-9", "context_recording/record-9") in needed_keys(prediction, config)
    assert not any("recording" in key for _, key in needed_keys(closed, config.with_changes(finding_recording=False)))


def test_finding_placeholders_close_each_signal_block_and_take_the_projected_tokens(tiny_backbone):
    from heartcare.model.gpt import FeatureCountError

    model = finding_model(tiny_backbone)
    rng = np.random.default_rng(0)
    ecgs = [EcgFeatures(signal=rng.normal(size=(5, SIGNAL_DIM)).astype(np.float32),
                        finding=rng.normal(size=(1, 2 * SIGNAL_DIM)).astype(np.float32)) for _ in range(2)]
    encoded = encode(model.tokenizer, ecgs, "Do they differ?", "yes", "You read ECGs.", 2, 1024,
                     finding_tokens=model.config.finding_tokens)
    text = model.tokenizer.decode(encoded.input_ids)
    assert text.count(FINDING) == 2 * 2 and text.count(FINDING * 2 + "<signal_end>") == 2
    batch = collate([encoded], model.tokenizer.pad_token_id)
    embedded = model.embed(batch["input_ids"], batch["signal"], None, batch["finding"])
    slots = batch["input_ids"] == model.token_ids[FINDING]
    assert torch.allclose(embedded[slots], model.finding_projector(batch["finding"]), atol=1e-6)
    with pytest.raises(FeatureCountError, match="placeholders"):
        model.embed(batch["input_ids"], batch["signal"], None, batch["finding"][:1])
    with pytest.raises(FeatureCountError, match="no features"):
        model.embed(batch["input_ids"], batch["signal"], None, None)


def test_a_picture_gets_its_finding_tokens_at_the_end_of_its_image_block(tiny_backbone):
    from heartcare.model.chat import IMAGE_FINDING

    model = finding_model(tiny_backbone, image_findings=True)
    rng = np.random.default_rng(2)
    picture = EcgFeatures(image=rng.normal(size=(12, IMAGE_DIM)).astype(np.float32),
                          image_finding=rng.normal(size=(1, 2 * IMAGE_DIM)).astype(np.float32))
    encoded = encode(model.tokenizer, [picture], "Which?", "yes", "You read ECGs.", 2, 1024, finding_tokens=2)
    text = model.tokenizer.decode(encoded.input_ids)
    assert text.count(IMAGE_FINDING) == 2 and IMAGE_FINDING * 2 + "<image_end>" in text and FINDING not in text.replace(IMAGE_FINDING, "")
    batch = collate([encoded], model.tokenizer.pad_token_id)
    embedded = model.embed_batch(batch)
    slots = batch["input_ids"] == model.token_ids[IMAGE_FINDING]
    assert torch.allclose(embedded[slots], model.image_finding_projector(batch["image_finding"]), atol=1e-6)


def test_the_papers_model_keeps_its_vocabulary(tiny_backbone):
    from heartcare.model.build import build_model

    plain = build_model(GptConfig(backbone=str(tiny_backbone), beat="unused", image_encoder=None, signal_dim=SIGNAL_DIM,
                                  lora_rank=4, lora_alpha=8, max_length=1024), load_encoders=False)
    assert FINDING not in plain.tokenizer.get_vocab() and plain.finding_projector is None
    assert len(finding_model(tiny_backbone).tokenizer) == len(plain.tokenizer) + 1


def test_finding_tokens_need_a_signal_stream_and_two_answers_per_kind():
    with pytest.raises(ConfigError, match="needs a beat"):
        GptConfig(beat=None, image_encoder="tiny", findings=(("k", ("a", "b")),))
    with pytest.raises(ConfigError, match="image finding tokens need"):
        GptConfig(beat="b", image_encoder=None, findings=(("k", ("a", "b")),), image_findings=True)
    with pytest.raises(ConfigError, match="at least 2 answers"):
        GptConfig(beat="b", findings=(("k", ("a",)),))


def test_a_finding_model_saves_and_loads_to_the_same_logits(tiny_backbone, tmp_path):
    from heartcare.model.checkpoint import from_pretrained

    model = finding_model(tiny_backbone)
    with torch.no_grad():
        for parameter in model.finding_projector.parameters():
            parameter.add_(torch.randn_like(parameter))
    rng = np.random.default_rng(1)
    ecg = EcgFeatures(signal=rng.normal(size=(5, SIGNAL_DIM)).astype(np.float32), finding=rng.normal(size=(1, 2 * SIGNAL_DIM)).astype(np.float32))
    batch = collate([encode(model.tokenizer, [ecg], "Which?", None, "You read ECGs.", 2, 1024, finding_tokens=2)], model.tokenizer.pad_token_id)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = from_pretrained(tmp_path / "ckpt", load_encoders=False)
    assert loaded.config.findings == model.config.findings
    assert torch.equal(model.logits(batch), loaded.logits(batch))
    changed = dict(batch, finding=batch["finding"] + 1.0)  # the tokens are read: other latents, other logits
    assert not torch.allclose(model.logits(batch), model.logits(changed), atol=1e-4)


def test_training_with_finding_tokens_fits_them_first_then_trains_them(built_dataset, gpt_parts, tmp_path):
    from heartcare.agent.vocabulary import describe_code
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import from_pretrained, trained_state
    from heartcare.train.gpt_run import train_gpt

    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    run = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "warmup", model_changes=changes,
                    progress=False, finding_tokens=True)
    document = json.loads((run.out / "config.json").read_text())
    kinds = [kind for kind, _ in document["model"]["findings"]]
    assert "closed_qa/diagnosis/diagnosis" in kinds
    fitted = document["calibration"]["finding_projector"]
    assert fitted["records"] > 0 and fitted["closed_qa/diagnosis/diagnosis"]["train_items"] > 0
    assert document["model"]["image_findings"] and document["calibration"]["image_finding_projector"]["records"] > 0
    assert document["model"]["finding_recording"]  # the cache holds the recording descriptors, so the tokens read them
    assert document["model"]["image_finding_views"] == 12  # lead crops: the image tokens read them side by side
    assert document["model"]["comparison_findings"]  # the build has rhythm items and measured rates: pairs are compared
    assert fitted["rate"]["train_records"] > 1 and document["calibration"]["image_finding_projector"]["rate"]["train_records"] > 1
    named = dict(document["model"]["named_findings"])  # train pairs ask which ECG shows a finding: a third comparison token
    assert named and all(words == describe_code(code) for code, words in named.items())
    assert fitted["presence"]["findings"] == len(named) and fitted["presence"]["train_records"] > 1
    trained = from_pretrained(run.out, load_encoders=False)
    fresh = build_model(trained.config, load_encoders=False)
    names = [name for name in trained_state(trained)["projectors"] if name.startswith("finding_projector.")]
    assert any(not torch.equal(trained_state(fresh)["projectors"][name], trained_state(trained)["projectors"][name]) for name in names)
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.examples import encode_item
    from heartcare.model.feature_cache import FeatureCache

    cache = FeatureCache(gpt_parts["features"])
    pair = next(one for one in BenchDataset(built_dataset).items("train") if one.modality == "C-SS")
    encoded = encode_item(pair, cache, trained.config, trained.tokenizer, with_answer=True)
    assert encoded.input_ids.count(trained.token_ids[FINDING]) == 2 * len(kinds)  # each ECG of a pair brings its own
    assert len(encoded.finding) == 2 and not np.array_equal(encoded.finding[0], encoded.finding[1])
    assert encoded.input_ids.count(trained.token_ids[COMPARISON]) == 3 and encoded.comparison == [(("finding", 0), ("finding", 1))]
    picture = next(one for one in BenchDataset(built_dataset).items("train") if one.modality == "I" and one.task == "closed_qa")
    encoded = encode_item(picture, cache, trained.config, trained.tokenizer, with_answer=True)
    assert len(encoded.image_finding) == 1 and not encoded.finding
    with pytest.raises(ConfigError, match="from scratch"):
        train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path / "joint", init=run.out,
                  progress=False, finding_tokens=True)


    # the `findings:` reference answers with the classifier alone: make it believe one answer, bench it
    diagnosis = kinds.index("closed_qa/diagnosis/diagnosis")
    slot, favourite = 0, document["model"]["findings"][diagnosis][1][0]
    with torch.no_grad():
        for projector in (trained.finding_projector, trained.image_finding_projector):
            classifier = projector.classifiers[diagnosis]
            classifier.weight.zero_()
            classifier.bias.fill_(-20.0)
            classifier.bias[slot] = 20.0
    trained.save_pretrained(tmp_path / "believer", extra={"features": str(gpt_parts["features"])})
    from heartcare.bench.runner import BenchConfig, run_bench

    run_bench(BenchConfig(data=built_dataset, model=f"findings:{tmp_path / 'believer'}", out=tmp_path / "bench",
                          tasks=["closed-S-diagnosis", "closed-I-diagnosis"], floors=False, progress=False))
    answered = [json.loads(line) for line in (tmp_path / "bench" / "predictions.jsonl").read_text().splitlines()]
    assert {row["task"] for row in answered} == {"closed-S-diagnosis", "closed-I-diagnosis"}
    assert all(row.get("not_applicable") is None for row in answered)
    items = {one.id: one for one in BenchDataset(built_dataset).items("test")}
    favoured = [row for row in answered if favourite in items[row["id"]].choices]
    assert {row["task"] for row in favoured} == {"closed-S-diagnosis", "closed-I-diagnosis"}
    assert all(row["output"].endswith(favourite) for row in favoured), favoured

    # ... and the same-rhythm pairs from the comparison tokens: one rhythm believed for every ECG -> "Yes" throughout
    rhythm = kinds.index(RHYTHM_KIND)
    with torch.no_grad():
        for projector in (trained.finding_projector, trained.image_finding_projector):
            projector.classifiers[rhythm].weight.zero_()
            projector.classifiers[rhythm].bias.fill_(-20.0)
            projector.classifiers[rhythm].bias[0] = 20.0
            projector.presence.weight.zero_()  # and every named finding believed shown in every ECG
            projector.presence.bias.fill_(20.0)
    trained.save_pretrained(tmp_path / "same", extra={"features": str(gpt_parts["features"])})
    run_bench(BenchConfig(data=built_dataset, model=f"findings:{tmp_path / 'same'}", out=tmp_path / "bench-pairs",
                          tasks=["comparison-SS-irrelevant", "comparison-SI-irrelevant"], floors=False, progress=False))
    answered = [json.loads(line) for line in (tmp_path / "bench-pairs" / "predictions.jsonl").read_text().splitlines()]
    kind_of = {row["id"]: items[row["id"]].meta["kind"] for row in answered}
    same = [row for row in answered if kind_of[row["id"]] == "same_rhythm"]
    assert same and all(row["output"].endswith("Yes") for row in same), same
    which = [row for row in answered if kind_of[row["id"]] == "which_shows"]
    known = [row for row in which if items[row["id"]].meta["finding"] in named]  # a finding no train pair named gets no answer
    assert known and all(row["output"].endswith("both ECGs") for row in known), known
    assert all(row.get("not_applicable") for row in which if row not in known)


def test_asking_about_an_ecg_file_brings_its_finding_tokens(tiny_backbone, gpt_parts):
    from heartcare.model.ask import Question, ask, ecg_features, prepare
    from heartcare.model.build import build_model
    from heartcare.sim.simulate import SimulationSpec, simulate

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder=None, signal_dim=32,
                       lora_rank=4, lora_alpha=8, max_length=1024, signal_pool=5, findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),))
    model = build_model(config, load_encoders=True)
    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=1).ecg
    features = ecg_features(model, ecg, None)
    assert features.finding.shape == (1, 64)
    from heartcare.ecg.recording import recording_features

    reading = build_model(config.with_changes(finding_recording=True), load_encoders=True)
    row = ecg_features(reading, ecg, None).finding
    assert row.shape == (1, 64 + 156) and np.array_equal(row[0, :64], features.finding[0])
    assert np.allclose(row[0, 64:], recording_features(ecg))
    encoded = prepare(model, Question("Which finding?", [(ecg, None)]))
    assert encoded.input_ids.count(model.token_ids[FINDING]) == 1
    (answer,) = ask(model, [Question("Which finding?", [(ecg, None)], max_new_tokens=3)])
    assert isinstance(answer.text, str)


def test_asking_about_a_picture_brings_its_image_finding_tokens(tiny_backbone, gpt_parts):
    from heartcare.model.ask import Question, ecg_features, prepare
    from heartcare.model.build import build_model
    from heartcare.model.chat import IMAGE_FINDING

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder="tiny", image_feature_dim=16,
                       signal_dim=32, lora_rank=4, lora_alpha=8, max_length=1024, signal_pool=5,
                       findings=(("closed_qa/diagnosis/diagnosis", ANSWERS),), image_findings=True)
    model = build_model(config, load_encoders=True)
    photo = np.random.default_rng(3).integers(0, 255, size=(120, 300, 3), dtype=np.uint8)
    features = ecg_features(model, None, photo)
    assert features.image_finding.shape == (1, 2 * 16) and features.finding is None
    encoded = prepare(model, Question("Which finding?", [(None, photo)]))
    assert encoded.input_ids.count(model.token_ids[IMAGE_FINDING]) == 1
    side_by_side = build_model(config.with_changes(image_finding_views=12), load_encoders=True)
    row = ecg_features(side_by_side, None, photo).image_finding  # a photo read whole: one view, eleven empty slots
    assert row.shape == (1, 14 * 16) and np.array_equal(row[0, : 2 * 16], features.image_finding[0])
    assert np.any(row[0, 2 * 16 : 3 * 16]) and not np.any(row[0, 3 * 16 :])


def test_an_answer_says_what_its_finding_tokens_told_the_model(tiny_backbone, gpt_parts):
    from heartcare.model.ask import Question, ask
    from heartcare.model.build import build_model
    from heartcare.sim.simulate import SimulationSpec, simulate

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder=None, signal_dim=32,
                       lora_rank=4, lora_alpha=8, max_length=1024, signal_pool=5,
                       findings=(("closed_qa/diagnosis/diagnosis", ANSWERS), (RHYTHM_KIND, ("atrial fibrillation", "sinus rhythm"))),
                       comparison_findings=True)
    model = build_model(config, load_encoders=True)
    with torch.no_grad():
        classifier = model.finding_projector.classifiers[0]
        classifier.weight.zero_()
        classifier.bias.copy_(torch.tensor([0.0, 3.0, 1.0]))
        model.finding_projector.classifiers[1].weight.zero_()
        model.finding_projector.classifiers[1].bias.copy_(torch.tensor([0.0, 4.0]))  # sinus rhythm, 98%
    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=1).ecg
    (answer,) = ask(model, [Question("Do they differ?", [(ecg, None), (ecg, None)], max_new_tokens=2)])
    readings = answer.extra["findings"]
    assert len(readings) == 2  # one per ECG
    believed = readings[0]["closed_qa/diagnosis/diagnosis"]
    assert list(believed) == ["left bundle branch block", "normal ECG", "atrial fibrillation"]
    assert sum(believed.values()) == pytest.approx(1.0, abs=1e-3) and believed["left bundle branch block"] > 0.8
    compared = answer.extra["comparison"]  # the same ECG twice: one rate, so neither is faster; the same rhythm, surely
    assert compared["first_faster"] == pytest.approx(0.5) and compared["rates_bpm"][0] == compared["rates_bpm"][1]
    assert compared["same_rhythm"] == pytest.approx(0.982**2 + 0.018**2, abs=2e-3)


def test_a_stage_can_hold_the_fitted_finding_readers_while_the_words_train(built_dataset, gpt_parts, tmp_path):
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.train.gpt_run import train_gpt

    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    warmup = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "warmup", model_changes=changes,
                       progress=False, finding_tokens=True, frozen_parts=("finding_readers",))
    start = from_pretrained(warmup.out, load_encoders=False)
    readers = set(map(id, start.part_parameters("finding_readers")))
    writers = set(map(id, start.part_parameters("finding_projector") + start.part_parameters("image_finding_projector")))
    everything = {id(parameter) for name in ("finding_projector", "image_finding_projector")
                  for parameter in getattr(start, name).parameters()}
    assert readers and writers and not readers & writers and readers | writers == everything

    def state(model) -> dict[str, torch.Tensor]:
        return {name: tensor.detach().clone() for name, tensor in model.named_parameters()
                if name.startswith(("finding_projector.", "image_finding_projector.")) or "lora_" in name}

    def read_by_readers(name: str) -> bool:
        return ".classifiers." in name or ".rate." in name or ".presence." in name

    before = state(start)
    held = train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path / "held", init=warmup.out,
                     progress=False, frozen_parts=("finding_readers",))
    free = train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path / "free", init=warmup.out, progress=False)
    after_held, after_free = (state(from_pretrained(run.out, load_encoders=False)) for run in (held, free))
    kept = [name for name in before if read_by_readers(name)]
    assert kept and all(torch.equal(before[name], after_held[name]) for name in kept)  # held where the fit left them
    assert any(not torch.equal(before[name], after_free[name]) for name in kept)  # ... which a free stage does not
    moved = [name for name in before if not read_by_readers(name) and not torch.equal(before[name], after_held[name])]
    assert any(".answers." in name for name in moved) and any("lora_" in name for name in moved)  # the words and LoRA still train
    with pytest.raises(ConfigError, match="resume with the original stage"):  # a resume must hold the same parts
        train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path / "held", init=warmup.out, progress=False,
                  resume=True, stage_changes={"max_steps": 8})
    with pytest.raises(ConfigError, match="does not train"):
        train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path / "typo", init=warmup.out, progress=False,
                  frozen_parts=("finding_reader",))
