"""Pacemaker stimulus artefacts on median beats: found by their slope and width, cut out before smoothing.

A pacing spike is a deflection of a few milliseconds whose slope is many times the QRS's.
The 40 Hz smoothing that the QRS edges are read from would spread it over tens of
milliseconds and move the QRS onset that much earlier. So the spike is located on the
unsmoothed spatial velocity, replaced by a straight line across its width, and the paced
QRS is measured from it (the convention the simulator's ground truth and cart programs
use for paced complexes: the stimulus starts the ventricular activation).
"""

from __future__ import annotations

import numpy as np

SPIKE_SLOPE_RATIO = 3.0  # spike slope / the smoothed QRS's steepest slope
SPIKE_MAX_WIDTH_S = 0.010  # stimulus plus its recovery; a QRS this steep is never this brief
SPIKE_MARGIN_S = 0.002  # samples each side of the spike that the line replaces


def find_spike(beats: np.ndarray, fs: float, search: slice, qrs_peak_velocity: float) -> tuple[int, int] | None:
    """[start, stop) of a pacing spike within `search` of beats [leads, m] mV, or None.

    qrs_peak_velocity: the smoothed spatial velocity's QRS peak (mV/s), the yardstick of "steep".
    """
    raw = np.sqrt(((np.diff(beats, axis=1) * fs) ** 2).sum(axis=0))
    start, stop = max(0, search.start), min(raw.size, search.stop)
    if stop - start < 2 or qrs_peak_velocity <= 0:
        return None
    window = raw[start:stop]
    top = int(np.argmax(window))
    if window[top] < SPIKE_SLOPE_RATIO * qrs_peak_velocity:
        return None
    steep = np.flatnonzero(window >= 0.5 * window[top])
    # A spike's steep samples sit together; a QRS steep enough to pass the ratio would not be this narrow.
    first, last = int(steep.min()), int(steep.max())
    if (last - first + 1) / fs > SPIKE_MAX_WIDTH_S:
        return None
    return start + first, start + last + 2  # diff index i spans samples i and i + 1


def remove_spike(beats: np.ndarray, span: tuple[int, int], fs: float) -> np.ndarray:
    """A copy of beats with the samples of `span` (plus a margin) replaced by a straight line per lead."""
    margin = max(1, int(round(SPIKE_MARGIN_S * fs)))
    left, right = max(0, span[0] - margin), min(beats.shape[1] - 1, span[1] + margin)
    cleaned = beats.copy()
    positions = np.arange(left, right + 1)
    fraction = (positions - left) / max(right - left, 1)
    cleaned[:, left : right + 1] = beats[:, [left]] + (beats[:, [right]] - beats[:, [left]]) * fraction
    return cleaned
