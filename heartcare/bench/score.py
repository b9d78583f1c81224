"""Turn one model's answers into per-task figures with intervals, and per-item scores.

Items a model cannot answer at all (`not_applicable`, e.g. an endpoint without ECG
input) are counted and left out of the scores; failed items stay in and score as
wrong. A metric with no scored item (log-likelihood accuracy for a generator, the
judge when off) is not reported.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from heartcare.agent.description import stable_hash
from heartcare.bench.bootstrap import bootstrap_interval
from heartcare.bench.items import BenchItem
from heartcare.bench.metrics import ScoringContext, score
from heartcare.bench.models.base import Output
from heartcare.bench.tasks import TaskSpec


def summarise(values: np.ndarray, seed: int) -> dict[str, Any] | None:
    scored = values[~np.isnan(values)]
    if len(scored) == 0:
        return None
    interval = bootstrap_interval(scored, seed=seed)
    return {"value": float(scored.mean()), "ci": [float(interval[0]), float(interval[1])], "n": int(len(scored))}


def score_task(
    task: TaskSpec,
    items: list[BenchItem],
    answers: dict[str, tuple[Output, str | None]],
    context: ScoringContext,
    seed: int,
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """(the task's results block, item id -> {metric: value})."""
    applicable = [item for item in items if answers[item.id][0].not_applicable is None]
    outputs = [answers[item.id][0] for item in applicable]
    failed = sum(1 for item in items if answers[item.id][1] is not None)
    missing = sum(1 for item in items if answers[item.id][0].extra.get("missing"))
    block: dict[str, Any] = {
        "version": task.version, "group": task.group, "description": task.description, "primary": task.primary,
        "n": len(items), "n_scored": len(applicable), "n_failed": failed, "n_missing": missing,
        "n_not_applicable": len(items) - len(applicable), "metrics": {},
    }
    if items and all(item.is_multiple_choice for item in items):
        block["chance"] = float(np.mean([1.0 / len(item.choices) for item in items]))
    item_scores: dict[str, dict[str, float]] = defaultdict(dict)
    per_metric: dict[str, np.ndarray] = {}
    for metric in task.metrics:
        values = score(metric, applicable, outputs, context) if applicable else np.zeros(0)
        summary = summarise(values, seed=stable_hash(seed, task.name, metric) % 2**32)
        if summary is None:
            continue
        block["metrics"][metric] = summary
        per_metric[metric] = values
        for item, value in zip(applicable, values, strict=True):
            if not np.isnan(value):
                item_scores[item.id][metric] = float(value)
    if task.breakdown and per_metric:
        block["breakdown"] = breakdown(task, applicable, per_metric, seed)
    if len(items) > len(applicable):
        reasons = sorted({answers[item.id][0].not_applicable for item in items} - {None})
        block["not_applicable_reasons"] = reasons
    return block, dict(item_scores)


def breakdown(task: TaskSpec, items: list[BenchItem], per_metric: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """'meta.kind=same_rhythm' -> {"n", "metrics"} for each breakdown attribute value."""
    groups: dict[str, list[int]] = defaultdict(list)
    for attribute in task.breakdown:
        for index, item in enumerate(items):
            groups[f"{attribute}={item.attribute(attribute)}"].append(index)
    result = {}
    for key in sorted(groups):
        indices = np.array(groups[key])
        metrics = {}
        for metric, values in per_metric.items():
            summary = summarise(values[indices], seed=stable_hash(seed, task.name, key, metric) % 2**32)
            if summary is not None:
                metrics[metric] = summary
        result[key] = {"n": int(len(indices)), "metrics": metrics}
    return result


def headline(tasks: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The paper's averages: Closed-QA and Comparison-QA accuracy, Open-QA F1-Bio / ROUGE-L, over their tasks."""
    pools: dict[str, list[float]] = defaultdict(list)
    for name, block in tasks.items():
        family = name.split("-")[0]
        for metric in ("accuracy", "f1_bio", "rouge_l", "term_f1", "judge", "mse", "pearson_r"):
            if metric in block["metrics"]:
                pools[f"{family}/{metric}"].append(block["metrics"][metric]["value"])
    return {key: float(np.mean(values)) for key, values in sorted(pools.items())}
