"""Optimizer (paper's HeartAgent stage 3): resample -> denoise -> quality window.

Uses `heartcare.ecg.preprocess` (polyphase resampling, zero-phase filters) and, when
present, `heartcare.ecg.quality.best_window`; otherwise keeps the first window.
"""

from __future__ import annotations

import numpy as np

from heartcare.ecg.record import Ecg


def _best_window(ecg: Ecg, seconds: float) -> Ecg:
    if ecg.seconds <= seconds:
        return ecg
    try:
        from heartcare.ecg.quality import best_window
    except ImportError:  # quality scoring not available: the first window is PTB-XL's whole record
        return ecg.crop(0.0, seconds)
    return best_window(ecg, seconds)


def optimize(ecg: Ecg, fs: int = 250, seconds: float = 10.0) -> Ecg:
    """The record as stored: `fs` Hz, baseline wander and mains/EMG noise removed, at most
    `seconds` long. Returns Ecg with signal [12, <= seconds * fs] float32 mV."""
    from heartcare.ecg.preprocess import clean, resample

    # Resample first (polyphase, anti-aliased): the median baseline filter, the costliest
    # step, then runs on half the samples of a 500 Hz record.
    resampled = resample(ecg, fs)
    cleaned = clean(resampled, high_hz=min(100.0, 0.4 * fs))
    stored = _best_window(cleaned, seconds)
    signal = np.ascontiguousarray(stored.signal, dtype=np.float32)
    return stored.with_signal(signal)
