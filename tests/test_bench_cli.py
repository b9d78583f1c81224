"""`heartcare bench list|run|compare|report` from the command line."""

from __future__ import annotations

import json

from heartcare.cli import main


def test_list_shows_tasks_with_item_counts(built_dataset, capsys):
    assert main(["bench", "list", "--data", str(built_dataset), "--models"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("closed-", "prediction-"))}
    assert len(lines) == 12
    assert int(lines["closed-S-diagnosis"][3]) > 0 and lines["closed-S-diagnosis"][4].rstrip(",") == "accuracy"
    assert "text-only" in out and "floors: random, majority, blind" in out


def test_run_compare_and_report(built_dataset, tmp_path, capsys):
    for model in ("majority", "random"):
        assert main(["bench", "run", "--data", str(built_dataset), "--model", model, "--out", str(tmp_path / model),
                     "--tasks", "closed-S-*,comparison-SS-*", "--no-floors", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "## Closed-QA accuracy (%)" in out and "| random (floor) |" in out
    assert main(["bench", "compare", str(tmp_path / "majority"), str(tmp_path / "random"), "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert set(comparison["tasks"]) == set(json.loads((tmp_path / "random" / "results.json").read_text())["tasks"])
    assert main(["bench", "compare", str(tmp_path / "majority"), str(tmp_path / "random"),
                 "--pair", str(tmp_path / "majority"), str(tmp_path / "random")]) == 1  # the same split twice
    assert "its items would count twice" in capsys.readouterr().err
    assert main(["bench", "report", str(tmp_path / "majority"), str(tmp_path / "random"), "--out", str(tmp_path / "both")]) == 0
    report = (tmp_path / "both" / "report.md").read_text()
    assert "| random (floor) |" in report and "| majority (floor) |" in report  # floor runs join the floor rows
    assert (tmp_path / "both" / "report.html").read_text().startswith("<!doctype html>")


def test_errors_exit_1_with_the_reason(built_dataset, tmp_path, capsys):
    assert main(["bench", "run", "--data", str(built_dataset), "--model", "nope", "--out", str(tmp_path / "r")]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["bench", "run", "--data", str(tmp_path), "--model", "random", "--out", str(tmp_path / "r")]) == 1
    assert "not a HeartAgent dataset" in capsys.readouterr().err
    assert main(["bench", "compare", str(tmp_path / "x"), str(tmp_path / "y")]) == 1
    assert "no results.json" in capsys.readouterr().err
    assert main(["bench", "run", "--data", str(built_dataset), "--model", "random", "--out", str(tmp_path / "r"),
                 "--judge", "http://127.0.0.1:9/v1"]) == 1
    assert "--judge needs --judge-model" in capsys.readouterr().err
    assert main(["bench", "run", "--data", str(built_dataset), "--model", "random", "--model", "majority",
                 "--out", str(tmp_path / "r")]) == 1
    assert "one model per run, got 2" in capsys.readouterr().err
