"""A HeartAgent dataset opened for evaluation: items per split, signals, images, targets.

Everything is read lazily and cached: a bench run over the test split never loads
the train QA unless a floor (majority, blind) asks for it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.errors import DatasetLayoutError

SPLITS = ("train", "valid", "test")


class BenchDataset:
    """dataset: a folder written by `heartcare agent build` (dataset.json + qa/ + records.parquet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        card = self.path / "dataset.json"
        if not self.path.is_dir():
            raise DatasetLayoutError(self.path, "no such dataset folder")
        if not card.is_file():
            raise DatasetLayoutError(self.path, "not a HeartAgent dataset (no dataset.json); build one with `heartcare agent build`")
        try:
            self.card: dict[str, Any] = json.loads(card.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetLayoutError(card, f"unreadable dataset card: {error}") from error
        if "format_version" not in self.card or not (self.path / "qa").is_dir():
            raise DatasetLayoutError(self.path, "not a HeartAgent dataset (dataset.json has no format_version or qa/ is missing)")
        self._items: dict[str, list[BenchItem]] = {}
        self._arrays: dict[str, np.ndarray] = {}  # signals/*.npy memory maps (prediction contexts, targets)

    @property
    def version(self) -> str:
        return str(self.card.get("format_version"))

    def qa_file(self, split: str) -> Path:
        if split not in SPLITS:
            raise DatasetLayoutError(self.path, f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        path = self.path / "qa" / f"{split}.parquet"
        if not path.is_file():
            raise DatasetLayoutError(path, f"the dataset has no {split} split")
        return path

    def card_fingerprint(self) -> str:
        """blake2b of the card alone: the same build, whichever split (runs of several splits pool on it)."""
        return hashlib.blake2b((self.path / "dataset.json").read_bytes(), digest_size=12).hexdigest()

    def fingerprint(self, split: str) -> str:
        """blake2b of the split's QA file and the card: two runs compare only on equal prints."""
        digest = hashlib.blake2b(digest_size=12)
        digest.update((self.path / "dataset.json").read_bytes())
        with self.qa_file(split).open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def items(self, split: str) -> list[BenchItem]:
        if split not in self._items:
            import pyarrow.parquet as pq

            path = self.qa_file(split)
            try:
                rows = pq.read_table(path).to_pylist()
            except Exception as error:  # pyarrow raises several types for a damaged file
                raise DatasetLayoutError(path, f"unreadable QA table: {error}") from error
            self._items[split] = [BenchItem.from_row(row) for row in rows]
        return self._items[split]

    @cached_property
    def records(self) -> dict[str, dict[str, Any]]:
        """record_id -> records.parquet row."""
        import pyarrow.parquet as pq

        path = self.path / "records.parquet"
        if not path.is_file():
            raise DatasetLayoutError(path, "missing records table")
        return {row["record_id"]: row for row in pq.read_table(path).to_pylist()}

    def record(self, record_id: str) -> dict[str, Any]:
        try:
            return self.records[record_id]
        except KeyError:
            raise DatasetLayoutError(self.path / "records.parquet", f"no record {record_id!r}") from None

    def signal(self, record_id: str) -> tuple[np.ndarray, float]:
        """([12, samples] float32 mV, fs) of a stored record (memory-mapped shard read)."""
        from heartcare.agent.writer import load_signal

        row = self.record(record_id)
        return load_signal(self.path, row), float(row["signal_fs"])

    def image_paths(self, record_id: str) -> list[Path]:
        """The record's paper images (absolute paths), in the order the builder drew them."""
        return [self.path / relative for relative in self.record(record_id)["images"] or []]

    def prediction_context(self, item: BenchItem) -> np.ndarray:
        """[12, samples] mV at meta.fs: the signal-prediction input window (nothing after it)."""
        return self._prediction_part(item, "context")

    def prediction_target(self, item: BenchItem) -> np.ndarray:
        """[12, samples] mV at meta.fs: what a signal-prediction answer is scored against."""
        return self._prediction_part(item, "target")

    def _prediction_part(self, item: BenchItem, part: str) -> np.ndarray:
        """meta[part] is a locator {"file", "offset", "samples"} (format 2) or a [start, stop] range into the record (format 1)."""
        where = item.meta.get(part)
        if isinstance(where, dict):
            array = self._array(str(where.get("file")), item)
            start, stop = int(where["offset"]), int(where["offset"]) + int(where["samples"])
            if start < 0 or stop > array.shape[1]:
                raise DatasetLayoutError(self.path / where["file"], f"item {item.id}: {part} [{start}, {stop}) lies outside the array")
            return np.asarray(array[:, start:stop])
        if isinstance(where, list | tuple) and len(where) == 2:
            start, stop = map(int, where)
            return self.signal(item.ecgs[0].record_id)[0][:, start:stop]
        raise DatasetLayoutError(self.path, f"item {item.id}: meta.{part} is neither a locator nor a [start, stop] range")

    def _array(self, relative: str, item: BenchItem) -> np.ndarray:
        """A shard array under signals/, memory-mapped once per run."""
        if relative not in self._arrays:
            path = self.path / relative
            if not relative.startswith("signals/") or ".." in Path(relative).parts or not path.is_file():
                raise DatasetLayoutError(path, f"item {item.id}: no signal array {relative!r} in the dataset")
            self._arrays[relative] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._arrays[relative]


def prediction_samples(item: BenchItem, part: str = "target") -> int:
    """Length in samples of a signal-prediction item's target (or context), in either meta format."""
    where = item.meta[part]
    if isinstance(where, dict):
        return int(where["samples"])
    start, stop = where
    return int(stop) - int(start)
