"""Signal-prediction scoring and the `beat` / `periodic` adapters, on synthetic ECGs and tiny Betas."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.bench.dataset import BenchDataset
from heartcare.bench.items import BenchItem, EcgRef
from heartcare.bench.metrics import ScoringContext, score
from heartcare.bench.metrics.waveform import (
    QRS_MATCH_CAP_MS,
    hr_error,
    mae,
    mse,
    pearson_r,
    pearson_r_lead,
    qrs_timing_error,
)
from heartcare.bench.models import ModelContext, build_model
from heartcare.bench.models.base import Output
from heartcare.errors import ConfigError

FS = 250
CONTEXT = (1000, 2000)


class FakeDataset(BenchDataset):
    """BenchDataset's own slicing over signals held in memory (no files)."""

    def __init__(self, signals: dict[str, np.ndarray]) -> None:
        self.signals = signals

    def signal(self, record_id: str) -> tuple[np.ndarray, float]:
        return self.signals[record_id], float(FS)


def prediction_item(record_id: str = "sim", horizon: int = 500, modality: str = "S", start: int = CONTEXT[0]) -> BenchItem:
    stop = start + CONTEXT[1] - CONTEXT[0]
    return BenchItem(
        id=f"{record_id}-{horizon}-{modality}", task="signal_prediction", dimension="rhythm", modality=modality,
        question="Predict the next segment.", answer="<prediction>", ecgs=(EcgRef(record_id, modality),),
        meta={"context": [start, stop], "target": [stop, stop + horizon], "fs": FS, "horizon_s": horizon / FS},
    )


def closed_item() -> BenchItem:
    return BenchItem(id="q", task="closed_qa", dimension="rhythm", modality="S", question="?", answer="A: x",
                     choices=("x", "y"), answer_index=0, ecgs=(EcgRef("sim", "S"),))


@pytest.fixture(scope="module")
def record() -> np.ndarray:
    from heartcare.sim import SimulationSpec, simulate
    from heartcare.sim.noise import QUIET

    return simulate(SimulationSpec(noise=QUIET), fs=FS, seconds=10.0, seed=3).ecg.signal.astype(np.float32)


@pytest.fixture(scope="module")
def scoring(record) -> ScoringContext:
    flat = record.copy()
    flat[3] = 0.2  # aVR constant: its Pearson r is undefined
    return ScoringContext(dataset=FakeDataset({"sim": record, "flat": flat, "spikes": spike_train()}))


def target_of(scoring: ScoringContext, item: BenchItem) -> np.ndarray:
    return scoring.dataset.prediction_target(item).astype(np.float64)


def all_metrics(items, outputs, scoring) -> dict[str, np.ndarray]:
    return {function.__name__: function(items, outputs, scoring)
            for function in (mse, mae, pearson_r, hr_error, qrs_timing_error)}


def test_a_perfect_prediction_scores_perfectly(scoring) -> None:
    items = [prediction_item(), prediction_item(horizon=250)]
    outputs = [Output(waveform=target_of(scoring, item)) for item in items]
    values = all_metrics(items, outputs, scoring)
    np.testing.assert_allclose(values["mse"], 0.0, atol=1e-12)
    np.testing.assert_allclose(values["mae"], 0.0, atol=1e-12)
    np.testing.assert_allclose(values["pearson_r"], 1.0, atol=1e-9)
    np.testing.assert_allclose(values["hr_error"], 0.0, atol=1e-9)
    np.testing.assert_allclose(values["qrs_timing_error"], 0.0, atol=1e-9)


def test_scaled_and_inverted_predictions_score_as_computed_by_hand(scoring) -> None:
    item = prediction_item()
    target = target_of(scoring, item)
    half = [Output(waveform=0.5 * target)]
    assert mse([item], half, scoring)[0] == pytest.approx(0.25 * np.mean(target**2), rel=1e-9)
    assert mae([item], half, scoring)[0] == pytest.approx(0.5 * np.mean(np.abs(target)), rel=1e-9)
    assert pearson_r([item], half, scoring)[0] == pytest.approx(1.0)
    inverted = [Output(waveform=-target)]
    assert pearson_r([item], inverted, scoring)[0] == pytest.approx(-1.0)
    assert pearson_r_lead([item], inverted, scoring, "V2")[0] == pytest.approx(-1.0)
    assert mse([item], inverted, scoring)[0] == pytest.approx(4 * np.mean(target**2), rel=1e-9)


