"""Multi-lead R-peak (QRS) detection on a combined slope-energy signal.

After Pan & Tompkins (1985, IEEE TBME 32(3):230-236): band-pass 5-25 Hz, differentiate,
square, integrate over ~100 ms, then peaks above an adaptive threshold with a
refractory period and a search-back for missed beats. Squared slopes are summed over
all usable leads (weighted by their quality), so one noisy or flat lead cannot hide a
beat, as multi-lead machines do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as scipy_signal

from heartcare.ecg.spectrum import butterworth

REFRACTORY_S = 0.25  # 240 bpm: faster rhythms are flutter waves or noise
INTEGRATION_S = 0.10
THRESHOLD_FRACTION = 0.25
SEARCH_BACK_FRACTION = 0.12
T_WAVE_WINDOW_S = 0.36
T_WAVE_ENERGY_RATIO = 0.3  # slope ratio ~0.55
RECURRING_T_WAVE_RATIO = 0.8


@dataclass(frozen=True)
class QrsDetection:
    """R-peak sample indices [beats] (time order) and the combined energy [samples]."""

    peaks: np.ndarray
    energy: np.ndarray
    fs: float = 500.0

    @property
    def positions(self) -> np.ndarray:
        """[beats] sub-sample beat times in samples: the centroid of slope energy within
        +- 50 ms of each peak. Steadier than the argmax, which can hop between the up-
        and down-stroke of an R wave, and not quantised to whole samples at 100-250 Hz."""
        half = max(1, int(round(0.05 * self.fs)))
        offsets = np.arange(-half, half + 1)
        index = np.clip(self.peaks[:, None] + offsets[None, :], 0, self.energy.size - 1)
        weights = self.energy[index]
        total = weights.sum(axis=1)
        centroid = (weights * index).sum(axis=1) / np.where(total > 0, total, 1.0)
        return np.where(total > 0, centroid, self.peaks.astype(np.float64))

    @property
    def rr_samples(self) -> np.ndarray:
        """[beats - 1] intervals between consecutive peaks, in samples."""
        return np.diff(self.peaks)


def slope_energy(signal: np.ndarray, fs: float, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum over leads of the squared 5-25 Hz slope: [leads, n] mV -> [n] (mV/s)^2."""
    data = np.asarray(signal, dtype=np.float64)
    high = min(25.0, 0.45 * fs)
    sos = butterworth(2, (5.0, high), "bandpass", float(fs))
    padlen = min(15, data.shape[1] - 1)
    filtered = scipy_signal.sosfiltfilt(sos, data, axis=1, padlen=padlen) if padlen > 0 else data
    slope = np.gradient(filtered, axis=1) * fs
    if weights is None:
        weights = np.ones(data.shape[0])
    return np.einsum("l,ln->n", np.asarray(weights, dtype=np.float64), slope**2)


def detect_qrs(signal: np.ndarray, fs: float, weights: np.ndarray | None = None) -> QrsDetection:
    """R-peak sample indices of signal [leads, n] mV at fs Hz (may be empty).

    Each peak is placed at the largest instantaneous slope energy inside its QRS, a
    fiducial point that stays put from beat to beat, which is what median beats need.
    """
    data = np.asarray(signal, dtype=np.float64)
    samples = data.shape[1]
    if samples < max(8, int(0.3 * fs)):
        return QrsDetection(np.zeros(0, dtype=np.int64), np.zeros(samples), fs)
    energy = slope_energy(data, fs, weights)
    width = max(1, int(round(INTEGRATION_S * fs)))
    envelope = np.convolve(energy, np.ones(width) / width, mode="same")
    refractory = max(1, int(round(REFRACTORY_S * fs)))
    candidates, properties = scipy_signal.find_peaks(envelope, distance=refractory, height=0)
    if candidates.size == 0:
        return QrsDetection(np.zeros(0, dtype=np.int64), energy, fs)
    heights = properties["peak_heights"]
    # A high percentile, not the maximum: one artefact spike must not raise the bar for all.
    reference = np.percentile(heights, 90) if heights.size >= 5 else heights.max()
    if reference <= 0:
        return QrsDetection(np.zeros(0, dtype=np.int64), energy, fs)
    keep = heights >= THRESHOLD_FRACTION * reference
    peaks = candidates[keep]
    peaks = _search_back(peaks, candidates, heights, reference, refractory)
    # Partial QRS at the record edges: smoothing halves their energy; drop ones that are weak.
    peaks = peaks[(peaks >= width // 2) | (envelope[peaks] >= 0.5 * reference)]
    fiducials = _refine(peaks, energy, int(round(0.06 * fs)))
    fiducials = _drop_t_waves(fiducials, energy, int(round(T_WAVE_WINDOW_S * fs)))
    fiducials = np.unique(fiducials)
    if fiducials.size > 1:
        # Refinement can pull two detections of one wide QRS together; keep the stronger.
        close = np.diff(fiducials) < refractory * 0.6
        if close.any():
            drop = [
                i + 1 if energy[fiducials[i]] >= energy[fiducials[i + 1]] else i
                for i in np.where(close)[0]
            ]
            fiducials = np.delete(fiducials, drop)
    return QrsDetection(fiducials.astype(np.int64), energy, fs)


def _search_back(
    peaks: np.ndarray,
    candidates: np.ndarray,
    heights: np.ndarray,
    reference: float,
    refractory: int,
) -> np.ndarray:
    """Re-admit weaker candidates inside gaps longer than 1.66 median RR (Pan-Tompkins)."""
    if peaks.size < 3:
        return peaks
    median_rr = np.median(np.diff(peaks))
    added = []
    for left, right in zip(peaks[:-1], peaks[1:], strict=True):
        if right - left <= 1.66 * median_rr:
            continue
        inside = (candidates > left + refractory) & (candidates < right - refractory)
        inside &= heights >= SEARCH_BACK_FRACTION * reference
        if inside.any():
            added.append(candidates[inside][np.argmax(heights[inside])])
    return (
        np.sort(np.concatenate([peaks, np.asarray(added, dtype=peaks.dtype)])) if added else peaks
    )


def _drop_t_waves(peaks: np.ndarray, energy: np.ndarray, window: int) -> np.ndarray:
    """Drop detections of T waves (Pan-Tompkins' T-wave discrimination, energy = slope^2).

    A detection within `window` of the previous beat is a T wave when its steepest slope
    is much gentler, or when such weaker early detections recur after most beats (a
    steep T wave, as in bundle-branch block, detected beat after beat).
    """
    if peaks.size < 2:
        return peaks
    short = np.zeros(peaks.size, dtype=bool)
    short[1:] = np.diff(peaks) < window
    ratio = np.ones(peaks.size)
    ratio[1:] = energy[peaks[1:]] / np.maximum(energy[peaks[:-1]], 1e-12)
    drop = short & (ratio < T_WAVE_ENERGY_RATIO)
    recurring = short & (ratio < RECURRING_T_WAVE_RATIO)
    if recurring.sum() >= 0.3 * peaks.size:
        drop |= recurring
    return peaks[~drop]


def _refine(peaks: np.ndarray, energy: np.ndarray, half_window: int) -> np.ndarray:
    """Move each envelope peak to the energy maximum within +- half_window samples."""
    refined = np.empty_like(peaks)
    for index, peak in enumerate(peaks):
        start, stop = max(0, peak - half_window), min(energy.size, peak + half_window + 1)
        refined[index] = start + int(np.argmax(energy[start:stop]))
    return refined
