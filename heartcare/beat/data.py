"""Beat training windows from any PTB-XL-layout folder (real PTB-XL or the simulated cohort).

Per record: resample to 250 Hz, clean, pick the best-quality 6-s stretch
(4 s context + 2 s target), then Beat-normalise: remove each lead's mean and
divide all leads by one global std, both taken from the context part only (the
target must not leak into the input statistics). Windows are cached per split
as safetensors + JSON so repeated runs skip the signal processing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.beat.config import BeatConfig
from heartcare.ecg.record import Ecg
from heartcare.ecg.windows import NormalizationStats, normalize_beat
from heartcare.errors import DatasetLayoutError, HeartcareError

Split = Literal["train", "valid", "test"]
# PTB-XL's recommended split: strat_fold 1-8 train, 9 validation, 10 test.
SPLIT_FOLDS: dict[str, list[int]] = {"train": [1, 2, 3, 4, 5, 6, 7, 8], "valid": [9], "test": [10]}
CACHE_VERSION = 1


def normalize_window(signal: np.ndarray, reference: int | None = None) -> tuple[np.ndarray, NormalizationStats]:
    """Beat normalisation (`heartcare.ecg.windows.normalize_beat`) with statistics
    taken from the first `reference` samples only (all when None) and applied to all.

    signal: [leads, samples] mV -> ([leads, samples] float32, stats). Using the
    context's statistics keeps the prediction target out of the input scaling.
    """
    _, stats = normalize_beat(signal[:, :reference] if reference else signal)
    return ((signal - stats.means[:, None]) / stats.std).astype(np.float32), stats


def to_model_rate(ecg: Ecg, config: BeatConfig) -> Ecg:
    """Resample to the model's rate and clean (baseline, band-pass, notch)."""
    from heartcare.ecg import preprocess

    ecg = preprocess.resample(ecg, config.fs)
    return preprocess.clean(ecg)


def prepare_window(ecg: Ecg, config: BeatConfig, length: int | None = None) -> tuple[np.ndarray, np.ndarray, NormalizationStats]:
    """One record -> (window [leads, length] normalised, lead mask [leads], stats).

    length defaults to context + horizon; the best-quality stretch is chosen and a
    too-short record is left-padded with zeros (as Beat segments).
    """
    from heartcare.ecg.quality import best_window

    length = length or config.context + config.horizon
    ecg = to_model_rate(ecg, config)
    if ecg.samples > length:
        ecg = best_window(ecg, length / config.fs)
    signal = ecg.signal[:, -length:]
    if signal.shape[1] < length:
        signal = np.pad(signal, ((0, 0), (length - signal.shape[1], 0)))
    mask = ecg.lead_mask.copy()
    signal = signal * mask[:, None]
    window, stats = normalize_window(signal, reference=min(config.context, length))
    return window * mask[:, None], mask, stats


@dataclass
class WindowSet:
    """Windows of one split: signal [N, leads, context + horizon] normalised, lead_mask [N, leads]."""

    signal: np.ndarray
    lead_mask: np.ndarray
    record_ids: list[str]
    skipped: list[dict] = field(default_factory=list)
    scales: np.ndarray | None = None  # [N] the global std (mV) each window was divided by

    def __len__(self) -> int:
        return len(self.record_ids)

    def tensors(self) -> dict:
        """The dict-of-tensors form the training loop takes."""
        import torch

        return {"signal": torch.from_numpy(self.signal), "lead_mask": torch.from_numpy(self.lead_mask)}


def _cache_path(root: Path, split: str, config: BeatConfig, cache_dir: Path | None, limit: int | None) -> Path:
    key = json.dumps([CACHE_VERSION, str(root.resolve()), split, config.fs, config.context, config.horizon, limit])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    folder = cache_dir or root / ".heartcare_cache" / "beat"
    return folder / f"{split}-{config.context}-{config.horizon}-{digest}.safetensors"


def load_windows(
    root: str | Path,
    split: Split,
    config: BeatConfig,
    cache_dir: str | Path | None = None,
    limit: int | None = None,
    source_fs: int = 500,
) -> WindowSet:
    """All windows of a split of a PTB-XL-layout folder (cached); bad records are skipped and listed."""
    from safetensors.numpy import load_file, save

    root = Path(root)
    if split not in SPLIT_FOLDS:
        raise DatasetLayoutError(root, f"unknown split {split!r}; choose from {sorted(SPLIT_FOLDS)}")
    if not (root / "ptbxl_database.csv").is_file():
        raise DatasetLayoutError(root, "no ptbxl_database.csv: not a PTB-XL-layout folder")
    path = _cache_path(root, split, config, Path(cache_dir) if cache_dir else None, limit)
    if path.is_file():
        arrays = load_file(str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
        return WindowSet(arrays["signal"], arrays["lead_mask"].astype(bool), meta["record_ids"], meta["skipped"], arrays["scales"])
    from heartcare.sources.ptbxl import PtbXlDataset

    dataset = PtbXlDataset(root, fs=source_fs, folds=SPLIT_FOLDS[split])
    windows, masks, ids, skipped, scales = [], [], [], [], []
    for index, record in enumerate(dataset):
        if limit is not None and index >= limit:
            break
        record_id = str(record.ecg.meta.get("record_id", index))
        try:
            window, mask, stats = prepare_window(record.ecg, config)
        except HeartcareError as error:
            skipped.append({"record_id": record_id, "reason": str(error)})
            continue
        windows.append(window)
        masks.append(mask)
        ids.append(record_id)
        scales.append(stats.std)
    skipped += [{"record_id": str(s.record_id), "reason": str(s.reason)} for s in getattr(dataset, "skipped", [])]
    if not windows:
        raise DatasetLayoutError(root, f"no usable records in split {split!r} (folds {SPLIT_FOLDS[split]})")
    result = WindowSet(np.stack(windows).astype(np.float32), np.stack(masks).astype(bool), ids, skipped,
                       np.asarray(scales, dtype=np.float32))
    # The sidecar first: the tensors file appearing is what marks the cache complete.
    write_atomic(path.with_suffix(".json"), json.dumps({"record_ids": ids, "skipped": skipped}))
    write_atomic(path, save({"signal": result.signal, "lead_mask": result.lead_mask.astype(np.uint8),
                             "scales": result.scales}))
    return result
