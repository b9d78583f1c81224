"""Finding words: the finding readers' beliefs written as words after each ECG of the user turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.errors import ConfigError, HeartcareError  # noqa: E402
from heartcare.model.chat import EcgFeatures, encode  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.finding_words import FindingWords, kind_label, reading_text  # noqa: E402

DIAGNOSES = ("atrial fibrillation", "left bundle branch block", "normal ECG")
RHYTHMS = ("sinus bradycardia", "sinus rhythm", "sinus tachycardia")
FINDINGS = (("closed_qa/diagnosis/diagnosis", DIAGNOSES), ("closed_qa/rhythm/rhythm", RHYTHMS))
SIGNAL_DIM, IMAGE_DIM = 8, 6


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("words") / "lm")


def words_model(backbone: Path):
    """A model whose readers follow the first input: signal rows say diagnosis by sign, pictures say it by the second input."""
    from heartcare.model.build import build_model

    config = GptConfig(backbone=str(backbone), beat="unused", image_encoder="tiny", image_feature_dim=IMAGE_DIM,
                       signal_dim=SIGNAL_DIM, lora_rank=4, lora_alpha=8, max_length=1024, findings=FINDINGS,
                       image_findings=True, finding_words=True)
    model = build_model(config, load_encoders=False)
    with torch.no_grad():
        for projector, column in ((model.finding_projector, 0), (model.image_finding_projector, 1)):
            projector.input_mean.zero_()
            projector.input_scale.fill_(1.0)
            diagnosis, rhythm = projector.classifiers
            for classifier in (diagnosis, rhythm):
                classifier.weight.zero_()
                classifier.bias.zero_()
            diagnosis.weight[0, column], diagnosis.weight[1, column] = 20.0, -20.0  # positive: AF, negative: LBBB
            rhythm.bias.copy_(torch.tensor([1.0, 0.0, 1.4]))  # unsure: tachycardia, then bradycardia
    return model


def signal_ecg(sign: float) -> EcgFeatures:
    finding = np.zeros((1, 2 * SIGNAL_DIM), dtype=np.float32)
    finding[0, 0] = sign
    return EcgFeatures(signal=np.zeros((3, SIGNAL_DIM), dtype=np.float32), finding=finding)


def picture(sign: float) -> EcgFeatures:
    finding = np.zeros((1, 2 * IMAGE_DIM), dtype=np.float32)
    finding[0, 1] = sign
    return EcgFeatures(image=np.zeros((12, IMAGE_DIM), dtype=np.float32), image_finding=finding)


def test_a_reading_lists_each_kinds_most_believed_answers_until_they_hold_most_of_the_belief():
    beliefs = [np.array([0.02, 0.95, 0.03]), np.array([0.5, 0.1, 0.4])]
    assert reading_text(FINDINGS, beliefs) == ("Reading: diagnosis: left bundle branch block; "
                                               "rhythm: sinus bradycardia or sinus tachycardia.")
    spread = [np.array([0.3, 0.3, 0.4]), np.array([0.25, 0.3, 0.45])]  # never more than three answers, most believed first
    assert reading_text(FINDINGS, spread) == ("Reading: diagnosis: normal ECG or atrial fibrillation or left bundle branch block; "
                                              "rhythm: sinus tachycardia or sinus rhythm or sinus bradycardia.")
    assert kind_label("closed_qa/misc/infarct_stage") == "infarct stage"


def test_each_ecg_gets_what_its_own_readers_read_after_its_block(tiny_backbone):
    model = words_model(tiny_backbone)
    words = FindingWords(model)
    pair = words([signal_ecg(1.0), picture(-1.0)])
    assert pair[0].reading.startswith("Reading: diagnosis: atrial fibrillation;")  # the signal readers, by the first input
    assert pair[1].reading.startswith("Reading: diagnosis: left bundle branch block;")  # the picture's own readers
    assert all(ecg.reading.endswith("rhythm: sinus tachycardia or sinus bradycardia.") for ecg in pair)
    swapped = words([picture(-1.0), signal_ecg(1.0)])
    assert [ecg.reading for ecg in swapped] == [pair[1].reading, pair[0].reading]
    encoded = encode(model.tokenizer, pair, "Which shows atrial fibrillation?", None, "You read ECGs.", 2, 1024,
                     finding_tokens=model.config.finding_tokens)
    text = model.tokenizer.decode(encoded.input_ids)
    first, second = text.index(pair[0].reading), text.index(pair[1].reading)
    assert text.index("<signal_end>") < first < text.index("ECG 2:") < text.index("<image_end>") < second
    assert second < text.index("Which shows atrial fibrillation?")
    assert words([EcgFeatures(signal=np.zeros((3, SIGNAL_DIM), dtype=np.float32))])[0].reading is None  # no row, no words


def test_readings_are_remembered_until_the_readers_change(tiny_backbone):
    model = words_model(tiny_backbone)
    words = FindingWords(model)
    before = words([signal_ecg(1.0)])[0].reading
    with torch.no_grad():
        model.finding_projector.classifiers[0].weight[0, 0] = -20.0
    assert words([signal_ecg(1.0)])[0].reading == before  # remembered: a stage must hold its readers
    words.forget()
    assert words([signal_ecg(1.0)])[0].reading != before


def test_finding_words_need_findings_and_encoding_needs_the_reader(tiny_backbone, built_dataset, gpt_parts):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.examples import encode_item
    from heartcare.model.feature_cache import FeatureCache

    with pytest.raises(ConfigError, match="needs findings"):
        GptConfig(backbone="default", beat="unused", finding_words=True)
    model = words_model(tiny_backbone)
    item = next(item for item in BenchDataset(built_dataset).items("test") if item.ecgs and item.ecgs[0].modality == "S")
    with pytest.raises(HeartcareError, match="needs its reader"):
        encode_item(item, FeatureCache(gpt_parts["features"]), model.config, model.tokenizer, with_answer=False)


def test_a_stage_with_finding_words_reads_them_with_the_fitted_readers_and_the_bench_reads_them_too(
        built_dataset, gpt_parts, tmp_path, monkeypatch):
    import heartcare.model.examples as examples
    import heartcare.model.findings as findings
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.examples import encode_item
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.train.gpt_run import train_gpt

    # The tiny tokenizer is byte-level: a reading of every kind takes hundreds of its tokens.
    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32, "max_length": 4096}
    with pytest.raises(ConfigError, match="--freeze finding_readers"):
        train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "free", model_changes=changes,
                  progress=False, finding_tokens=True, finding_words=True)
    with pytest.raises(ConfigError, match="--finding-tokens"):
        train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "none", model_changes=changes,
                  progress=False, finding_words=True, frozen_parts=("finding_readers",))
    seen: list = []  # every encoded item's ECGs, and "fitted" where the readers were fitted
    encode, fit = examples.encode, findings.fit_findings

    def encode_spy(tokenizer, ecgs, *arguments, **options):
        seen.append(tuple(ecgs))
        return encode(tokenizer, ecgs, *arguments, **options)

    def fit_spy(*arguments, **options):
        report = fit(*arguments, **options)
        seen.append("fitted")
        return report

    monkeypatch.setattr(examples, "encode", encode_spy)
    monkeypatch.setattr(findings, "fit_findings", fit_spy)
    run = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "words", model_changes=changes,
                    progress=False, finding_tokens=True, finding_words=True, frozen_parts=("finding_readers",))
    monkeypatch.undo()
    model = from_pretrained(run.out, load_encoders=False)
    assert model.config.finding_words
    fitted_at = seen.index("fitted")
    assert fitted_at > 0  # calibration encoded items before the fit: with the zeroed readers' words
    fresh = FindingWords(model)
    read = [ecg for ecgs in seen[fitted_at + 1:] for ecg in ecgs if ecg.reading is not None]
    assert read and all(ecg.reading == fresh([replace_reading(ecg)])[0].reading for ecg in read)  # the fitted readers' words
    assert len({ecg.reading for ecg in read}) > 1  # fitted readers tell ECGs apart; zeroed ones would say the same of all
    from heartcare.bench.runner import BenchConfig, run_bench

    run_bench(BenchConfig(data=built_dataset, model=f"heartcare-gpt:{run.out}", out=tmp_path / "bench", limit=2,
                          tasks=["closed-S-diagnosis", "closed-I-diagnosis"], floors=False, progress=False))
    tasks = json.loads((tmp_path / "bench" / "results.json").read_text())["tasks"]
    for name, block in tasks.items():  # the adapter writes the readings: every item answered and scored by its options
        assert block["n_failed"] == 0 and block["n_scored"] == block["n"] > 0, name
        assert "loglik_accuracy" in block["metrics"], name
    item = next(item for item in BenchDataset(built_dataset).items("test") if item.task == "closed_qa")
    prompt = model.tokenizer.decode(encode_item(item, FeatureCache(gpt_parts["features"]), model.config, model.tokenizer,
                                                with_answer=False, reader=fresh).input_ids)
    assert "Reading: " in prompt


def replace_reading(ecg: EcgFeatures) -> EcgFeatures:
    from dataclasses import replace

    return replace(ecg, reading=None)


def test_asking_about_an_ecg_file_writes_its_reading_into_the_prompt(tiny_backbone, gpt_parts):
    from heartcare.model.ask import Question, prepare
    from heartcare.model.build import build_model
    from heartcare.sim.simulate import SimulationSpec, simulate

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder=None, signal_dim=32,
                       lora_rank=4, lora_alpha=8, max_length=1024, signal_pool=5, findings=FINDINGS, finding_words=True)
    model = build_model(config, load_encoders=True)
    with torch.no_grad():
        model.finding_projector.classifiers[1].bias.copy_(torch.tensor([0.0, 9.0, 0.0]))
    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=1).ecg
    text = model.tokenizer.decode(prepare(model, Question("What rhythm?", [(ecg, None)])).input_ids)
    assert "rhythm: sinus rhythm." in text and text.index("<signal_end>") < text.index("Reading: ") < text.index("What rhythm?")


def test_words_say_what_the_tokens_say_over_the_offered_answers_and_at_their_temperature(tiny_backbone):
    from heartcare.model.offered_answers import offered_answers

    model = words_model(tiny_backbone)
    model.config = model.config.with_changes(finding_choices=True)
    question = "Which rhythm? Options: A: sinus rhythm; B: sinus bradycardia; C: atrial flutter; D: sinus arrhythmia."
    offered = offered_answers(question, model.config.findings)
    words = FindingWords(model)
    unsure = words([signal_ecg(1.0)])[0].reading  # no question: every answer, as before
    assert unsure.endswith("rhythm: sinus tachycardia or sinus bradycardia.")
    offered_reading = words([signal_ecg(1.0)], offered)[0].reading
    # tachycardia is not offered: the words lead with the offered favourite, as the token believes
    assert offered_reading.endswith("rhythm: sinus bradycardia or sinus rhythm.")
    assert offered_reading.startswith("Reading: diagnosis: atrial fibrillation;")  # a kind the question does not name keeps its belief
    model.config = model.config.with_changes(finding_temperature=0.0)
    cold = FindingWords(model)([signal_ecg(1.0)], offered)[0].reading
    assert cold == "Reading: diagnosis: atrial fibrillation; rhythm: sinus bradycardia."  # one answer per kind at T 0
    tokens = model.finding_projector.beliefs(torch.from_numpy(signal_ecg(1.0).finding), torch.from_numpy(offered)[None], 0.0)
    assert RHYTHMS[int(tokens[1][0].argmax())] == "sinus bradycardia"  # the token beside the words names the same


def test_a_model_without_choices_reads_every_answer_whatever_the_question_offers(tiny_backbone):
    from heartcare.model.offered_answers import offered_answers

    model = words_model(tiny_backbone)  # finding_choices off
    offered = offered_answers("Options: A: sinus rhythm; B: sinus bradycardia.", model.config.findings)
    words = FindingWords(model)
    assert words([signal_ecg(1.0)], offered)[0].reading == words([signal_ecg(1.0)])[0].reading


def test_readings_are_remembered_per_offer_and_encoding_passes_the_question_offer(tiny_backbone, built_dataset, gpt_parts):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.examples import encode_item
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.offered_answers import offered_answers

    model = words_model(tiny_backbone)
    model.config = model.config.with_changes(finding_choices=True)
    words = FindingWords(model)
    first = words([signal_ecg(1.0)], offered_answers("Options: A: sinus rhythm; B: sinus bradycardia.", model.config.findings))
    second = words([signal_ecg(1.0)], offered_answers("Options: A: sinus rhythm; B: sinus tachycardia.", model.config.findings))
    assert first[0].reading.endswith("rhythm: sinus bradycardia or sinus rhythm.")
    assert second[0].reading.endswith("rhythm: sinus tachycardia.")  # not the first offer's, remembered (0.80 of the belief)
    seen = []

    class Spy(FindingWords):  # the tiny model cannot read the built dataset's features: only the handover matters
        def __call__(self, features, offered=None):
            seen.append(offered)
            return features

    item = next(item for item in BenchDataset(built_dataset).items("test") if item.task == "closed_qa")
    encode_item(item, FeatureCache(gpt_parts["features"]), model.config, model.tokenizer, with_answer=False, reader=Spy(model))
    assert seen and seen[0] is not None
    assert np.array_equal(seen[0], offered_answers(item.question, model.config.findings))


def test_ask_writes_the_words_over_the_questions_offer(tiny_backbone):
    from heartcare.model.ask import Question, prepare

    model = words_model(tiny_backbone)
    model.config = model.config.with_changes(finding_choices=True, finding_temperature=0.0)
    question = Question("Which rhythm? Options: A: sinus rhythm; B: sinus bradycardia.", [(None, None)])
    encoded = prepare(model, question, features_of=lambda model, ecg, picture: signal_ecg(1.0))
    text = model.tokenizer.decode(encoded.input_ids)
    assert "rhythm: sinus bradycardia." in text and "sinus tachycardia" not in text.split("Which rhythm?")[0]
