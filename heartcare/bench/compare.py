"""`heartcare bench compare RUN_A RUN_B`: paired-bootstrap intervals of A - B per task and metric.

Both runs must have scored the same dataset split (equal fingerprints); items are
paired by id, so the interval reflects the models' difference, not item sampling twice.
`--pair RUN_A RUN_B` adds the two models' runs of another split, pooled with the first pair.
`heartcare bench control RUN [RUN ...]` pools a model's runs on several splits (valid and
test) into one paired difference against its own mismatched-ECG control.
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


def same_items(first: Path, second: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both runs' results, refused unless they scored the same dataset split."""
    results = load_results(first), load_results(second)
    prints = [result["dataset"]["fingerprint"] for result in results]
    if prints[0] != prints[1] or results[0]["split"] != results[1]["split"]:
        raise ConfigError(second, f"scored another dataset split than {first} (fingerprint {prints[1]} vs {prints[0]}); "
                                  "paired comparison needs the same items")
    return results


def compare_runs(first: Path, second: Path, seed: int = 0) -> dict[str, Any]:
    results = same_items(first, second)
    tasks = paired_tasks(results[0]["tasks"], results[1]["tasks"], item_scores(first), item_scores(second), seed)
    return {"a": results[0]["model"], "b": results[1]["model"], "fingerprint": results[0]["dataset"]["fingerprint"],
            "seed": seed, "tasks": tasks}


def pooled_comparison(pairs: list[tuple[Path, Path]], seed: int = 0) -> dict[str, Any]:
    """A - B paired per item and pooled over pairs of runs, one pair per split of one dataset (A's run and
    B's run of valid, of test ...): more items, a tighter interval than either split. One pair: compare_runs."""
    if len(pairs) == 1:
        return compare_runs(*pairs[0], seed=seed)
    results = [same_items(first, second) for first, second in pairs]
    splits = pooled_splits([first for first, _ in pairs], [result[0] for result in results])
    pooled_splits([second for _, second in pairs], [result[1] for result in results])  # B's side: one model, one build
    records: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] = ({}, {})
    tasks: dict[str, Any] = {}
    for pair, result, split in zip(pairs, results, splits, strict=True):
        for pooled, run in zip(records, pair, strict=True):
            pooled.update(split_keyed(split, item_scores(run)))
        for task, block in result[0]["tasks"].items():
            if task in result[1]["tasks"]:
                tasks.setdefault(task, block)
    paired = paired_tasks(tasks, tasks, records[0], records[1], seed, item_means=True)
    return {"a": results[0][0]["model"], "b": results[0][1]["model"], "splits": splits,
            "dataset": dataset_build(results[0][0]), "seed": seed, "tasks": paired}


def pooled_splits(runs: list[Path], results: list[dict[str, Any]]) -> list[str]:
    """The runs' splits, refused unless every run scored the first run's model on its dataset build and
    each split comes once (a split twice would count its items twice)."""
    for run, result in zip(runs, results, strict=True):
        if (result["model"], dataset_build(result)) != (results[0]["model"], dataset_build(results[0])):
            raise ConfigError(run, f"scored {result['model']} on dataset {dataset_build(result)}, not "
                                   f"{results[0]['model']} on {dataset_build(results[0])} as {runs[0]}")
    splits = [result["split"] for result in results]
    for run, split in zip(runs, splits, strict=True):
        if splits.count(split) > 1:
            raise ConfigError(run, f"two runs of the same split {split} ({', '.join(splits)}): its items would count twice")
    return splits


def split_keyed(split: str, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # ids are unique within a split; the split keeps them apart when runs of several splits pool
    return {f"{split}/{key}": record for key, record in records.items()}


def dataset_build(result: dict[str, Any]) -> str:
    """The dataset card's print; runs written before it existed name the folder."""
    return result["dataset"].get("card") or str(Path(result["dataset"]["path"]).resolve())


def paired_tasks(first_tasks: dict[str, Any], second_tasks: dict[str, Any], first_records: dict[str, dict[str, Any]],
                 second_records: dict[str, dict[str, Any]], seed: int, item_means: bool = False) -> dict[str, Any]:
    """task -> {"n_paired", "metrics": metric -> paired difference (first - second) with both means}, over the
    items both sets of per-item records scored; per-lead metrics (with "/") stay in results.json only.
    The means "a" and "b" are the tasks' own scores, or (item_means: records pooled from several runs)
    the means of the paired items' scores."""
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
                if item_means:
                    both = ~(np.isnan(values[0]) | np.isnan(values[1]))
                    difference["a"], difference["b"] = (float(value[both].mean()) for value in values)
                else:
                    difference["a"] = block["metrics"][metric]["value"]
                    difference["b"] = second_tasks[task]["metrics"][metric]["value"]
                metrics[metric] = difference
        tasks[task] = {"n_paired": len(ids), "metrics": metrics}
    return tasks


def pooled_control(runs: list[Path], seed: int = 0) -> dict[str, Any]:
    """A model minus its mismatched-ECG control, paired per item and pooled over runs of that model on
    different splits of one dataset (e.g. valid and test: more items, a tighter interval than either)."""
    from heartcare.bench.following import following
    from heartcare.bench.mismatch import CONTROL, CONTROL_PREDICTIONS

    results = [load_results(run) for run in runs]
    splits = pooled_splits(runs, results)
    for run, result in zip(runs, results, strict=True):
        if CONTROL not in result.get("controls", {}):
            raise ConfigError(run, "this run has no mismatched-ECG control; run it with --mismatched-ecgs")
        if not (run / CONTROL_PREDICTIONS).is_file():
            raise UnreadableFileError(run / CONTROL_PREDICTIONS, "missing: rerun `heartcare bench run --mismatched-ecgs` "
                                                                  "into this folder (cached answers make it quick)")
    model_records: dict[str, dict[str, Any]] = {}
    control_records: dict[str, dict[str, Any]] = {}
    tasks: dict[str, Any] = {}
    for run, result, split in zip(runs, results, splits, strict=True):
        model_records.update(split_keyed(split, item_scores(run)))
        control = {record["id"]: record for record in map(json.loads, (run / CONTROL_PREDICTIONS).read_text().splitlines())}
        control_records.update(split_keyed(split, control))
        for task, block in result["tasks"].items():
            tasks.setdefault(task, block)
    paired = paired_tasks(tasks, tasks, model_records, control_records, seed, item_means=True)
    return {"a": results[0]["model"], "b": f"{results[0]['model']} [{CONTROL}]", "splits": splits,
            "dataset": dataset_build(results[0]), "seed": seed, "tasks": paired,
            "follows_shown_ecg": following(model_records, control_records, seed)}


def comparison_lines(comparison: dict[str, Any]) -> list[str]:
    lines = [f"A = {comparison['a']}    B = {comparison['b']}",
             f"{'task':28} {'metric':16} {'A':>9} {'B':>9} {'A-B':>9} {'95% CI':>22} {'p':>6} {'n':>6}"]
    for task, block in comparison["tasks"].items():
        for metric, entry in block["metrics"].items():
            low, high = entry["ci"]
            lines.append(f"{task:28} {metric:16} {entry['a']:9.4f} {entry['b']:9.4f} {entry['difference']:+9.4f} "
                         f"[{low:+9.4f}, {high:+9.4f}] {entry['p_value']:6.3f} {entry['n']:6d}")
    return lines
