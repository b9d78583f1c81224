"""`HeartState`: everything that shapes one simulated record, before drawing.

A normal heart for a person of given age and sex is built first; conditions
(`heartcare.sim.conditions`) then edit it: they move intervals, add or remove
lobes, set an ST shift, or change the rhythm. `simulate` draws the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from heartcare.sim.dipole import Wave

RhythmKind = Literal["sinus", "atrial_fibrillation", "atrial_flutter", "paced"]


def rotate_frontal(vectors: np.ndarray, degrees: float) -> np.ndarray:
    """[K, 3] vectors rotated in the frontal (x-y) plane; positive = clockwise toward inferior."""
    angle = np.deg2rad(degrees)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]]
    )
    return vectors @ rotation.T


def normal_qrs(axis_deg: float, voltage: float) -> Wave:
    """A normal QRS loop: septal (left-to-right, anterior), apical, lateral, basal forces.

    The septum depolarises first from left to right, giving the small r in V1 and the
    small q in I, aVL, V5-V6; the bulk of the left ventricle then pulls the loop left,
    inferior and posterior (tall R in V5-V6, deep S in V1-V2, transition at V3-V4);
    the posterobasal region ends it (small terminal s).
    """
    wave = Wave.of(
        [
            (0.16, 0.065, (-0.10, 0.02, 0.13)),
            (0.40, 0.095, (0.50, 0.70, 0.42)),
            (0.55, 0.085, (0.75, 0.60, -0.62)),
            (0.79, 0.075, (-0.15, -0.22, -0.30)),
        ]
    )
    wave.vectors = rotate_frontal(wave.vectors, axis_deg - 55.0) * voltage
    return wave


def normal_t(axis_deg: float, voltage: float) -> Wave:
    """An asymmetric T wave (slow upstroke, faster downstroke), roughly concordant with QRS."""
    wave = Wave.of([(0.50, 0.17, (0.19, 0.19, 0.16)), (0.74, 0.10, (0.25, 0.21, 0.17))])
    # T axis follows the QRS axis only loosely (frontal QRS-T angle is small in health).
    wave.vectors = rotate_frontal(wave.vectors, 0.5 * (axis_deg - 45.0)) * (0.6 + 0.4 * voltage)
    return wave


def normal_p() -> Wave:
    """Right then left atrium: upright in II, biphasic in V1."""
    return Wave.of([(0.36, 0.145, (0.03, 0.10, 0.06)), (0.64, 0.145, (0.07, 0.07, -0.05))])


@dataclass
class HeartState:
    """One record's heart: waves, intervals, rhythm and modifiers (all editable by conditions).

    Intervals are in ms; `qtc_ms` is converted to QT with Bazett's formula at the record's RR.
    """

    age: int
    sex: Literal["M", "F"]
    hr_bpm: float
    pr_ms: float
    p_ms: float
    qrs_ms: float
    qtc_ms: float
    axis_deg: float  # intended frontal QRS axis (the drawn axis is measured from the signal)
    voltage: float
    p_wave: Wave | None
    qrs: Wave
    t_wave: Wave
    t_fraction: float = 0.45  # share of QT taken by the T wave itself
    st_vector: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rhythm: RhythmKind = "sinus"
    respiratory_modulation: float = 0.02  # fraction of RR (sinus arrhythmia when large)
    rr_variability: float = 0.015
    af_irregularity: float = 0.0
    fibrillation_mv: float = 0.0
    flutter_rate_bpm: float = 300.0
    flutter_conduction: int = 2
    flutter_mv: float = 0.0
    premature_ventricular: int = 0
    premature_atrial: int = 0
    conditions: dict[str, float] = field(default_factory=dict)  # name -> severity 0..1

    @property
    def qt_ms(self) -> float:
        return self.qtc_ms * np.sqrt(60.0 / self.hr_bpm)


def normal_heart(age: int, sex: Literal["M", "F"], rng: np.random.Generator) -> HeartState:
    """A healthy heart for this age and sex; normal ranges shift with both.

    Older people: leftward axis, longer PR, lower voltage. Women: lower QRS voltage,
    slightly shorter QRS, longer QTc (population norms, e.g. Rijnbeek et al. 2014).
    """
    years = age - 20
    axis = float(np.clip(rng.normal(65.0 - 0.45 * years, 18.0), -25.0, 95.0))
    voltage = float(
        np.clip(rng.normal(1.0 - 0.004 * years, 0.15), 0.6, 1.4) * (0.88 if sex == "F" else 1.0)
    )
    return HeartState(
        age=age,
        sex=sex,
        hr_bpm=float(np.clip(rng.normal(72.0, 9.0), 61.0, 96.0)),
        pr_ms=float(np.clip(rng.normal(150.0 + 0.35 * years, 15.0), 122.0, 196.0)),
        p_ms=float(np.clip(rng.normal(100.0, 8.0), 80.0, 115.0)),
        qrs_ms=float(np.clip(rng.normal(90.0 if sex == "M" else 84.0, 6.0), 74.0, 102.0)),
        qtc_ms=float(np.clip(rng.normal(410.0 if sex == "M" else 422.0, 14.0), 380.0, 445.0)),
        axis_deg=axis,
        voltage=voltage,
        p_wave=normal_p(),
        qrs=normal_qrs(axis, voltage),
        t_wave=normal_t(axis, voltage),
    )
