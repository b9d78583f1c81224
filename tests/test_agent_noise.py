"""Signal-quality questions are asked only about signals that still show the recording's noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heartcare.bench.dataset import BenchDataset


def _low_frequency_share(signal: np.ndarray, fs: float = 250.0) -> float:
    """Median over leads of the share of power below 0.5 Hz (what a 0.5 Hz high-pass removes)."""
    spectrum = np.abs(np.fft.rfft(signal - signal.mean(axis=1, keepdims=True), axis=1)) ** 2
    low = np.fft.rfftfreq(signal.shape[1], 1 / fs) < 0.5
    return float(np.median(spectrum[:, low].sum(axis=1) / spectrum.sum(axis=1)))


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[bool, BenchDataset]:
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import MemorySource
    from heartcare.sim.noise import NoiseSpec
    from heartcare.sim.simulate import SimulationSpec, simulate
    from heartcare.sources.record import LabelledRecord

    records, extras = [], []
    for index in range(10):
        drift = index % 2 == 0
        spec = SimulationSpec(conditions={"normal": 0.0}, age=40 + index, sex="MF"[index % 2],
                              noise=NoiseSpec(baseline_mv=0.5 if drift else 0.0, muscle_mv=0.0))
        simulated = simulate(spec, fs=500.0, seconds=10.0, seed=index)
        assert simulated.truth.noise_flags["baseline_drift"] == drift
        records.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=simulated.report,
                                      patient_id=f"patient-{index}", meta={"record_id": f"sim_{index}", "age": 40 + index}))
        extras.append({"noise": ["baseline_drift"] if drift else []})
    built = {}
    for denoise in (False, True):
        out = tmp_path_factory.mktemp("noise") / "ds"
        config = BuildConfig(sources=("ptbxl:memory",), out=str(out), images_per_record=0, denoise=denoise, seed=3)
        build_dataset(config, sources=[MemorySource(records, extras)], progress=False)
        built[denoise] = BenchDataset(out)
    return built


def _quality_items(dataset: BenchDataset) -> list:
    """Closed items on the signal quality, and open Misc answers with a "Signal quality:" sentence."""
    return [item for split in ("train", "valid", "test") for item in dataset.items(split)
            if (item.task == "closed_qa" and item.meta.get("subtopic") == "noise")
            or (item.task == "open_qa" and "Signal quality:" in item.answer)]


def test_stored_signals_show_the_noise_the_questions_ask_about(builds):
    dataset = builds[False]
    shares = {row["record_id"]: (_low_frequency_share(dataset.signal(row["record_id"])[0]), "baseline_drift" in row["noise"])
              for row in dataset.records.values()}
    drifting = [share for share, drift in shares.values() if drift]
    quiet = [share for share, drift in shares.values() if not drift]
    assert len(drifting) == len(quiet) == 5
    assert min(drifting) > 4 * max(quiet)  # the drift is in what the reader gets, not only in the labels
    items = _quality_items(dataset)
    assert {item.task for item in items} == {"closed_qa", "open_qa"}
    for item in items:
        if item.task == "closed_qa":
            drift = shares[item.ecgs[0].record_id][1]
            assert item.choices[item.answer_index] == ("baseline drift" if drift else "no relevant noise")


def test_a_denoised_build_asks_no_signal_quality_question(builds):
    dataset = builds[True]
    assert _quality_items(dataset) == []
    for record_id, row in dataset.records.items():  # the wander is (mostly) gone from what is stored
        recorded = _low_frequency_share(builds[False].signal(record_id)[0])
        assert _low_frequency_share(dataset.signal(record_id)[0]) < (recorded / 2 if "baseline_drift" in row["noise"] else 0.01)
    assert json.loads((dataset.path / "build_config.json").read_text())["denoise"] is True


def test_both_builds_measure_and_predict_from_the_same_conditioned_window(builds):
    """Measurements and prediction targets do not depend on how the signal is stored: the
    recorded build's target is the denoised build's stored signal after the context."""
    recorded, denoised = builds[False], builds[True]
    checked = 0
    for record_id, row in recorded.records.items():
        assert json.loads(row["measurements"]) == json.loads(denoised.record(record_id)["measurements"])
        conditioned = denoised.signal(record_id)[0]
        for item in recorded.items(row["split"]):
            if item.task == "signal_prediction" and item.ecgs[0].record_id == record_id:
                begin = int(row["prediction_start"]) + 1000
                target = recorded.prediction_target(item)
                assert np.array_equal(target, conditioned[:, begin : begin + target.shape[1]])
                checked += 1
    assert checked >= 10


def test_a_description_keeps_whether_its_noise_is_shown():
    from heartcare.agent.description import RecordDescription

    hidden = RecordDescription(record_id="r", patient_id="p", noise=("baseline_drift",), noise_shown=False)
    assert RecordDescription.from_dict(hidden.to_dict()) == hidden
    assert RecordDescription.from_dict({"record_id": "r", "patient_id": "p"}).noise_shown  # older descriptions: shown
