"""benchmarks/beat.py runs end to end (tiny preset, short budget) and reports its baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "beat.py"


def _run(*arguments: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), "--preset", "tiny", "--seconds", "0.2", "--batch", "16",
                           "--no-compile", *arguments], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_beat_benchmark_reports_shares_and_the_plain_baseline() -> None:
    report = json.loads(_run("--json", "--full-pass"))
    assert report["ptbxl_pass_measured_seconds"] > 0
    assert report["preset"] == "tiny" and report["encoder_flops_per_window"] > 0
    for key in ("large_batch_share_of_peak_percent", "plain_pytorch_share_of_peak_percent", "ptbxl_pass_estimate_seconds",
                "plain_pytorch_ptbxl_pass_estimate_seconds", "batch1_windows_per_second",
                "peak_needed_for_60s_pass_gflops"):
        assert report[key] > 0, key
    table = _run()
    assert "plain PyTorch, batch 16 (baseline)" in table and "heartcare vs plain PyTorch" in table


@pytest.mark.parametrize("task", ["encode", "predict"])
def test_beat_files_benchmark_matches_its_baseline(task: str) -> None:
    script = SCRIPT.with_name("beat_files.py")
    done = subprocess.run([sys.executable, str(script), "--task", task, "--preset", "tiny", "--records", "4", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["task"] == task and report["files"] == 4 and report["skipped"] == 0 and report["windows"] >= 4
    assert report["same_output_as_baseline"] is True
    assert report["batched_files_per_second"] > 0 and report["baseline_files_per_second"] > 0
