"""Signal conditioning: resampling, baseline-wander removal, band-pass and mains notch.

Every function takes an `Ecg` and returns a new `Ecg` (the input is never changed);
filters run forward-backward (zero phase) so wave onsets and offsets do not move.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import signal as scipy_signal

from heartcare.ecg.record import Ecg
from heartcare.ecg.spectrum import butterworth, welch
from heartcare.errors import ConfigError, InvalidSignalError, SamplingRateError

# Polyphase filters get slow when the ratio's terms grow (e.g. 500 -> 257.3 Hz);
# a bounded denominator keeps them small while the rate error stays < 0.1 %.
MAX_RATIO_DENOMINATOR = 1000


def resample(ecg: Ecg, fs: float) -> Ecg:
    """The record at a new sampling rate: [leads, n] -> [leads, round(n * fs / ecg.fs)].

    Polyphase FIR resampling (scipy `resample_poly`) with the rate ratio approximated by
    a fraction. Equal rates return the same record unchanged (the paper's reference
    code crashes there).
    """
    if not (np.isfinite(fs) and fs > 0):
        raise SamplingRateError(ecg.name, f"target sampling rate must be positive, got {fs!r}")
    if abs(fs - ecg.fs) < 1e-9:
        return ecg
    ratio = Fraction(float(fs) / ecg.fs).limit_denominator(MAX_RATIO_DENOMINATOR)
    if ratio.numerator == 0:
        raise SamplingRateError(
            ecg.name, f"cannot resample {ecg.fs:g} Hz to {fs:g} Hz (ratio too small)"
        )
    # Remove each lead's mean before filtering so the FIR edges do not ring on a DC offset.
    means = ecg.signal.mean(axis=1, keepdims=True)
    resampled = (
        scipy_signal.resample_poly(ecg.signal - means, ratio.numerator, ratio.denominator, axis=1)
        + means
    )
    target_samples = max(1, int(round(ecg.samples * fs / ecg.fs)))
    resampled = resampled[:, :target_samples]
    if resampled.shape[1] < target_samples:
        resampled = np.pad(
            resampled, ((0, 0), (0, target_samples - resampled.shape[1])), mode="edge"
        )
    return ecg.with_signal(
        resampled.astype(np.float32), fs=float(fs), original_fs=ecg.meta.get("original_fs", ecg.fs)
    )


def _check_band(ecg: Ecg, low: float | None, high: float | None) -> None:
    nyquist = ecg.fs / 2
    if low is not None and not (0 < low < nyquist):
        raise ConfigError(ecg.name, f"low cut-off {low} Hz must lie in (0, {nyquist:g}) Hz")
    if high is not None and not (0 < high):
        raise ConfigError(ecg.name, f"high cut-off {high} Hz must be positive")
    if low is not None and high is not None and low >= high:
        raise ConfigError(ecg.name, f"low cut-off {low} Hz must be below high cut-off {high} Hz")


def _zero_phase(sos: np.ndarray, data: np.ndarray) -> np.ndarray:
    """sosfiltfilt along time; short records get a shorter pad so they still filter."""
    padlen = min(3 * (2 * len(sos) + 1) * 2, data.shape[-1] - 1)
    if padlen < 1:
        return data
    return scipy_signal.sosfiltfilt(sos, data, axis=-1, padlen=padlen)


def bandpass(ecg: Ecg, low: float | None = 0.5, high: float | None = 40.0, order: int = 2) -> Ecg:
    """Butterworth band-pass (zero phase): [leads, n] -> [leads, n].

    low=None gives a low-pass, high=None a high-pass; a high cut-off at or above the
    Nyquist rate is dropped (nothing to remove up there).
    """
    _check_band(ecg, low, high)
    nyquist = ecg.fs / 2
    if high is not None and high >= nyquist * 0.95:
        high = None
    if low is None and high is None:
        return ecg
    if low is not None and high is not None:
        sos = butterworth(order, (float(low), float(high)), "bandpass", float(ecg.fs))
    elif low is not None:
        sos = butterworth(order, float(low), "highpass", float(ecg.fs))
    else:
        sos = butterworth(order, float(high), "lowpass", float(ecg.fs))
    return ecg.with_signal(_zero_phase(sos, ecg.signal.astype(np.float64)).astype(np.float32))


def remove_baseline(ecg: Ecg, cutoff_hz: float = 0.5) -> Ecg:
    """Baseline-wander removal: [leads, n] -> [leads, n].

    Two-stage median filter (200 ms then 600 ms windows, de Chazal et al. 2004, IEEE
    TBME 51(7)) estimates the baseline without bending the QRS or T wave; a gentle
    zero-phase high-pass at `cutoff_hz` then removes the remaining drift.
    """
    from scipy.ndimage import median_filter

    data = ecg.signal.astype(np.float64)
    if ecg.seconds >= 1.2:
        # Median filtering at <= 100 Hz is plenty for a 0.6 s window and 25x cheaper.
        step = max(1, int(ecg.fs // 100))
        coarse = data[:, ::step]
        fs_coarse = ecg.fs / step
        # Lead by lead: SciPy's 1-D rank filter is about 5-10x faster than the
        # same median over a 2-D array with a (1, width) footprint (identical output).
        baseline = np.stack([
            median_filter(median_filter(row, size=_odd(0.2 * fs_coarse), mode="nearest"),
                          size=_odd(0.6 * fs_coarse), mode="nearest")
            for row in coarse
        ])
        times = np.arange(coarse.shape[1]) * step
        full = np.arange(ecg.samples)
        baseline = np.stack([np.interp(full, times, row) for row in baseline])
        data = data - baseline
    else:
        data = data - np.median(data, axis=1, keepdims=True)
    cleaned = ecg.with_signal(data.astype(np.float32))
    return (
        bandpass(cleaned, low=cutoff_hz, high=None, order=1)
        if ecg.seconds >= 2 / cutoff_hz
        else cleaned
    )


def _odd(width: float) -> int:
    width = max(3, int(round(width)))
    return width if width % 2 else width + 1


def notch(ecg: Ecg, mains_hz: float = 50.0, quality: float = 30.0) -> Ecg:
    """IIR notch at the power-line frequency and its harmonics below Nyquist (zero phase)."""
    if mains_hz not in (50.0, 60.0):
        raise ConfigError(ecg.name, f"mains frequency must be 50 or 60 Hz, got {mains_hz}")
    data = ecg.signal.astype(np.float64)
    harmonic = mains_hz
    while harmonic < ecg.fs / 2 * 0.98:
        b, a = scipy_signal.iirnotch(harmonic, quality, fs=ecg.fs)
        if data.shape[1] > 3 * max(len(a), len(b)):
            data = scipy_signal.filtfilt(b, a, data, axis=1)
        harmonic += mains_hz
    return ecg.with_signal(data.astype(np.float32))


def detect_mains(ecg: Ecg) -> float | None:
    """50 or 60 when that line frequency stands out of the spectrum, else None."""
    if ecg.fs <= 130 or ecg.seconds < 1:
        return None
    freqs, power = welch(ecg.signal, ecg.fs, min(ecg.samples, int(ecg.fs * 2)))
    total = power.sum(axis=0)
    scores = {}
    for mains in (50.0, 60.0):
        peak = total[np.abs(freqs - mains) <= 1.0].max(initial=0.0)
        around = total[(np.abs(freqs - mains) > 3) & (np.abs(freqs - mains) < 10)]
        scores[mains] = peak / (np.median(around) + 1e-12) if around.size else 0.0
    best = max(scores, key=scores.get)
    return best if scores[best] > 20 else None


CleanMethod = Literal["heartcare", "neurokit"]


def clean(
    ecg: Ecg,
    method: CleanMethod = "heartcare",
    mains_hz: float | None = None,
    high_hz: float = 100.0,
) -> Ecg:
    """The standard conditioning chain: baseline removal, mains notch, low-pass.

    method="heartcare": median-filter baseline removal, a notch at `mains_hz` (or at
    50/60 Hz when it is detected), a zero-phase low-pass at `high_hz`.
    method="neurokit": `neurokit2.ecg_clean` (0.5 Hz high-pass + 50 Hz notch) lead by lead;
    needs the `neurokit` extra.
    """
    if ecg.samples < 4:
        raise InvalidSignalError(ecg.name, f"{ecg.samples} samples are too few to filter")
    if method == "neurokit":
        return _clean_neurokit(ecg)
    if method != "heartcare":
        raise ConfigError(
            ecg.name, f"unknown clean method {method!r}; use 'heartcare' or 'neurokit'"
        )
    result = remove_baseline(ecg)
    mains = mains_hz if mains_hz is not None else detect_mains(result)
    if mains is not None:
        result = notch(result, mains)
    return bandpass(result, low=None, high=high_hz)


def _clean_neurokit(ecg: Ecg) -> Ecg:
    try:
        import neurokit2 as nk
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            ecg.name, "clean(method='neurokit') needs neurokit2: pip install 'heartcare[neurokit]'"
        ) from error
    rows = []
    for row in ecg.signal.astype(np.float64):
        if np.ptp(row) == 0:
            rows.append(row)
            continue
        rows.append(
            np.asarray(nk.ecg_clean(row, sampling_rate=int(round(ecg.fs)), method="neurokit"))
        )
    return ecg.with_signal(np.stack(rows).astype(np.float32))
