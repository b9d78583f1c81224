"""benchmarks/gpt.py runs end to end (--quick: tiny random backbone, Beat and image encoder) and prints every row."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")
pytest.importorskip("pydicom")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpt.py"
ROWS = ("training step,", "training, train() loop", "time to first token", "feature extraction: Beat latents",
        "feature extraction: image", "LLM prefill", "decode,", "feature cache")
CHECKS = ("ECG-token overhead", "train() items/s", "time to first token", "same batches")


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Benchmark name -> its cells (unit, heartcare, baseline, ratio, better, baseline name) of the printed table."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "benchmark" and len(cells) >= 6:
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_benchmark_prints_every_row_with_finite_positive_figures(tmp_path) -> None:
    # One thread: on a busy 2-core machine two threads spin-wait on each other and the run slows many-fold.
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--json", str(tmp_path / "report.json")],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = table_rows(done.stdout)
    for expected in ROWS:
        matches = [name for name in rows if expected in name]
        assert len(matches) == 1, (expected, list(rows))
        unit, heartcare, baseline, ratio, *_ = rows[matches[0]]
        assert unit and math.isfinite(float(heartcare)) and float(heartcare) > 0, matches[0]
        if baseline != "-":
            assert math.isfinite(float(baseline)) and float(baseline) > 0, matches[0]
            assert float(ratio.rstrip("x")) > 0, matches[0]
    for check in CHECKS:
        assert any(line.startswith(("PASS", "FAIL")) and check in line for line in done.stdout.splitlines()), check
    assert "1 torch thread(s)" in done.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["same_batches"] is True and report["threads"] == 1 and len(report["rows"]) == len(ROWS)
    assert all(row["heartcare"] > 0 and math.isfinite(row["heartcare"]) for row in report["rows"])


def test_the_decode_rate_stays_finite_when_the_added_time_drowns_in_noise() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmark_gpt", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    assert module.decode_rate(1.5, 0.5, 9) == 8.0  # 8 tokens after the first in the 1.0 s they added
    assert module.decode_rate(0.5, 0.6, 9) == 18.0  # no added time measured: 9 tokens over the whole 0.5 s
