"""Training logs: CSV files always, TensorBoard too when it is installed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from heartcare.atomic import write_atomic


class MetricLog:
    """Appends rows of scalars to `<directory>/<split>_log.csv` (header from the first row)."""

    def __init__(self, directory: Path, tensorboard: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
            except ImportError:
                pass
            else:
                self.writer = SummaryWriter(str(self.directory / "tensorboard"))

    def write(self, split: str, step: int, values: dict[str, float]) -> None:
        path = self.directory / f"{split}_log.csv"
        row = {"step": step, **values}
        exists = path.is_file() and path.stat().st_size > 0
        if exists:
            with path.open(newline="") as handle:
                header = next(csv.reader(handle), list(row))
        else:
            header = list(row)
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
            if not exists:
                writer.writeheader()
            writer.writerow(row)
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{split}/{name}", value, step)
            self.writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step`: they are replayed when resuming from an older checkpoint,
        and a fresh run (step 0) into a used folder starts its logs clean."""
        for path in self.directory.glob("*_log.csv"):
            with path.open(newline="") as handle:
                rows = list(csv.reader(handle))
            if not rows:
                continue
            kept = [rows[0]] + [row for row in rows[1:] if row and int(float(row[0])) <= step]
            buffer = io.StringIO(newline="")
            csv.writer(buffer).writerows(kept)
            write_atomic(path, buffer.getvalue())  # never half a log if interrupted here
