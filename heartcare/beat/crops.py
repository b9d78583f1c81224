"""Random-offset training crops: many (context, target) windows per record per epoch.

`load_windows` gives one quality-chosen 6-s window per record, which is what
evaluation uses. For training, a 10-s record holds many more: `load_records`
caches every record once, resampled to 250 Hz and cleaned (in mV), and
`RecordCrops` turns a batch of record indices into freshly cropped,
Beat-normalised windows at random offsets. Offsets come from a generator seeded
by the training step, so a resumed run draws exactly the crops a straight run would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.beat.config import BeatConfig
from heartcare.beat.data import SPLIT_FOLDS, Split, to_model_rate
from heartcare.errors import DatasetLayoutError, HeartcareError

RECORD_CACHE_VERSION = 1


@dataclass
class RecordSet:
    """Whole records of one split at the model's rate: signal [N, leads, S] mV (right-aligned,
    left-padded with zeros when shorter than S), lengths [N] real samples, lead_mask [N, leads]."""

    signal: np.ndarray
    lengths: np.ndarray
    lead_mask: np.ndarray
    record_ids: list[str]
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.record_ids)


def _record_cache_path(root: Path, split: str, config: BeatConfig, cache_dir: Path | None, limit: int | None) -> Path:
    key = json.dumps([RECORD_CACHE_VERSION, str(root.resolve()), split, config.fs, limit])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    folder = cache_dir or root / ".heartcare_cache" / "beat"
    return folder / f"records-{split}-{int(config.fs)}hz-{digest}.safetensors"


def load_records(
    root: str | Path, split: Split, config: BeatConfig, cache_dir: str | Path | None = None,
    limit: int | None = None, source_fs: int = 500,
) -> RecordSet:
    """Every record of a split, resampled and cleaned once, then cached (safetensors + JSON)."""
    from safetensors.numpy import load_file, save

    root = Path(root)
    if split not in SPLIT_FOLDS:
        raise DatasetLayoutError(root, f"unknown split {split!r}; choose from {sorted(SPLIT_FOLDS)}")
    if not (root / "ptbxl_database.csv").is_file():
        raise DatasetLayoutError(root, "no ptbxl_database.csv: not a PTB-XL-layout folder")
    path = _record_cache_path(root, split, config, Path(cache_dir) if cache_dir else None, limit)
    if path.is_file():
        arrays = load_file(str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
        return RecordSet(arrays["signal"], arrays["lengths"], arrays["lead_mask"].astype(bool), meta["record_ids"], meta["skipped"])
    from heartcare.sources.ptbxl import PtbXlDataset

    dataset = PtbXlDataset(root, fs=source_fs, folds=SPLIT_FOLDS[split])
    signals, masks, ids, skipped = [], [], [], []
    for index, record in enumerate(dataset):
        if limit is not None and index >= limit:
            break
        record_id = str(record.ecg.meta.get("record_id", index))
        try:
            ecg = to_model_rate(record.ecg, config)
        except HeartcareError as error:
            skipped.append({"record_id": record_id, "reason": str(error)})
            continue
        mask = ecg.lead_mask.copy()
        signals.append((ecg.signal * mask[:, None]).astype(np.float32))
        masks.append(mask)
        ids.append(record_id)
    skipped += [{"record_id": str(s.record_id), "reason": str(s.reason)} for s in getattr(dataset, "skipped", [])]
    if not signals:
        raise DatasetLayoutError(root, f"no usable records in split {split!r} (folds {SPLIT_FOLDS[split]})")
    lengths = np.asarray([s.shape[1] for s in signals], dtype=np.int64)
    longest = int(lengths.max())
    stacked = np.zeros((len(signals), signals[0].shape[0], longest), np.float32)
    for row, signal in enumerate(signals):
        stacked[row, :, longest - signal.shape[1]:] = signal
    result = RecordSet(stacked, lengths, np.stack(masks).astype(bool), ids, skipped)
    # The sidecar first: the tensors file appearing is what marks the cache complete.
    write_atomic(path.with_suffix(".json"), json.dumps({"record_ids": ids, "skipped": skipped}))
    write_atomic(path, save({"signal": result.signal, "lengths": result.lengths,
                             "lead_mask": result.lead_mask.astype(np.uint8)}))
    return result


def normalize_batch(signal, lead_mask, reference: int, padding=None):
    """Torch twin of `normalize_window` for a batch: per-lead means and one global std of the
    first `reference` samples (recorded, non-zero leads only) applied to the whole window.

    signal: [B, leads, T] mV, lead_mask: [B, leads] bool, padding: [B] leading samples that
    are padding (None: none) -> [B, leads, T] normalised. Statistics come from real samples
    only, and padding and masked leads are exactly 0 afterwards, as when Beat's encoder
    left-pads a normalised record's first window.
    """
    import torch

    head = signal[:, :, :reference].double()
    real = torch.ones_like(head[:, :1])  # [B, 1, reference]
    if padding is not None:
        real = (torch.arange(reference, device=signal.device)[None, None, :] >= padding[:, None, None]).double()
    per_lead = real.sum(dim=2, keepdim=True).clamp_min(1.0)  # real samples per row
    means = (head * real).sum(dim=2, keepdim=True) / per_lead
    centred = (head - means) * real
    live = (lead_mask & ((head != 0) & (real > 0)).any(dim=2)).double()[:, :, None]  # [B, leads, 1]
    count = (live.sum(dim=(1, 2)) * per_lead[:, 0, 0]).clamp_min(1.0)
    # std over live leads' real samples (population std, as numpy's .std()).
    mean_live = (centred * live).sum(dim=(1, 2)) / count
    variance = (((centred - mean_live[:, None, None]) ** 2) * live * real).sum(dim=(1, 2)) / count
    std = variance.sqrt()
    std = torch.where(std < 1e-6, torch.ones_like(std), std)
    normalised = (signal.double() - means) / std[:, None, None]
    if padding is not None:
        normalised = normalised * (torch.arange(signal.shape[2], device=signal.device)[None, None, :] >= padding[:, None, None])
    return (normalised * lead_mask[:, :, None]).float()


# Share of training crops whose context starts with left padding: a 10-s record is cut
# into three 4-s windows, the first left-padded, so a third of what an LLM receives is such.
PADDED_SHARE = 1 / 3


class RecordCrops:
    """Batch transform for `heartcare.train.loop.train`: {"record": [B] indices} ->
    {"signal": [B, leads, context + horizon] normalised, "lead_mask": [B, leads],
    "padding": [B] zero samples before each context's first real one}.

    Offsets are uniform over each record's real samples; a share `padded_share` of the
    crops instead starts 1..context-1 samples before the record (zeros there, as Beat
    segments a record's first window), and a record shorter than the window is always
    used whole, left-padded.
    """

    def __init__(self, records: RecordSet, config: BeatConfig, padded_share: float = PADDED_SHARE) -> None:
        import torch

        if not 0.0 <= padded_share <= 1.0:
            raise ValueError(f"padded_share must be in [0, 1], got {padded_share}")
        self.signal = torch.from_numpy(records.signal)
        self.lengths = torch.from_numpy(records.lengths)
        self.lead_mask = torch.from_numpy(records.lead_mask)
        self.window, self.context = config.context + config.horizon, config.context
        self.padded_share = padded_share

    def index_data(self, crops_per_record: int) -> dict:
        """The loop's data: each record index repeated `crops_per_record` times per epoch."""
        import torch

        return {"record": torch.arange(len(self.lengths)).repeat(crops_per_record)}

    def __call__(self, batch: dict, generator) -> dict:
        import torch

        index = batch["record"]
        total = self.signal.shape[2]
        lengths = self.lengths[index]
        first = total - lengths  # first real sample of each row
        draws = torch.rand(3, len(index), generator=generator)
        # Unpadded: the window anywhere inside the record.
        span = (lengths - self.window + 1).clamp_min(1)
        unpadded = first + (draws[0] * span).long().clamp(max=span - 1)
        # Padded: 1..context-1 zeros, at least enough for a short record to fit whole.
        shortest = (self.window - lengths).clamp_min(1)
        longest = torch.maximum(shortest, torch.full_like(shortest, self.context - 1))
        pads = shortest + (draws[1] * (longest - shortest + 1)).long().clamp(max=longest - shortest)
        padded = (draws[2] < self.padded_share) | (lengths < self.window)
        offsets = torch.where(padded, first - pads, unpadded)
        positions = offsets[:, None] + torch.arange(self.window)[None, :]  # [B, window]
        rows = self.signal[index]  # [B, leads, total]
        crops = torch.gather(rows, 2, positions.clamp_min(0)[:, None, :].expand(-1, rows.shape[1], -1))
        padding = (first - offsets).clamp_min(0)
        mask = self.lead_mask[index]
        return {"signal": normalize_batch(crops, mask, self.context, padding), "lead_mask": mask, "padding": padding}