def test_a_longer_answer_is_cut_to_the_target(scoring) -> None:
    item = prediction_item(horizon=250)
    longer = np.concatenate([target_of(scoring, item), np.full((12, 250), 9.0)], axis=1)
    assert mse([item], [Output(waveform=longer)], scoring)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("waveform", [None, np.ones((11, 500)), np.ones((12, 499)), np.full((12, 500), np.nan)],
                         ids=["missing", "eleven-leads", "too-short", "nan"])
def test_a_failed_answer_scores_like_a_flat_line(scoring, waveform) -> None:
    item = prediction_item()
    target = target_of(scoring, item)
    failed = all_metrics([item], [Output(waveform=waveform)], scoring)
    flat = all_metrics([item], [Output(waveform=np.zeros((12, 500)))], scoring)
    for name in failed:
        np.testing.assert_allclose(failed[name], flat[name], err_msg=name)
    assert failed["mse"][0] == pytest.approx(np.mean(target**2))
    assert failed["pearson_r"][0] == 0.0  # scored, not skipped
    assert failed["qrs_timing_error"][0] == QRS_MATCH_CAP_MS  # every target beat missed
    assert failed["hr_error"][0] > 50  # no predicted beat = 0 bpm, not the context's rate


def test_a_delayed_copy_costs_its_delay_in_qrs_timing(record, scoring) -> None:
    item = prediction_item()
    start, stop = item.meta["target"]
    for delay in (3, 5, 10):  # 12, 20, 40 ms
        delayed = record[:, start - delay : stop - delay]
        error = qrs_timing_error([item], [Output(waveform=delayed)], scoring)[0]
        assert abs(error - delay * 1000 / FS) <= 1000 / FS, (delay, error)
    # Far beyond the cap every beat counts as missed, never more.
    far = record[:, start - 100 : stop - 100]
    assert qrs_timing_error([item], [Output(waveform=far)], scoring)[0] <= QRS_MATCH_CAP_MS


def spike_train(period: int = 200, samples: int = 2500) -> np.ndarray:
    """12 leads of narrow Gaussian 'QRS' spikes every `period` samples (75 bpm at 200), mV."""
    times = np.arange(samples)
    signal = sum(np.exp(-0.5 * ((times - peak) / 3.0) ** 2) for peak in range(100, samples, period))
    return np.tile(signal, (12, 1)).astype(np.float32)


def test_heart_rate_error_is_the_rate_difference_in_the_horizon(scoring) -> None:
    item = prediction_item("spikes")
    context = scoring.dataset.prediction_context(item)
    # Beats every 200 samples (75 bpm); the answer continues the context's last beat at 60 bpm.
    last_beat = int(np.argmax(context[0, -200:])) + 800
    times = np.arange(1000, 1500)
    slower = sum(np.exp(-0.5 * ((times - peak) / 3.0) ** 2) for peak in range(last_beat + 250, 1700, 250))
    answer = np.tile(slower, (12, 1))
    assert hr_error([item], [Output(waveform=answer)], scoring)[0] == pytest.approx(15.0, abs=0.5)
    same = target_of(scoring, item)
    assert hr_error([item], [Output(waveform=same)], scoring)[0] == pytest.approx(0.0, abs=1e-9)


