"""Where the simulated T wave really ends: the ground truth of QT, read off the drawn waveform.

`HeartState.qt_ms` is the *nominal* end of the T wave's lobe layout, but Gaussian lobes
have no hard edge and conditions reshape the T wave (infarcts and LV strain add a
vector to each T lobe unequally, T inversion rescales it, an ST shift adds a plateau
whose slow fall merges into the T wave). So the QT truth is taken the way the QRS and
P durations are (`visible_span`): draw one beat's repolarisation (ST plateau + T
lobes, placed exactly as `draw_beats` places them) noise-free, project it on the 12
leads, and find the last instant any lead still exceeds a small share of the wave's
own peak. A T wave too small to see in any lead has no end to measure: None.
"""

from __future__ import annotations

import numpy as np

from heartcare.sim.dipole import DipoleCanvas, project
from heartcare.sim.heart import HeartState

# Share of the wave's peak (largest lead) still counted as T wave: about 20 uV on a
# normal 0.7 mV precordial T, the same absolute visibility as the QRS (1.5% of 1.3 mV)
# and P (6% of 0.15-0.2 mV) truths use.
T_VISIBLE_FRACTION = 0.03
# Below half a millimetre on paper (0.05 mV) in every lead the T wave is flat: a reader
# (or `measure`) cannot place its end, so QT is not defined.
T_VISIBLE_MV = 0.05


def repolarisation_end_ms(
    heart: HeartState, fraction: float = T_VISIBLE_FRACTION, fs: float = 2000.0
) -> float | None:
    """T end in ms after the QRS's nominal onset on a noise-free beat, or None for a flat T."""
    margin_s = 0.05
    qt_s = heart.qt_ms / 1000
    t_s = heart.t_fraction * qt_s
    qrs_s = heart.qrs_ms / 1000
    onset_s = margin_s
    canvas = DipoleCanvas(fs=fs, samples=int((margin_s + 2 * qt_s) * fs))
    canvas.place(heart.t_wave, onset_s + qt_s - t_s, t_s)
    canvas.plateau(heart.st_vector, onset_s + qrs_s, onset_s + qt_s - 0.5 * t_s)
    leads = np.abs(project(canvas.draw()))  # [12, samples] mV
    # Only repolarisation after the J point counts: the plateau's steep rise starts
    # just before it and belongs to the QRS's end, not to the T wave's.
    leads[:, : int((onset_s + qrs_s) * fs)] = 0.0
    magnitude = leads.max(axis=0)
    peak = float(magnitude.max())
    if peak < T_VISIBLE_MV:
        return None
    visible = np.flatnonzero(magnitude > fraction * peak)
    return float((visible[-1] / fs - onset_s) * 1000)
