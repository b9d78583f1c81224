"""T-wave end by the tangent method, on the median beats' spatial magnitude.

Lepeschkin E, Surawicz B. "The measurement of the Q-T interval of the
electrocardiogram." Circulation 1952;6(3):378-388: the T wave ends where the tangent
to its steepest descending slope meets the isoelectric baseline. It is the rule most
QT studies and many carts follow (reviewed by Postema & Wilde, Curr Cardiol Rev 2014).

Why not a knee (area) method: the trapezium-area knee (Vazquez-Seisdedos et al.
2011) lands where the T tail flattens, and how far out that is depends on the tail's
shape and on the reference point chosen past it. On Gaussian-tailed waves it fell
about 3 standard deviations past the last lobe's centre, 12 ms past the simulator's
visible T end and 16-26 ms past real carts' QT. The tangent is anchored on the
steepest, best-defined part of the wave and extrapolates it, so a slow, noisy tail
(or a U wave) cannot drag the end later.

The curve is the spatial magnitude |B(t) - b| over leads (b the PR-segment level),
so one end holds for all leads, as carts measure a global QT. Its "isoelectric
baseline" is its lowest level after the T peak, in the TP segment: that absorbs a TP
level that differs from the PR level (atrial repolarisation), which would otherwise
push the intersection late. For a single Gaussian lobe of width s the tangent meets
the baseline 2 s past its centre, where the lobe is down to 13.5% of its peak.
"""

from __future__ import annotations

import numpy as np

T_MIN_AMPLITUDE_MV = 0.04  # a flatter T wave (spatial magnitude) has no end to place


def t_wave_end(
    magnitude: np.ndarray, qrs_offset: int, fiducial: int, rr: int, fs: float, reasons: dict[str, str]
) -> int | None:
    """T end (sample index) on the spatial magnitude [m] mV of a median beat, or None with a reason."""
    start = qrs_offset + int(0.06 * fs)
    limit = min(magnitude.size - 1, fiducial + int(0.9 * rr), fiducial + int(0.7 * fs))
    if limit - start < int(0.08 * fs):
        reasons["qt"] = "no room for a T wave before the next beat"
        return None
    # The T peak comes well before the next beat's P wave, which can outgrow a flat or
    # inverted T in the spatial magnitude.
    peak_limit = min(limit, fiducial + int(min(0.55 * fs, 0.65 * rr)))
    if peak_limit - start < int(0.04 * fs):
        peak_limit = limit
    peak = start + int(np.argmax(magnitude[start:peak_limit]))
    if magnitude[peak] < T_MIN_AMPLITUDE_MV:
        reasons["qt"] = "T wave too flat to find its end"
        return None
    baseline = float(np.min(magnitude[peak : limit + 1]))
    # The steepest descent is searched only on the T wave's own down-slope (until it is
    # within 20% of the baseline), so a later bump (U wave, next P wave) cannot capture it.
    low = np.nonzero(magnitude[peak : limit + 1] <= baseline + 0.2 * (magnitude[peak] - baseline))[0]
    descent_end = peak + int(low[0]) if low.size else limit
    return tangent_intersection(magnitude, peak, descent_end, baseline, limit)


def tangent_intersection(
    curve: np.ndarray, peak: int, descent_end: int, baseline: float, limit: int
) -> int:
    """Where the tangent at the steepest fall of curve[peak:descent_end] meets `baseline`.

    Kept within [steepest point, limit]; a curve that does not fall ends at descent_end.
    """
    if descent_end - peak < 2:
        return descent_end
    falling = np.gradient(curve[peak : descent_end + 1])  # mV per sample
    steep = peak + int(np.argmin(falling))
    slope = float(falling.min())
    if slope >= 0:
        return descent_end
    end = steep + (float(curve[steep]) - baseline) / -slope
    return int(round(min(max(end, steep), limit)))
