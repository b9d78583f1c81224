"""What a recording shows before conditioning: noise, drift, hum, bursts and absolute amplitude.

Beat reads a conditioned signal (baseline, band-pass and mains filters, then one scale for all
leads), so its latents cannot say whether a tracing drifted, hummed or jumped, nor how tall its
QRS complexes were in mV: the filters and the normalisation removed exactly that. These
per-lead descriptors keep it, in a fixed order, from the signal as recorded:

- the five quality indices of `heartcare.ecg.quality.assess` (flat line, clipping, pSQI,
  basSQI, kurtosis);
- log10 power (mV^2) in five bands: below 0.5 Hz (wander), 0.5-5, 5-15 (QRS), 15-40, and
  40 Hz up to 125 Hz (muscle, mains);
- mains: log10 power within 1 Hz of 50 or 60 Hz (the stronger): hum, where the 40-125 Hz band
  alone would not tell it from muscle;
- bursts: log10 of the largest over the median 1-s spread of the 0.5-5 Hz signal (a loose
  electrode moves one stretch, not the whole record);
- amplitude: log10 of the 1st-99th percentile range of the 0.5-40 Hz signal, in mV.
"""

from __future__ import annotations

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.errors import InvalidSignalError

RATE = 250.0  # descriptors are taken at the rate datasets store (any input is resampled to it)
BANDS = ((0.0, 0.5), (0.5, 5.0), (5.0, 15.0), (15.0, 40.0), (40.0, 125.0))
PER_LEAD = ("flatline", "clipping", "psqi", "bassqi", "kurtosis", *(f"log_power_{low:g}_{high:g}_hz" for low, high in BANDS),
            "log_mains_power", "log_burst_ratio", "log_amplitude_mv")
LEADS = 12
WIDTH = LEADS * len(PER_LEAD)
TINY = 1e-8  # keeps the logarithms finite on a flat (or missing) lead


def _band_limited(spectrum: np.ndarray, frequencies: np.ndarray, low: float, high: float, samples: int) -> np.ndarray:
    kept = np.where((frequencies >= low) & (frequencies < high), spectrum, 0)
    return np.fft.irfft(kept, n=samples, axis=1)


def recording_features(ecg: Ecg) -> np.ndarray:
    """[12 * 13] float32: the descriptors above, lead by lead (leads in the record's order, 12 of them)."""
    if ecg.signal.shape[0] != LEADS:
        raise InvalidSignalError(ecg.name, f"recording descriptors need the 12 standard leads, got {ecg.signal.shape[0]}")
    return lead_descriptors(ecg).reshape(-1)


def lead_descriptors(ecg: Ecg) -> np.ndarray:
    """[leads, 13] float32: the descriptors above for each lead of `ecg`, however many (a page's rhythm strip is one)."""
    from heartcare.ecg.preprocess import resample
    from heartcare.ecg.quality import assess

    ecg = resample(ecg, RATE)
    signal = np.nan_to_num(ecg.signal.astype(np.float64) * ecg.lead_mask[:, None])
    samples = signal.shape[1]
    quality = assess(signal.astype(np.float32), RATE)
    centred = signal - signal.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, axis=1)
    frequencies = np.fft.rfftfreq(samples, 1 / RATE)
    power = np.abs(spectrum) ** 2 / samples**2  # per-bin share of the mean square
    last = len(BANDS) - 1  # the top band keeps the Nyquist bin
    bands = [power[:, (frequencies >= low) & ((frequencies < high) | (index == last))].sum(axis=1)
             for index, (low, high) in enumerate(BANDS)]
    mains = np.max([power[:, np.abs(frequencies - hz) <= 1.0].sum(axis=1) for hz in (50.0, 60.0)], axis=0)
    slow = _band_limited(spectrum, frequencies, 0.5, 5.0, samples)
    second = int(RATE)
    spreads = np.stack([slow[:, start : start + second].std(axis=1) for start in range(0, max(samples - second, 0) + 1, second)], axis=1)
    bursts = spreads.max(axis=1) / (np.median(spreads, axis=1) + TINY)
    clean = _band_limited(spectrum, frequencies, 0.5, 40.0, samples)
    amplitude = np.percentile(clean, 99, axis=1) - np.percentile(clean, 1, axis=1)
    columns = [quality.flatline, quality.clipping, quality.noise, quality.baseline, quality.kurtosis,
               *(np.log10(band + TINY) for band in bands), np.log10(mains + TINY),
               np.log10(bursts + TINY), np.log10(amplitude + TINY)]
    return np.stack(columns, axis=1).astype(np.float32)
