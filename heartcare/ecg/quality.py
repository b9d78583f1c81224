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


STRETCH_S = 0.5  # local check: half-second stretches (see `window_score`)
NOISE_BURST_FACTOR = 5.0  # a stretch this many times busier than the record's typical one is a noise burst
FLAT_STRETCH_S = 2.0  # longer than any pause between beats above 30 bpm
FLAT_MV = 0.02


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


def _stretch_activity(signal: np.ndarray, fs: float) -> np.ndarray:
    """[leads, stretches] mean absolute sample-to-sample change (mV) per STRETCH_S stretch."""
    width = max(2, int(round(STRETCH_S * fs)))
    count = signal.shape[1] // width
    if count == 0:
        return np.abs(np.diff(signal, axis=1)).mean(axis=1, keepdims=True) if signal.shape[1] > 1 else np.zeros((signal.shape[0], 1))
    steps = np.abs(np.diff(signal[:, : count * width], axis=1, append=signal[:, count * width - 1 : count * width]))
    return steps.reshape(signal.shape[0], count, width).mean(axis=2)


def typical_activity(signal: np.ndarray, fs: float) -> np.ndarray:
    """[leads] the record's median stretch activity: what "ordinary" looks like for each lead."""
    return np.median(_stretch_activity(np.asarray(signal, dtype=np.float64), fs), axis=1)


def defect_share(signal: np.ndarray, fs: float, reference: np.ndarray) -> np.ndarray:
    """[leads] share of the window in noise bursts (a stretch NOISE_BURST_FACTOR x busier than the
    record's typical one) or flat line (FLAT_STRETCH_S without FLAT_MV of movement)."""
    data = np.asarray(signal, dtype=np.float64)
    activity = _stretch_activity(data, fs)
    noisy = activity > NOISE_BURST_FACTOR * np.maximum(reference[:, None], 1e-6)
    share = noisy.mean(axis=1)
    width = int(round(FLAT_STRETCH_S * fs))
    count = data.shape[1] // width
    if count:
        spans = data[:, : count * width].reshape(data.shape[0], count, width)
        flat = np.ptp(spans, axis=2) < FLAT_MV
        share = np.maximum(share, flat.mean(axis=1))
    return share


def window_score(signal: np.ndarray, fs: float, mask: np.ndarray, reference: np.ndarray | None = None) -> float:
    """Quality of one window: mean `assess` score over recorded leads, lowered by the share of its
    time in noise bursts or flat line.

    `assess`'s indices are shares over the whole window and saturate: 1 s of 2 mV noise or 3 s
    of flat line in 10 s still scored like a clean window (a burst even raises kurtosis). The
    local check compares each half second with the record's typical activity (`reference`,
    from `typical_activity` of the whole record; the window's own when not given).
    """
    if not mask.any():
        return 0.0
    reference = typical_activity(signal, fs) if reference is None else reference
    score = assess(signal, fs).score * (1.0 - defect_share(signal, fs, reference))
    return float(score[mask].mean())


def best_window(ecg: Ecg, seconds: float, step_seconds: float = 0.5) -> Ecg:
    """The `seconds`-long stretch with the best `window_score` (mean quality over recorded leads,
    lowered by the time it spends in noise bursts or flat line).

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
    reference = typical_activity(ecg.signal, ecg.fs)
    best_start, best_score = starts[-1], -1.0
    for start in reversed(starts):
        value = window_score(ecg.signal[:, start : start + length], ecg.fs, mask, reference)
        if value > best_score + 1e-9:
            best_start, best_score = start, value
    window = ecg.signal[:, best_start : best_start + length]
    return ecg.with_signal(
        window, window_start_s=best_start / ecg.fs, window_quality=round(best_score, 4)
    )
