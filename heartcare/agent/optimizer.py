"""Optimizer (paper's HeartAgent stage 3): resample -> denoise -> quality window.

Uses `heartcare.ecg.preprocess` (polyphase resampling, zero-phase filters) and
`heartcare.ecg.quality.best_window` when present (otherwise the first window).

Speed: this runs once per record of a 400k-item build, so the two per-call costs
that do not depend on the record are paid once per rate: the Butterworth design
(`butter` takes longer than filtering 10 s of 12 leads) is cached, and mains
detection uses one numpy Welch estimate instead of scipy's general STFT machinery.
Both give what `preprocess.bandpass` / `preprocess.detect_mains` give (same filter
coefficients, same Welch spectrum up to float rounding).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from heartcare.ecg.record import Ecg

BASELINE_HZ = 0.5  # the usual diagnostic high-pass corner (AHA), removes wander and drift
FILTER_ORDER = 2  # `preprocess.bandpass`'s default
MAINS_SCORE = 20.0  # `preprocess.detect_mains`: a line frequency 20x above its neighbourhood


def _best_window(ecg: Ecg, seconds: float) -> Ecg:
    if ecg.seconds <= seconds:
        return ecg
    try:
        from heartcare.ecg.quality import best_window
    except ImportError:  # quality scoring not available: keep the first window
        return ecg.crop(0.0, seconds)
    return best_window(ecg, seconds)


@lru_cache(maxsize=32)
def _band_sos(fs: float, low: float, high: float | None) -> np.ndarray:
    """Second-order sections of the band-pass `preprocess.bandpass(low, high)` designs at `fs`."""
    from scipy import signal as scipy_signal

    if high is None or high >= 0.95 * fs / 2:  # nothing to remove near Nyquist: high-pass only
        return scipy_signal.butter(FILTER_ORDER, low, btype="highpass", fs=fs, output="sos")
    return scipy_signal.butter(FILTER_ORDER, [low, high], btype="bandpass", fs=fs, output="sos")


def band_filter(ecg: Ecg, low: float, high: float | None) -> Ecg:
    """Zero-phase Butterworth band-pass, [leads, n] -> [leads, n]; `preprocess.bandpass` with a cached design."""
    from scipy import signal as scipy_signal

    sos = _band_sos(float(ecg.fs), float(low), None if high is None else float(high))
    padlen = min(3 * (2 * len(sos) + 1) * 2, ecg.samples - 1)  # short records get a shorter pad
    if padlen < 1:
        return ecg
    filtered = scipy_signal.sosfiltfilt(sos, ecg.signal.astype(np.float64), axis=-1, padlen=padlen)
    return ecg.with_signal(filtered.astype(np.float32))


@lru_cache(maxsize=8)
def _hann(length: int) -> np.ndarray:
    return np.hanning(length + 1)[:-1]  # periodic Hann, what scipy's welch uses


def mains_frequency(ecg: Ecg) -> float | None:
    """50 or 60 when that line frequency stands out of the spectrum, else None.

    `preprocess.detect_mains`'s rule on the same Welch estimate (Hann segments of 2 s,
    half overlap, mean removed per segment), computed with one batched FFT.
    """
    if ecg.fs <= 130 or ecg.seconds < 1:
        return None
    length = min(ecg.samples, int(ecg.fs * 2))
    segments = np.lib.stride_tricks.sliding_window_view(ecg.signal, length, axis=1)[:, :: length - length // 2]
    segments = segments - segments.mean(axis=2, keepdims=True)
    power = np.abs(np.fft.rfft(segments * _hann(length), axis=2)) ** 2  # [leads, segments, bins]
    total = power.mean(axis=1).sum(axis=0)  # the constant density scale cancels in the ratio below
    freqs = np.fft.rfftfreq(length, 1 / ecg.fs)
    scores = {}
    for mains in (50.0, 60.0):
        peak = total[np.abs(freqs - mains) <= 1.0].max(initial=0.0)
        around = total[(np.abs(freqs - mains) > 3) & (np.abs(freqs - mains) < 10)]
        scores[mains] = peak / (np.median(around) + 1e-12) if around.size else 0.0
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > MAINS_SCORE else None


def optimize(ecg: Ecg, fs: int = 250, seconds: float = 10.0) -> Ecg:
    """The record as stored: `fs` Hz, baseline wander and mains/EMG noise removed, at most
    `seconds` long. Returns Ecg with signal [12, <= seconds * fs] float32 mV.

    A zero-phase 0.5 Hz high-pass stands in for `clean`'s median baseline filter: it
    removes the same wander at a tenth of the cost, which matters at 400k-item scale.
    """
    from heartcare.ecg.preprocess import notch, resample

    # Resample first (polyphase, anti-aliased) so every filter runs on the smaller array.
    resampled = resample(ecg, fs)
    filtered = band_filter(resampled, low=BASELINE_HZ, high=min(100.0, 0.4 * fs))
    mains = mains_frequency(filtered)
    if mains is not None and mains < 0.5 * fs:
        filtered = notch(filtered, mains)
    stored = _best_window(filtered, seconds)
    return stored.with_signal(np.ascontiguousarray(stored.signal, dtype=np.float32))
