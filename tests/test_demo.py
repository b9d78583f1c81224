import json
from pathlib import Path

import pytest

from heartcare.demo import STEPS, run_demo, stage_state


def test_real_ecg_step_measures_and_draws(tmp_path: Path) -> None:
    run_demo(tmp_path, ["real-ecg"])
    values = json.loads((tmp_path / "real_ecg_measurements.json").read_text())
    assert abs(values["hr_bpm"] - 61) <= 2
    assert (tmp_path / "real_ecg.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.timeout(2400)  # the whole demo is minutes of CPU (Beat, HeartcareGPT, the bench)
def test_whole_demo_runs_and_resumes(tmp_path: Path) -> None:
    run_demo(tmp_path)
    assert (tmp_path / "dataset" / "dataset.json").is_file()
    first = sorted(p.relative_to(tmp_path) for p in (tmp_path / "dataset" / "qa").glob("*.parquet"))
    run_demo(tmp_path, ["cohort", "dataset"])  # finished work is kept, not redone
    assert first == sorted(p.relative_to(tmp_path) for p in (tmp_path / "dataset" / "qa").glob("*.parquet"))
    assert set(STEPS) >= {"real-ecg", "cohort", "draw", "beat", "dataset", "gpt", "bench"}
    assert (tmp_path / "beat" / "eval-test.json").is_file()
    joint = json.loads((tmp_path / "gpt" / "joint" / "config.json").read_text())
    assert joint["steps"] > 0 and joint["model"]["findings"]  # the demo trains the recipe that reads the ECG
    gpt = json.loads((tmp_path / "bench" / "heartcare-gpt" / "results.json").read_text())
    assert gpt["controls"]["mismatched ECGs"]["tasks"]  # beside the model: the same items with other ECGs


def test_a_demo_stage_is_reused_resumed_or_trained_afresh(tmp_path: Path) -> None:
    def stage(name: str, config: dict | None = None, training: bool = False) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        if config is not None:
            (folder / "config.json").write_text(json.dumps(config))
        if training:
            (folder / "training").mkdir()
        return folder

    finished = {"steps": 15, "model": {"findings": [["closed_qa/rhythm/rhythm", ["a", "b"]]]}}
    assert stage_state(stage("done", finished, training=True), 15, earlier_reused=True) == "reuse"
    assert stage_state(stage("interrupted", training=True), 15, earlier_reused=True) == "resume"
    assert stage_state(tmp_path / "absent", 15, earlier_reused=True) == "fresh"
    old_model = stage("old", {"steps": 15, "model": {"findings": []}}, training=True)  # before finding tokens
    assert stage_state(old_model, 15, earlier_reused=True) == "fresh" and not old_model.exists()
    on_retrained = stage("after", finished, training=True)  # built on a stage trained again just now
    assert stage_state(on_retrained, 15, earlier_reused=False) == "fresh" and not on_retrained.exists()
