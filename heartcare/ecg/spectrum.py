"""Frequency-domain helpers: cached Butterworth designs and batched Welch spectra.

`butterworth` designs a filter once per (order, band, rate): the design costs more
than filtering a 10-s record, and batch jobs reuse a few rates. `welch` equals
`scipy.signal.welch(data, fs, nperseg=segment, axis=1)` with its defaults (periodic
Hann window, half overlap, constant detrend per segment, one-sided density, mean over
segments) up to float rounding, without scipy's general STFT machinery, which costs
more than the FFT itself on a 10 s record; quality scoring and mains detection run
once per record of every batch job.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as scipy_signal


@lru_cache(maxsize=64)
def butterworth(order: int, cutoff: float | tuple[float, float], btype: str, fs: float) -> np.ndarray:
    """Second-order sections of a Butterworth filter (btype: lowpass, highpass, bandpass)."""
    return scipy_signal.butter(order, cutoff, btype=btype, fs=fs, output="sos")


@lru_cache(maxsize=16)
def _hann(length: int) -> np.ndarray:
    return np.hanning(length + 1)[:-1]  # periodic Hann, as scipy's welch uses


def welch(data: np.ndarray, fs: float, segment: int) -> tuple[np.ndarray, np.ndarray]:
    """data [leads, samples] -> (freqs [bins], power density [leads, bins]); segment <= samples."""
    window = _hann(segment)
    step = segment - segment // 2
    segments = np.lib.stride_tricks.sliding_window_view(data, segment, axis=1)[:, ::step]
    segments = segments - segments.mean(axis=2, keepdims=True)
    power = np.abs(np.fft.rfft(segments * window, axis=2)) ** 2  # [leads, segments, bins]
    power = power.mean(axis=1) / (fs * float((window * window).sum()))
    # One-sided: every bin but DC (and Nyquist, for an even segment) carries its mirror.
    power[:, 1 : None if segment % 2 else -1] *= 2
    return np.fft.rfftfreq(segment, 1 / fs), power
