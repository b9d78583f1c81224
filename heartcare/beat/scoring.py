"""The windows `encode_ecg` produces, each with the samples that follow it: what `beat eval` scores.

A record is prepared as for encoding (model rate, cleaned, normalised over the whole
record) and cut right-to-left by the same `segment_windows`, so its first window keeps
its left padding: scores cover exactly the windows an LLM receives. Reconstruction is
scored on real samples only (decoding drops the padding); a forecast is scored where a
whole horizon of the record follows the window (not after the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heartcare.beat.config import BeatConfig
from heartcare.beat.data import Split, normalize_window
from heartcare.beat.files import PreparedRecord, prepare_record
from heartcare.ecg.record import Ecg


@dataclass
class ScoringWindows:
    """signal [N, leads, context + horizon] normalised (the future part zero where none
    follows), lead_mask [N, leads], padding [N] zero samples starting each context,
    has_future [N] bool, scales [N] the std (mV) each record was divided by."""

    signal: np.ndarray
    lead_mask: np.ndarray
    padding: np.ndarray
    has_future: np.ndarray
    scales: np.ndarray
    record_ids: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.signal)


def windows_of_record(record: PreparedRecord, config: BeatConfig, record_id: str = "") -> ScoringWindows:
    """A prepared record -> its encoding windows (the same cut as `Beat.segment`) and futures."""
    import torch

    from heartcare.beat.model import segment_windows

    signal = torch.from_numpy(np.ascontiguousarray(record.signal, dtype=np.float32))[None]  # (1, L, S)
    contexts, count, padding = segment_windows(signal, config.context)
    # The record as segmentation sees it (left-padded), plus room for the last window's future.
    extended = torch.nn.functional.pad(signal[0], (padding, config.horizon)).numpy()
    starts = np.arange(count) * config.context
    futures = np.stack([extended[:, start + config.context : start + config.context + config.horizon] for start in starts])
    real_end = padding + record.signal.shape[1]
    return ScoringWindows(
        signal=np.concatenate([contexts.numpy(), futures], axis=2),
        lead_mask=np.repeat(np.asarray(record.lead_mask, bool)[None], count, axis=0),
        padding=np.clip(padding - starts, 0, config.context).astype(np.int64),
        has_future=starts + config.context + config.horizon <= real_end,
        scales=np.full(count, record.stats.std, np.float32),
        record_ids=[record_id] * count,
    )


def windows_of_ecg(ecg: Ecg, config: BeatConfig) -> ScoringWindows:
    """One ECG (any rate, length, lead set) -> the windows `encode_ecg` encodes, with futures."""
    return windows_of_record(prepare_record(ecg, config), config, str(ecg.meta.get("record_id") or ecg.name))


def concatenate(parts: list[ScoringWindows]) -> ScoringWindows:
    """Windows of many records, in order."""
    return ScoringWindows(
        signal=np.concatenate([p.signal for p in parts]),
        lead_mask=np.concatenate([p.lead_mask for p in parts]),
        padding=np.concatenate([p.padding for p in parts]),
        has_future=np.concatenate([p.has_future for p in parts]),
        scales=np.concatenate([p.scales for p in parts]),
        record_ids=[i for p in parts for i in p.record_ids],
        skipped=[s for p in parts for s in p.skipped],
    )


def load_scoring_windows(root: str | Path, split: Split, config: BeatConfig, cache_dir: str | Path | None = None,
                         limit: int | None = None) -> ScoringWindows:
    """The encoding windows of every record of a split of a PTB-XL-layout folder (records cached)."""
    from heartcare.beat.crops import load_records

    records = load_records(root, split, config, cache_dir=cache_dir, limit=limit)
    total = records.signal.shape[2]
    parts = []
    for row, record_id in enumerate(records.record_ids):
        mask = records.lead_mask[row]
        raw = records.signal[row, :, total - int(records.lengths[row]) :] * mask[:, None]
        # As `prepare_record` does after resampling and cleaning (the cache holds that).
        signal, stats = normalize_window(raw)
        prepared = PreparedRecord(signal * mask[:, None], stats, [], mask, record_id)
        parts.append(windows_of_record(prepared, config, record_id))
    result = concatenate(parts)
    result.skipped = list(records.skipped)
    return result
