"""Beat's view of a signal: normalisation and right-to-left windows.

Beat (Heartcare Suite, arXiv 2506.05831) reads 250 Hz signals in windows of 1000
samples; a longer signal is cut from the right end backwards, so the most recent
samples always fill a whole window and only the leftmost piece is zero-padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heartcare.errors import ConfigError, InvalidSignalError

BEAT_FS = 250
BEAT_CONTEXT = 1000
BEAT_HORIZON = 500


@dataclass(frozen=True)
class NormalizationStats:
    """What `normalize_beat` removed: means [leads] mV and one std over all leads (mV)."""

    means: np.ndarray
    std: float


def normalize_beat(signal: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, NormalizationStats]:
    """Per-lead mean removal, then division by one std over all leads.

    signal: [leads, n] mV -> ([leads, n] float32 unitless, stats). One shared std
    keeps the leads' relative amplitudes (which carry the axis and voltage criteria).
    All-zero (unrecorded) leads are left out of the std so they do not shrink it.
    """
    data = np.asarray(signal, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] == 0:
        raise InvalidSignalError(
            None, f"normalize_beat expects [leads, samples], got shape {data.shape}"
        )
    means = data.mean(axis=1)
    centred = data - means[:, None]
    live = np.any(data != 0, axis=1)
    std = float(centred[live].std()) if live.any() else 0.0
    if std < eps:
        std = 1.0  # a flat input stays flat instead of blowing up
    return (centred / std).astype(np.float32), NormalizationStats(means.astype(np.float32), std)


def denormalize_beat(signal: np.ndarray, stats: NormalizationStats) -> np.ndarray:
    """Inverse of `normalize_beat`: [leads, n] unitless -> [leads, n] mV."""
    return (np.asarray(signal, dtype=np.float32) * stats.std + stats.means[:, None]).astype(
        np.float32
    )


def segment(signal: np.ndarray, length: int = BEAT_CONTEXT) -> np.ndarray:
    """Right-to-left windows: [leads, n] -> [ceil(n / length), leads, length], time order.

    The last window ends at the last sample; the leftmost one is left-padded with
    zeros when n is not a multiple of `length`.
    """
    data = np.asarray(signal)
    if data.ndim != 2:
        raise InvalidSignalError(None, f"segment expects [leads, samples], got shape {data.shape}")
    if length <= 0:
        raise ConfigError(None, f"window length must be positive, got {length}")
    leads, samples = data.shape
    count = max(1, -(-samples // length))
    padding = count * length - samples
    padded = np.pad(data, ((0, 0), (padding, 0))) if padding else data
    return padded.reshape(leads, count, length).transpose(1, 0, 2).copy()


def padding_of(samples: int, length: int = BEAT_CONTEXT) -> int:
    """How many zeros `segment` puts in front of a signal of `samples` samples."""
    count = max(1, -(-samples // length))
    return count * length - samples


def unsegment(windows: np.ndarray, samples: int) -> np.ndarray:
    """Inverse of `segment`: [count, leads, length] -> [leads, samples] (padding dropped)."""
    count, leads, length = windows.shape
    joined = windows.transpose(1, 0, 2).reshape(leads, count * length)
    return joined[:, count * length - samples :]