def test_a_constant_target_lead_leaves_the_pearson_mean(scoring) -> None:
    item = prediction_item("flat")
    target = target_of(scoring, item)
    rng = np.random.default_rng(0)
    answer = target + rng.normal(0, 0.2, target.shape) * np.linspace(0.2, 2, 12)[:, None]
    outputs = [Output(waveform=answer)]
    per_lead = [pearson_r_lead([item], outputs, scoring, lead)[0]
                for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")]
    assert np.isnan(per_lead[3])
    assert pearson_r([item], outputs, scoring)[0] == pytest.approx(np.mean(per_lead[:3] + per_lead[4:]))
    assert len({round(value, 6) for value in per_lead if np.isfinite(value)}) > 5  # the leads really differ
    everything_flat = FakeDataset({"flat": np.full((12, 2500), 0.3, np.float32)})
    assert np.isnan(pearson_r([item], outputs, ScoringContext(dataset=everything_flat))[0])


def test_unscored_items_are_nan_and_the_registry_reaches_every_metric(scoring) -> None:
    items = [prediction_item(), closed_item(), prediction_item(horizon=250)]
    outputs = [Output(not_applicable="cannot"), Output(text="A"), Output(waveform=target_of(scoring, items[2]))]
    for name in ("mse", "mae", "pearson_r", "pearson_r/II", "hr_error", "qrs_timing_error"):
        values = score(name, items, outputs, scoring)
        assert np.isnan(values[:2]).all() and np.isfinite(values[2]), name
    with pytest.raises(ConfigError, match="unknown lead"):
        pearson_r_lead(items, outputs, scoring, "II ")


# ---- adapters ----------------------------------------------------------------------------


def beat_checkpoint(folder, horizon: int = 500):
    from heartcare.beat.config import preset
    from heartcare.beat.model import build_beat

    config = preset("tiny").with_changes(context=1000, horizon=horizon, queries=5)
    build_beat(config).save_pretrained(folder)
    return folder


def test_beat_adapter_answers_beat_forecasts_in_one_batch(tmp_path, scoring, record) -> None:
    from heartcare.beat.files import predict_ecg
    from heartcare.ecg.record import Ecg

    context = ModelContext(dataset=scoring.dataset)
    model = build_model(f"beat:{beat_checkpoint(tmp_path / 'beat')}", context)
    items = [prediction_item(), prediction_item(horizon=250), prediction_item(modality="I"), closed_item(),
             prediction_item(start=500)]
    outputs = model.respond(items)
    assert model.batch_size >= 1 and len(outputs) == len(items)
    assert outputs[0].waveform.shape == (12, 500) and outputs[1].waveform.shape == (12, 250)
    assert "image" in outputs[2].not_applicable and "signal prediction" in outputs[3].not_applicable
    for item, output in zip([items[0], items[1], items[4]], [outputs[0], outputs[1], outputs[4]], strict=True):
        window = scoring.dataset.prediction_context(item)
        expected = predict_ecg(model.model, Ecg(window, FS)).prediction.signal
        np.testing.assert_allclose(output.waveform, expected[:, : output.waveform.shape[1]], atol=1e-5)
    # One item alone gets the same answer as inside the batch (forecasts are per window).
    np.testing.assert_allclose(model.respond([items[4]])[0].waveform, outputs[4].waveform, atol=1e-5)
    assert not np.allclose(outputs[0].waveform, outputs[4].waveform)  # different contexts differ
    assert np.isfinite(mse(items, outputs, scoring)[[0, 1, 4]]).all()


def test_a_beat_checkpoint_is_fingerprinted_by_its_weights(tmp_path) -> None:
    import shutil

    from heartcare.bench.models import model_fingerprint

    first = model_fingerprint(f"beat:{beat_checkpoint(tmp_path / 'beat')}")
    shutil.copytree(tmp_path / "beat", tmp_path / "copy")
    assert model_fingerprint(f"beat:{tmp_path / 'copy'}") == first is not None
    assert model_fingerprint(f"beat:{beat_checkpoint(tmp_path / 'beat')}") != first  # retrained: other weights
    assert model_fingerprint(f"beat:{tmp_path / 'nowhere'}") is None and model_fingerprint("periodic") is None


def test_beat_adapter_refuses_horizons_beyond_its_head_and_needs_a_checkpoint(tmp_path, scoring) -> None:
    context = ModelContext(dataset=scoring.dataset)
    model = build_model(f"beat:{beat_checkpoint(tmp_path / 'short', horizon=250)}", context)
    long, short = model.respond([prediction_item(), prediction_item(horizon=250)])
    assert "forecasts 1 s" in long.not_applicable and long.waveform is None
    assert short.waveform.shape == (12, 250)
    with pytest.raises(ConfigError, match="checkpoint folder"):
        build_model("beat", context)


def test_periodic_adapter_equals_the_continuation(scoring) -> None:
    from heartcare.beat.continuation import periodic_continuation

    model = build_model("periodic", ModelContext(dataset=scoring.dataset))
    items = [prediction_item(), prediction_item(horizon=250), prediction_item(start=700), prediction_item(modality="I"),
             closed_item()]
    outputs = model.respond(items)
    for index in (0, 1, 2):
        window = scoring.dataset.prediction_context(items[index])
        expected = periodic_continuation(window[None].astype(np.float32), 500, FS)[0]
        horizon = items[index].meta["target"][1] - items[index].meta["target"][0]
        np.testing.assert_array_equal(outputs[index].waveform, expected[:, :horizon])
    assert outputs[3].not_applicable and outputs[4].not_applicable
    # The simulated rhythm varies beat to beat (RR 192-206 samples), so the tiled period
    # drifts, yet it follows the truth far better than chance.
    assert pearson_r(items[:1], outputs[:1], scoring)[0] > 0.4
    short = BenchItem(id="short", task="signal_prediction", dimension="rhythm", modality="S", question="?",
                      answer="<prediction>", ecgs=(EcgRef("sim", "S"),), meta={"context": [0, 50], "target": [50, 300]})
    assert "holds no" in model.respond([short])[0].not_applicable
