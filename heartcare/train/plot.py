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
    import matplotlib

    matplotlib.use("Agg")  # no display on training hosts
    import matplotlib.pyplot as plt

    log_dir, out_png = Path(log_dir), Path(out_png)
    train_path = log_dir / "train_log.csv"
    if not train_path.is_file():
        raise UnreadableFileError(train_path, "missing; nothing to plot")
    figure, axes = plt.subplots(figsize=(6, 4))
    try:
        for split, style in (("train", "-"), ("valid", "o-")):
            path = log_dir / f"{split}_log.csv"
            if path.is_file():
                steps, values = read_log(path, metric)
                if steps:
                    axes.plot(steps, values, style, label=split, markersize=4)
        axes.set_xlabel("optimiser step")
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
