"""Signal-prediction items: context-only input locators, targets stored apart, wording of later windows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from heartcare.agent.description import RecordDescription
from heartcare.agent.questions.prediction import (
    CONTEXT_SAMPLES,
    locate_items,
    prediction_items,
    prediction_templates,
    prediction_window,
    target_samples,
    window_phrases,
)
from heartcare.bench.dataset import BenchDataset, prediction_samples
from heartcare.bench.items import BenchItem, EcgRef


def describe(record_id: str = "r1") -> RecordDescription:
    return RecordDescription(record_id=record_id, patient_id="p1", labels={"NORM": 100.0, "SR": 0.0}, age=63, sex="M",
                             measurements={}, noise=(), infarct_stage=None, extra_beats=None, pacemaker=False, date=None)


def test_items_share_one_context_and_the_short_target_is_a_prefix_of_the_long_one():
    rng = np.random.default_rng(0)
    start = prediction_window(2500, rng)
    items = prediction_items(describe(), 2500, start, rng, ("S", "I"), "images/00000/r1_context.png")
    assert sorted((item.modality, item.meta["target"]["samples"]) for item in items) == [
        ("I", 250), ("I", 500), ("S", 250), ("S", 500)]
    for item in items:
        assert item.meta["context"] == {"file": None, "offset": start, "samples": CONTEXT_SAMPLES}
        assert item.meta["target"]["offset"] == 0 and item.meta["window_start_s"] == start / 250
        assert ("image" in item.meta) == (item.modality == "I") and item.ecgs == (("r1", item.modality),)
    assert len({item.id for item in items}) == 4
    placed = locate_items(items, {"r1": ("signals/shard-00003.npy", 7000, "signals/targets-00003.npy", 1500)})
    for item in placed:
        assert item.meta["context"] == {"file": "signals/shard-00003.npy", "offset": 7000 + start, "samples": 1000}
        assert item.meta["target"] == {"file": "signals/targets-00003.npy", "offset": 1500,
                                       "samples": item.meta["target"]["samples"]}
    assert target_samples(2500, start) == 500 and target_samples(1300, 50) == 250 and target_samples(1200, 0) == 0
    assert prediction_window(1200, rng) is None and prediction_items(describe(), 1200, None, rng) == []


def test_wording_says_where_a_later_window_lies_and_never_the_next_1_seconds():
    assert len(set(prediction_templates()["questions"])) >= 30
    later, first = window_phrases(800, 1.0, 4.0), window_phrases(0, 2.0, 4.0)
    assert later["next_horizon"] == "the next second" and later["horizon"] == "1 second"
    assert later["position"] == "taken 3.2 seconds into the recording" and "start" in first["position"]
    assert window_phrases(250, 2.0, 4.0)["position"] == "taken 1 second into the recording"
    questions = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        start = prediction_window(2500, rng)
        questions += [(start, item.question) for item in prediction_items(describe(), 2500, start, rng, ("S",))]
    assert len({question for _, question in questions}) > 200
    for start, question in questions:
        assert not re.search(r"\b1 seconds\b|\bfirst\b|\b1-seconds\b", question), question
        assert "{" not in question and question[0].isupper(), question
        if "into the recording" in question:
            assert f"taken {start / 250:g} second" in question
        if start > 0:
            assert "start of the recording" not in question


def _simulated():
    from heartcare.sim.simulate import SimulationSpec, simulate

    return [simulate(SimulationSpec(conditions={"normal": 0.0}, age=50 + index, sex="MF"[index % 2]), fs=500.0, seconds=10.0, seed=index)
            for index in range(4)]


@pytest.fixture(scope="module")
def conditioned_windows() -> dict[str, np.ndarray]:
    """waveform hash of each stored window (as recorded) -> the same window denoised."""
    from heartcare.agent.optimizer import optimize_pair
    from heartcare.agent.splits import waveform_hash

    pairs = [optimize_pair(simulated.ecg, 250, 10.0) for simulated in _simulated()]
    return {waveform_hash(recorded.signal): conditioned.signal for recorded, conditioned in pairs}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import MemorySource
    from heartcare.sources.record import LabelledRecord

    records = []
    for index, simulated in enumerate(_simulated()):
        meta = {"record_id": f"sim_{index}", "age": 50 + index, "sex": "MF"[index % 2], "strat_fold": 10}
        records.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=simulated.report,
                                      patient_id=f"patient-{index}", meta=meta))
    out = tmp_path_factory.mktemp("prediction") / "ds"
    config = BuildConfig(sources=("ptbxl:memory",), out=str(out), images_per_record=1, image_presets=("clean",),
                         image_dpi=40.0, shard_size=2, seed=1)
    build_dataset(config, sources=[MemorySource(records)], progress=False)
    return out


def test_the_input_locator_covers_the_context_only_and_the_target_is_stored_apart(built, conditioned_windows):
    from heartcare.agent.writer import load_signal, load_target

    dataset = BenchDataset(built)
    splits = ("train", "valid", "test")
    items = [item for split in splits for item in dataset.items(split) if item.task == "signal_prediction"]
    assert len(items) == 16  # 4 records x 2 horizons x S/I
    for item in items:
        row = dataset.record(item.ecgs[0].record_id)
        signal, start = load_signal(built, row), row["prediction_start"]
        context, target = item.meta["context"], item.meta["target"]
        assert context["file"] == row["signal_file"] and context["samples"] == 1000
        assert context["offset"] == row["signal_offset"] + start  # inside the record, ending where the target begins
        assert target["file"] == row["target_file"] != row["signal_file"] and target["offset"] == row["target_offset"]
        assert np.array_equal(dataset.prediction_context(item), signal[:, start : start + 1000])
        # the target continues the same window, denoised: the heart's next seconds, not the recording's wander
        expected = conditioned_windows[row["waveform_hash"]][:, start + 1000 : start + 1000 + target["samples"]]
        assert np.array_equal(dataset.prediction_target(item), expected) and expected.shape[1] == item.meta["horizon_s"] * 250
        assert np.array_equal(load_target(built, row)[:, : target["samples"]], expected)
        assert prediction_samples(item) == target["samples"]
        if item.modality == "I":  # the image shows the same context window, nothing after it
            parameters = json.loads(row["context_image_parameters"])
            assert item.meta["image"] == row["context_image"] and (built / row["context_image"]).is_file()
            assert (parameters["start"], parameters["samples"]) == (start, 1000)
    offsets = {(row["target_file"], row["target_offset"]) for row in dataset.records.values()}
    assert len(offsets) == 4 and len({file for file, _ in offsets}) == 2  # two shards, one target block per record
    for name in ("targets-00000.npy", "targets-00001.npy"):
        assert np.load(built / "signals" / name).shape == (12, 1000)


def test_format_one_items_still_evaluate_and_bad_locators_name_the_item(built):
    dataset = BenchDataset(built)
    row = next(iter(dataset.records.values()))
    old = BenchItem(id="old", task="signal_prediction", dimension="rhythm", modality="S", question="?", answer="<prediction>",
                    ecgs=(EcgRef(row["record_id"], "S"),), meta={"fs": 250, "context": [300, 1300], "target": [1300, 1800]})
    signal = dataset.signal(row["record_id"])[0]
    assert np.array_equal(dataset.prediction_context(old), signal[:, 300:1300])
    assert np.array_equal(dataset.prediction_target(old), signal[:, 1300:1800]) and prediction_samples(old) == 500
    from heartcare.errors import DatasetLayoutError

    for meta, message in (({"context": {"file": "../x.npy", "offset": 0, "samples": 5}}, "no signal array"),
                          ({"context": {"file": "signals/targets-00000.npy", "offset": 900, "samples": 500}}, "outside"),
                          ({"context": "later"}, "neither a locator")):
        broken = BenchItem(id="broken", task="signal_prediction", dimension="rhythm", modality="S", question="?",
                           answer="<prediction>", ecgs=old.ecgs, meta=meta)
        with pytest.raises(DatasetLayoutError, match=f"item broken.*{message}|{message}"):
            dataset.prediction_context(broken)


def test_the_qa_table_meta_carries_the_located_form(built):
    rows = [row for split in ("train", "valid", "test") for row in pq.read_table(built / "qa" / f"{split}.parquet").to_pylist()
            if row["task"] == "signal_prediction"]
    assert rows and all(json.loads(row["meta"])["context"]["file"].startswith("signals/shard-") for row in rows)
