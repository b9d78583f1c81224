"""The report's pictures: headline metrics with intervals, and predicted vs target waveforms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.atomic import write_figure_atomic

PANELS = (("Closed / Comparison accuracy", ("closed-", "comparison-"), "accuracy"),
          ("Open-QA F1-Bio", ("open-",), "f1_bio"),
          ("Report ECG-term F1", ("report-",), "term_f1"),
          ("Signal prediction r", ("prediction-",), "pearson_r"))


def draw_figures(results_list: list[dict[str, Any]], rows: list[tuple[str, dict[str, Any]]], out: Path,
                 predictions_folder: Path | None) -> list[str]:
    """Relative paths of the figures written under out/figures (none without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    panels = [(title, prefixes, metric) for title, prefixes, metric in PANELS
              if any(name.startswith(prefixes) and metric in block["metrics"] for _, t in rows for name, block in t.items())]
    if panels:
        figure, axes = plt.subplots(len(panels), 1, figsize=(12, 3.2 * len(panels)), squeeze=False)
        for axis, (title, prefixes, metric) in zip(axes[:, 0], panels, strict=True):
            _bars(axis, rows, prefixes, metric, title)
        figure.tight_layout()
        write_figure_atomic(figure, out / "figures" / "metrics.png")
        plt.close(figure)
        written.append("figures/metrics.png")
    if predictions_folder is not None:
        overlay = _overlays(results_list[0], predictions_folder, out, plt)
        if overlay:
            written.append(overlay)
    return written


def _bars(axis, rows, prefixes, metric, title) -> None:
    names = sorted({name for _, t in rows for name, block in t.items() if name.startswith(prefixes) and metric in block["metrics"]})
    width = 0.8 / max(len(rows), 1)
    for offset, (label, tasks) in enumerate(rows):
        values, errors = [], [[], []]
        for name in names:
            entry = tasks.get(name, {}).get("metrics", {}).get(metric)
            number = np.nan if entry is None else entry["value"]
            values.append(number)
            errors[0].append(0 if entry is None else number - entry["ci"][0])
            errors[1].append(0 if entry is None else entry["ci"][1] - number)
        positions = np.arange(len(names)) + offset * width
        axis.bar(positions, values, width, yerr=np.array(errors), capsize=2, label=label)
    axis.set_xticks(np.arange(len(names)) + width * (len(rows) - 1) / 2, names, rotation=35, ha="right", fontsize=7)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, ncols=min(len(rows), 4))


def _overlays(results: dict[str, Any], folder: Path, out: Path, plt) -> str | None:
    """Up to three signal-prediction items: context tail, target and the model's waveform (lead II)."""
    from heartcare.bench.cache import AnswerCache
    from heartcare.bench.dataset import BenchDataset

    path = folder / "predictions.jsonl"
    if not path.is_file():
        return None
    chosen = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["task"].startswith("prediction-S") and record.get("waveform_samples"):
            chosen.append(record)
        if len(chosen) == 3:
            break
    if not chosen:
        return None
    dataset = BenchDataset(results["dataset"]["path"])
    items = {item.id: item for item in dataset.items(results["split"])}
    cache = AnswerCache(folder / "cache", results["model"])
    cached = cache.load()
    figure, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.4 * len(chosen)), squeeze=False)
    lead = 1  # lead II, the usual rhythm strip
    for axis, record in zip(axes[:, 0], chosen, strict=True):
        item = items[record["id"]]
        fs = float(item.meta.get("fs", 250))
        context = dataset.prediction_context(item)[lead]
        target = dataset.prediction_target(item)[lead]
        predicted = cache.output(cached[record["id"]]).waveform[lead][: len(target)]
        tail = context[-int(2 * fs):]
        time_tail = np.arange(-len(tail), 0) / fs
        time_future = np.arange(len(target)) / fs
        axis.plot(time_tail, tail, color="black", linewidth=0.8, label="context")
        axis.plot(time_future, target, color="black", linewidth=0.8, linestyle="--", label="target")
        axis.plot(time_future, predicted, color="tab:red", linewidth=0.9, label=results["model"])
        axis.set_title(f"{record['task']} {record['id']} (lead II)", fontsize=8)
        axis.set_ylabel("mV")
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("seconds after the context")
    figure.tight_layout()
    write_figure_atomic(figure, out / "figures" / "prediction_overlays.png")
    plt.close(figure)
    return "figures/prediction_overlays.png"
