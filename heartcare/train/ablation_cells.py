"""The cells of the ablation table: accuracy means over a column's tasks (pooled over splits) with
stratified bootstrap intervals, and the control columns' paired differences."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

# column -> (title, task-name pattern); each cell is the mean accuracy over the matching tasks
COLUMNS: dict[str, tuple[str, str]] = {
    "closed": ("Closed-QA", "closed-*"),
    "comparison": ("Comparison-QA", "comparison-*"),
    "closed_S": ("Closed S", "closed-S-*"),
    "closed_I": ("Closed I", "closed-I-*"),
}


# each row's accuracy minus the full model's, paired over the items both answered (the figures' gaps)
VERSUS_FULL = ("versus_full", "minus full")

# control columns: column -> title; each a paired difference over every benched item of the row's model
CONTROL_COLUMNS: dict[str, str] = {
    "ecg_effect": "own ECG - another's",  # accuracy with the item's own ECG minus with another item's
    "follows": "follows the ECG shown",  # picks of the shown ECG's answer (`heartcare.bench.following`)
}


@dataclass
class Cell:
    """Mean accuracy over a column's tasks the model reads (or, signed, a paired difference of two such
    means); ci: 95% bootstrap interval, when known."""

    value: float
    ci: tuple[float, float] | None
    tasks: int  # tasks averaged
    of: int  # tasks of the column in the run (more than `tasks` when some were not applicable)
    signed: bool = False


def pooled_tasks(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One results "tasks" block for several splits' results: each task's accuracy the item-weighted mean."""
    tasks: dict[str, Any] = {}
    for name in dict.fromkeys(name for result in results for name in result["tasks"]):
        blocks = [result["tasks"][name] for result in results if name in result["tasks"]]
        scored = [block for block in blocks if "accuracy" in block["metrics"]]
        if len(blocks) == 1 or not scored:
            tasks[name] = blocks[0]
            continue
        count = sum(block["n"] for block in scored)
        value = sum(block["n"] * block["metrics"]["accuracy"]["value"] for block in scored) / count
        tasks[name] = {"n": count, "metrics": {"accuracy": {"value": value}}}
    return tasks


def control_cells(model_records: dict[str, dict[str, Any]], control_records: dict[str, dict[str, Any]],
                  seed: int = 0) -> dict[str, Cell | None]:
    """The control columns over every item both record sets scored: accuracy with the own ECG minus with
    another's, and picks of the shown ECG's answer minus picks of the same option with the own ECG."""
    from heartcare.bench.following import following

    cells: dict[str, Cell | None] = dict.fromkeys(CONTROL_COLUMNS)
    cells["ecg_effect"] = paired_cell(model_records, control_records, seed)
    tasks = cells["ecg_effect"].tasks if cells["ecg_effect"] is not None else 0
    # every task's items pooled into one paired difference: relabel them as one task
    merged = following({key: {**record, "task": "all"} for key, record in model_records.items()},
                       {key: {**record, "task": "all"} for key, record in control_records.items()}, seed).get("all")
    if merged is not None:
        cells["follows"] = Cell(merged["difference"], tuple(merged["ci"]), tasks, tasks, signed=True)
    return cells


def paired_cell(records: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]], seed: int = 0) -> Cell | None:
    """Accuracy of `records` minus `reference`'s, paired over every item both scored (all tasks pooled)."""
    import numpy as np

    from heartcare.bench.bootstrap import paired_difference

    keys = sorted(key for key, record in records.items()
                  if "accuracy" in record["scores"] and "accuracy" in reference.get(key, {}).get("scores", {}))
    tasks = len({records[key]["task"] for key in keys})
    first = np.array([records[key]["scores"]["accuracy"] for key in keys], dtype=float)
    second = np.array([reference[key]["scores"]["accuracy"] for key in keys], dtype=float)
    difference = paired_difference(first, second, seed=seed)
    if difference is None:
        return None
    return Cell(difference["difference"], tuple(difference["ci"]), tasks, tasks, signed=True)


def results_cells(tasks: dict[str, Any], per_item: dict[str, list[float]] | None = None, seed: int = 0) -> dict[str, Cell | None]:
    """column -> Cell from a results "tasks" block; per_item (predictions) gives intervals of multi-task means."""
    cells: dict[str, Cell | None] = {}
    for column, (_, pattern) in COLUMNS.items():
        names = sorted(name for name in tasks if fnmatchcase(name, pattern))
        scored = [name for name in names if "accuracy" in tasks[name]["metrics"]]
        if not scored:
            cells[column] = None
            continue
        metrics = [tasks[name]["metrics"]["accuracy"] for name in scored]
        value = sum(metric["value"] for metric in metrics) / len(metrics)
        if per_item and all(per_item.get(name) for name in scored):
            ci = stratified_interval([per_item[name] for name in scored], seed)
        else:
            ci = tuple(metrics[0]["ci"]) if len(metrics) == 1 and metrics[0].get("ci") else None
        cells[column] = Cell(value, ci, len(scored), len(names))
    return cells


def stratified_interval(per_task: list[list[float]], seed: int, resamples: int = 1000) -> tuple[float, float]:
    """95% percentile bootstrap of a mean over tasks, items resampled within each task (Efron & Tibshirani 1993)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for values in per_task:
        array = np.asarray(values, dtype=np.float64)
        means += array[rng.integers(0, len(array), size=(resamples, len(array)))].mean(axis=1)
    low, high = np.percentile(means / len(per_task), [2.5, 97.5])
    return float(low), float(high)


def format_cell(cell: Cell | None) -> str:
    if cell is None:
        return "n/a"
    if cell.signed:
        text = f"{100 * cell.value:+.1f}"
        return text + (f" [{100 * cell.ci[0]:+.1f}, {100 * cell.ci[1]:+.1f}]" if cell.ci is not None else "")
    text = f"{100 * cell.value:.1f}"
    if cell.ci is not None:
        text += f" [{100 * cell.ci[0]:.1f}, {100 * cell.ci[1]:.1f}]"
    return text + ("†" if cell.tasks < cell.of else "")


