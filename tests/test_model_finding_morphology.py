"""Finding readers that also read the median beats' morphology (`--finding-morphology`)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.bench.items import BenchItem, EcgRef  # noqa: E402
from heartcare.ecg.morphology import WIDTH as MORPHOLOGY_WIDTH  # noqa: E402
from heartcare.ecg.recording import WIDTH as RECORDING_WIDTH  # noqa: E402
from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model.config import GptConfig  # noqa: E402
from heartcare.model.findings import fit_findings  # noqa: E402

ANSWERS = ("Q waves present", "high QRS voltage", "inverted T-waves")
SIGNAL_DIM = 8
KIND = "closed_qa/waveform/waveform"


def item(index: int, answer: str) -> BenchItem:
    choices = tuple(sorted(ANSWERS))
    return BenchItem(id=f"item-{index}", task="closed_qa", dimension="waveform", modality="S", question="Which waveform finding?",
                     answer=answer, choices=choices, answer_index=choices.index(answer), ecgs=(EcgRef(f"record-{index}", "S"),),
                     meta={"kind": "waveform"})


class MorphologyCache:
    """Latents and recording descriptors that carry nothing; the answer is only in the morphology (as a
    T-wave polarity is: Beat's conditioned latents and the whole tracing's range do not say which wave)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def __contains__(self, record: str) -> bool:
        return record in self.answers

    def _noise(self, record: str, salt: int, size) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(record.encode()) + salt).normal(size=size).astype(np.float32)

    def signal(self, record: str) -> np.ndarray:
        return self._noise(record, 0, (20, SIGNAL_DIM))

    def recording(self, record: str, context: bool = False) -> np.ndarray:
        return self._noise(record, 1, RECORDING_WIDTH)

    def morphology(self, record: str, context: bool = False) -> np.ndarray:
        values = self._noise(record, 2, MORPHOLOGY_WIDTH)
        values[-8 + ANSWERS.index(self.answers[record])] += 4.0  # one criterion column per answer
        return values


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from heartcare.model.backbone import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("morphology") / "lm")


def test_the_morphology_reaches_the_classifier_only_when_the_model_reads_it(tiny_backbone):
    from heartcare.model.build import build_model

    train = [item(index, ANSWERS[index % 3]) for index in range(600)]
    valid = [item(1000 + index, ANSWERS[index % 3]) for index in range(60)]
    cache = MorphologyCache({one.ecgs[0].record_id: one.answer for one in (*train, *valid)})
    accuracy = {}
    for reads in (True, False):
        config = GptConfig(backbone=str(tiny_backbone), beat="unused", image_encoder=None, signal_dim=SIGNAL_DIM, lora_rank=4,
                           lora_alpha=8, max_length=1024, findings=((KIND, ANSWERS),), finding_recording=True,
                           finding_morphology=reads)
        model = build_model(config, load_encoders=False)
        accuracy[reads] = fit_findings(model, train, cache, target_norm=2.5, valid_items=valid)["finding_projector"][KIND]["valid_accuracy"]
        assert model.finding_projector.input_mean.numel() == 2 * SIGNAL_DIM + RECORDING_WIDTH + MORPHOLOGY_WIDTH * reads
    assert accuracy[True] >= 0.9 and accuracy[False] <= 0.6, accuracy
    with pytest.raises(ConfigError, match="needs findings"):
        GptConfig(beat="unused", finding_morphology=True)


def test_a_model_reading_the_morphology_needs_it_in_the_cache():
    from heartcare.model.examples import needed_keys

    config = GptConfig(beat="unused", findings=((KIND, ANSWERS),), finding_morphology=True)
    prediction = BenchItem(id="p", task="signal_prediction", dimension="rhythm", modality="S", question="?", answer="<prediction>",
                           ecgs=(EcgRef("record-9", "S"),), meta={})
    assert ("record-1", "morphology/record-1") in needed_keys(item(1, ANSWERS[0]), config)
    assert ("record-9", "context_morphology/record-9") in needed_keys(prediction, config)
    assert not any("morphology" in key for _, key in needed_keys(item(1, ANSWERS[0]), config.with_changes(finding_morphology=False)))


def test_the_feature_cache_stores_each_records_morphology(built_dataset, gpt_parts):
    from heartcare.agent.writer import load_signal
    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.morphology import morphology_features
    from heartcare.ecg.record import Ecg
    from heartcare.model.feature_cache import FeatureCache

    cache = FeatureCache(gpt_parts["features"])
    assert cache.holds_morphology
    dataset = BenchDataset(built_dataset)
    for record_id in list(dataset.records)[:3]:
        row = dataset.record(record_id)
        expected = morphology_features(Ecg(load_signal(built_dataset, row), float(row["signal_fs"])))
        np.testing.assert_allclose(cache.morphology(record_id), expected, rtol=2e-3, atol=2e-3)  # stored as float16


def test_training_with_finding_morphology_widens_the_signal_readers(built_dataset, gpt_parts, tmp_path):
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.train.gpt_run import train_gpt

    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    run = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "warmup", model_changes=changes,
                    progress=False, finding_tokens=True, finding_morphology=True)
    assert json.loads((run.out / "config.json").read_text())["model"]["finding_morphology"]
    trained = from_pretrained(run.out, load_encoders=False)
    assert trained.finding_projector.input_mean.numel() == 2 * 32 + RECORDING_WIDTH + MORPHOLOGY_WIDTH
    with pytest.raises(ConfigError, match="--finding-tokens"):
        train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", tmp_path / "bare", model_changes=changes,
                  progress=False, finding_morphology=True)


def test_asking_about_an_ecg_file_measures_its_morphology(tiny_backbone, gpt_parts):
    from heartcare.ecg.morphology import morphology_features
    from heartcare.ecg.recording import recording_features
    from heartcare.model.ask import ecg_features
    from heartcare.model.build import build_model
    from heartcare.sim.simulate import SimulationSpec, simulate

    config = GptConfig(backbone=str(tiny_backbone), beat=str(gpt_parts["beat"]), image_encoder=None, signal_dim=32, lora_rank=4,
                       lora_alpha=8, max_length=1024, findings=((KIND, ANSWERS),), finding_recording=True, finding_morphology=True)
    ecg = simulate(SimulationSpec(conditions={"t_inversion": 1.0}), fs=500.0, seconds=10.0, seed=1).ecg
    row = ecg_features(build_model(config, load_encoders=True), ecg, None).finding
    assert row.shape == (1, 64 + RECORDING_WIDTH + MORPHOLOGY_WIDTH)
    np.testing.assert_allclose(row[0, 64 : 64 + RECORDING_WIDTH], recording_features(ecg), rtol=1e-5)
    np.testing.assert_allclose(row[0, 64 + RECORDING_WIDTH :], morphology_features(ecg), rtol=1e-5)
