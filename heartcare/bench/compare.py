"""`heartcare bench compare RUN_A RUN_B`: paired-bootstrap intervals of A - B per task and metric.

Both runs must have scored the same dataset split (equal fingerprints); items are
paired by id, so the interval reflects the models' difference, not item sampling twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.agent.description import stable_hash
from heartcare.bench.bootstrap import paired_difference
from heartcare.bench.report import load_results
from heartcare.errors import ConfigError, UnreadableFileError


def item_scores(run: Path) -> dict[str, dict[str, Any]]:
    path = run / "predictions.jsonl"
    if not path.is_file():
        raise UnreadableFileError(path, "no predictions.jsonl here; run `heartcare bench run` first")
    return {record["id"]: record for record in map(json.loads, path.read_text().splitlines())}


def compare_runs(first: Path, second: Path, seed: int = 0) -> dict[str, Any]:
    results = [load_results(first), load_results(second)]
    prints = [result["dataset"]["fingerprint"] for result in results]
    if prints[0] != prints[1] or results[0]["split"] != results[1]["split"]:
        raise ConfigError(second, f"scored another dataset split than {first} (fingerprint {prints[1]} vs {prints[0]}); "
                                  "paired comparison needs the same items")
    tasks = paired_tasks(results[0]["tasks"], results[1]["tasks"], item_scores(first), item_scores(second), seed)
    return {"a": results[0]["model"], "b": results[1]["model"], "fingerprint": prints[0], "seed": seed, "tasks": tasks}


def paired_tasks(first_tasks: dict[str, Any], second_tasks: dict[str, Any], first_records: dict[str, dict[str, Any]],
                 second_records: dict[str, dict[str, Any]], seed: int) -> dict[str, Any]:
    """task -> {"n_paired", "metrics": metric -> paired difference (first - second) with both means}, over the
    items both sets of per-item records scored; per-lead metrics (with "/") stay in results.json only."""
    tasks: dict[str, Any] = {}
    for task, block in first_tasks.items():
        if task not in second_tasks:
            continue
        ids = sorted(key for key, record in first_records.items() if record["task"] == task and key in second_records)
        metrics = {}
        for metric in block["metrics"]:
            if metric not in second_tasks[task]["metrics"] or "/" in metric:
                continue
            values = [np.array([records[key]["scores"].get(metric, np.nan) for key in ids], dtype=float)
                      for records in (first_records, second_records)]
            difference = paired_difference(values[0], values[1], seed=stable_hash(seed, task, metric) % 2**32)
            if difference is not None:
                difference["a"] = block["metrics"][metric]["value"]
                difference["b"] = second_tasks[task]["metrics"][metric]["value"]
                metrics[metric] = difference
        tasks[task] = {"n_paired": len(ids), "metrics": metrics}
    return tasks


def comparison_lines(comparison: dict[str, Any]) -> list[str]:
    lines = [f"A = {comparison['a']}    B = {comparison['b']}",
             f"{'task':28} {'metric':16} {'A':>9} {'B':>9} {'A-B':>9} {'95% CI':>22} {'p':>6} {'n':>6}"]
    for task, block in comparison["tasks"].items():
        for metric, entry in block["metrics"].items():
            low, high = entry["ci"]
            lines.append(f"{task:28} {metric:16} {entry['a']:9.4f} {entry['b']:9.4f} {entry['difference']:+9.4f} "
                         f"[{low:+9.4f}, {high:+9.4f}] {entry['p_value']:6.3f} {entry['n']:6d}")
    return lines
