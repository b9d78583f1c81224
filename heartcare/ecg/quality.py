"""Per-lead signal quality in 0..1 and best-window selection.

The score multiplies five simple indices, each mapped to 0..1, after the signal
quality indices of Li, Mark & Clifford (2008, Physiol. Meas. 29:15-32) and Clifford
et al. (2012, Physiol. Meas. 33:1419-1433):
- flatline: a lead that barely moves (peak-to-peak < 0.05 mV, or stuck for long runs);
- clipping: samples piled at the lead's extreme values (amplifier saturation);
- pSQI: share of 5-15 Hz (QRS) power in 5-40 Hz power; low = high-frequency noise;
- basSQI: 1 - share of 0-1 Hz power in 0-40 Hz power; low = baseline wander;
- kSQI: kurtosis; a clean ECG is peaky (kurtosis > 5), Gaussian noise sits at 3, so
  this also stands for "QRS complexes are detectable".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.ecg.spectrum import welch
from heartcare.errors import ConfigError


@dataclass(frozen=True)
class LeadQuality:
    """Quality indices per lead, each [leads] in 0..1; `score` is their product."""

    flatline: np.ndarray
    clipping: np.ndarray
    noise: np.ndarray
    baseline: np.ndarray
    kurtosis: np.ndarray

    @property
    def score(self) -> np.ndarray:
        """[leads] overall quality in 0..1."""
        return self.flatline * self.clipping * self.noise * self.baseline * self.kurtosis


def _ramp(value: np.ndarray, bad: float, good: float) -> np.ndarray:
    """0 at `bad`, 1 at `good`, linear between (works for good < bad too)."""
    return np.clip((value - bad) / (good - bad), 0.0, 1.0)


def assess(signal: np.ndarray, fs: float) -> LeadQuality:
    """Quality indices of signal [leads, n] mV sampled at fs Hz."""
    data = np.asarray(signal, dtype=np.float64)
    data = data - data.mean(axis=1, keepdims=True)
    leads, samples = data.shape
    peak_to_peak = np.ptp(data, axis=1) if samples else np.zeros(leads)

    # Flatline: tiny amplitude, or a long share of samples with no change at all.
    still = np.abs(np.diff(data, axis=1)) < 1e-4 if samples > 1 else np.ones((leads, 1), bool)
    flatline = _ramp(peak_to_peak, 0.02, 0.1) * _ramp(still.mean(axis=1), 0.8, 0.4)

    # Clipping: a real ECG visits its extremes for a few samples, a saturated one sits there.
    tolerance = 0.002 * np.maximum(peak_to_peak, 1e-9)[:, None]
    at_extreme = (data >= data.max(axis=1, keepdims=True) - tolerance) | (
        data <= data.min(axis=1, keepdims=True) + tolerance
    )
    clipping = _ramp(at_extreme.mean(axis=1), 0.05, 0.01)

    noise = np.ones(leads)
    baseline = np.ones(leads)
    if samples >= int(fs) and fs > 80:
        segment = min(samples, int(fs * 4))
        freqs, power = welch(data, fs, segment)
        band = lambda low, high: power[:, (freqs >= low) & (freqs <= high)].sum(axis=1) + 1e-12  # noqa: E731
        qrs_share = band(5, 15) / band(5, 40)
        noise = _ramp(qrs_share, 0.2, 0.45)
        wander_share = band(0, 1) / band(0, 40)
        baseline = _ramp(1 - wander_share, 0.5, 0.85)

    centred = data / (data.std(axis=1, keepdims=True) + 1e-12)
    squared = centred * centred  # not centred**4: float pow is ~20x slower
    kurtosis = (squared * squared).mean(axis=1)
    kurtosis_score = _ramp(kurtosis, 3.0, 5.0)
    return LeadQuality(flatline, clipping, noise, baseline, kurtosis_score)


def lead_quality(ecg: Ecg) -> np.ndarray:
    """[leads] quality score in 0..1; zero-filled (unrecorded) leads score 0."""
    score = assess(ecg.signal, ecg.fs).score
    return np.where(ecg.lead_mask, score, 0.0)


def record_quality(ecg: Ecg) -> float:
    """One number for the record: mean quality over the recorded leads."""
    scores = lead_quality(ecg)[ecg.lead_mask]
    return float(scores.mean()) if scores.size else 0.0


def best_window(ecg: Ecg, seconds: float, step_seconds: float = 0.5) -> Ecg:
    """The `seconds`-long stretch with the highest mean quality over recorded leads.

    A record no longer than `seconds` is returned whole. Ties keep the latest window,
    since Beat reads from the right.
    """
    if not seconds > 0:
        raise ConfigError(ecg.name, f"window length must be positive, got {seconds} s")
    length = int(round(seconds * ecg.fs))
    if ecg.samples <= length:
        return ecg
    step = max(1, int(round(step_seconds * ecg.fs)))
    starts = list(range(0, ecg.samples - length + 1, step))
    if starts[-1] != ecg.samples - length:
        starts.append(ecg.samples - length)
    mask = ecg.lead_mask
    best_start, best_score = starts[-1], -1.0
    for start in reversed(starts):
        score = assess(ecg.signal[:, start : start + length], ecg.fs).score
        value = float(score[mask].mean()) if mask.any() else 0.0
        if value > best_score + 1e-9:
            best_start, best_score = start, value
    window = ecg.signal[:, best_start : best_start + length]
    return ecg.with_signal(
        window, window_start_s=best_start / ecg.fs, window_quality=round(best_score, 4)
    )
