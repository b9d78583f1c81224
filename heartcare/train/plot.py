"""Learning curves from a run's CSV logs (`out/logs/train_log.csv`, `valid_log.csv`)."""

from __future__ import annotations

import csv
from pathlib import Path

from heartcare.errors import UnreadableFileError


def read_log(path: Path, metric: str = "loss") -> tuple[list[int], list[float]]:
    """(steps, values) of `metric` in one CSV log; rows without it are skipped."""
    steps, values = [], []
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get(metric) not in (None, ""):
                steps.append(int(float(row["step"])))
                values.append(float(row[metric]))
    return steps, values


def plot_learning_curve(log_dir: str | Path, out_png: str | Path, metric: str = "loss") -> Path:
    """Train and validation `metric` against the optimiser step -> the PNG written."""
    return plot_learning_curves([log_dir], out_png, metric)


def chain_runs(log_dirs: list[Path], metric: str = "loss") -> list[tuple[int, dict[str, tuple[list[int], list[float]]]]]:
    """Per run: the step it starts at and its (steps, values) per split, steps continuing from the previous run."""
    chained, offset = [], 0
    for log_dir in log_dirs:
        train_path = log_dir / "train_log.csv"
        if not train_path.is_file():
            raise UnreadableFileError(train_path, "missing; nothing to plot")
        series, last = {}, offset
        for split in ("train", "valid"):
            path = log_dir / f"{split}_log.csv"
            if path.is_file():
                steps, values = read_log(path, metric)
                if steps:
                    series[split] = ([offset + step for step in steps], values)
                    last = max(last, offset + steps[-1])
        chained.append((offset, series))
        offset = last
    return chained


def plot_learning_curves(log_dirs: list[str | Path], out_png: str | Path, metric: str = "loss",
                         labels: list[str] | None = None) -> Path:
    """Consecutive runs (a warm-up, the joint stage, its continuation) drawn end to end: each run's steps
    continue from the previous run's last step, and a dotted line marks where the next one starts."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training hosts
    import matplotlib.pyplot as plt

    log_dirs, out_png = [Path(folder) for folder in log_dirs], Path(out_png)
    labels = labels or [folder.parent.name if folder.name == "logs" else folder.name for folder in log_dirs]
    chained = chain_runs(log_dirs, metric)
    figure, axes = plt.subplots(figsize=(6 if len(log_dirs) == 1 else 8, 4))
    try:
        named: set[str] = set()  # each split in the legend once
        for (offset, series), label in zip(chained, labels, strict=True):
            for split, style, colour in (("train", "-", "C0"), ("valid", "o-", "C1")):
                if split in series:
                    axes.plot(*series[split], style, color=colour, label=None if split in named else split, markersize=4)
                    named.add(split)
            if len(log_dirs) > 1:
                axes.axvline(offset, color="grey", linestyle=":", linewidth=1)
                axes.annotate(label, (offset, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                              textcoords="offset points", fontsize=8, color="grey")
        axes.set_xlabel("optimiser step" if len(log_dirs) == 1 else "optimiser step (runs end to end)")
        axes.set_ylabel(metric)
        axes.set_yscale("log" if _all_positive(axes) else "linear")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        out_png.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out_png, dpi=120)
    finally:
        plt.close(figure)
    return out_png


def _all_positive(axes) -> bool:
    """Losses span decades, so a log axis, unless a value is <= 0 (or nothing was drawn)."""
    values = [value for line in axes.get_lines() for value in line.get_ydata()]
    return bool(values) and min(values) > 0
