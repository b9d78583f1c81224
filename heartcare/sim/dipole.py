"""The heart as a time-varying 3-D dipole, seen through the 12 standard leads.

Each wave (P, QRS, T) is a sum of Gaussian lobes in time, each lobe a fixed 3-D
vector; the dipole `D(t)` [3, samples] is their sum. Electrodes see `D` through
fixed lead vectors and the 12 leads are formed from the 9 electrode potentials the
way an electrocardiograph does, so Einthoven's (III = II - I) and Goldberger's
(aVR = -(I + II)/2, ...) relations hold exactly, even with electrode noise added.
(After McSharry et al., IEEE TBME 2003, and Sameni et al., EURASIP JASP 2007.)

Axes: x points to the patient's left, y down (inferior), z forward (anterior).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")

# Frontal-plane limb electrodes placed so that lead I is the +x axis and lead II
# points 60 degrees below it (the hexaxial system), with Wilson's central terminal
# (the mean of RA, LA, LL) at zero.
_RA = np.array([-0.5, -np.sqrt(3) / 6, 0.0])
_LIMB = np.stack([_RA, _RA + [1.0, 0.0, 0.0], _RA + [0.5, np.sqrt(3) / 2, 0.0]])

# Precordial electrodes: horizontal angle from +x (left) toward +z (anterior), a
# small inferior component, and a proximity gain (the chest electrodes sit close to
# the heart, so they see larger voltages than the limb leads).
_PRECORDIAL_ANGLE_DEG = np.array([118.0, 98.0, 78.0, 58.0, 32.0, 8.0])
_PRECORDIAL_INFERIOR = np.array([-0.05, 0.0, 0.05, 0.15, 0.2, 0.2])
_PRECORDIAL_GAIN = np.array([1.35, 1.75, 1.85, 1.8, 1.55, 1.3])


def electrode_vectors() -> np.ndarray:
    """[9, 3] lead vector of each electrode in `ELECTRODES` order (relative to WCT)."""
    angle = np.deg2rad(_PRECORDIAL_ANGLE_DEG)
    chest = np.stack([np.cos(angle), _PRECORDIAL_INFERIOR, np.sin(angle)], axis=1)
    chest *= _PRECORDIAL_GAIN[:, None]
    return np.concatenate([_LIMB, chest]).astype(np.float64)


def lead_matrix() -> np.ndarray:
    """[12, 9] how each standard lead combines the electrode potentials."""
    ra, la, ll = np.eye(9)[:3]
    leads = [
        la - ra,  # I
        ll - ra,  # II
        ll - la,  # III
        ra - (la + ll) / 2,  # aVR
        la - (ra + ll) / 2,  # aVL
        ll - (ra + la) / 2,  # aVF
    ]
    wilson = (ra + la + ll) / 3
    leads += [np.eye(9)[3 + i] - wilson for i in range(6)]
    return np.stack(leads)


@dataclass
class Wave:
    """One wave as Gaussian lobes in wave-relative time.

    position: [K] lobe centres as a fraction of the wave's duration (0 = onset, 1 = end);
    width: [K] lobe standard deviations as a fraction of the duration;
    vectors: [K, 3] lobe dipole in mV. A lobe's visible extent is about centre +- 2.5 width,
    so the lobes are laid out to fill [0, 1]: the wave's duration is then what shows.
    """

    position: np.ndarray
    width: np.ndarray
    vectors: np.ndarray

    @staticmethod
    def of(lobes: list[tuple[float, float, tuple[float, float, float]]]) -> Wave:
        return Wave(
            position=np.array([lobe[0] for lobe in lobes], dtype=np.float64),
            width=np.array([lobe[1] for lobe in lobes], dtype=np.float64),
            vectors=np.array([lobe[2] for lobe in lobes], dtype=np.float64).reshape(-1, 3),
        )

    def copy(self) -> Wave:
        return Wave(self.position.copy(), self.width.copy(), self.vectors.copy())

    def add(self, position: float, width: float, vector: tuple[float, float, float] | np.ndarray) -> None:
        self.position = np.append(self.position, position)
        self.width = np.append(self.width, width)
        self.vectors = np.concatenate([self.vectors, np.asarray(vector, dtype=np.float64)[None]])


@dataclass
class DipoleCanvas:
    """Accumulates lobes and plateaus over a record, then draws `D(t)` in one pass."""

    fs: float
    samples: int
    centers: list[float] = field(default_factory=list)
    sigmas: list[float] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    extra: np.ndarray | None = None  # [3, samples] continuous activity (AF f-waves, flutter, spikes)

    def place(self, wave: Wave, onset_s: float, duration_s: float) -> None:
        """Put a wave whose onset is at `onset_s` seconds and which lasts `duration_s`."""
        for position, width, vector in zip(wave.position, wave.width, wave.vectors, strict=True):
            self.centers.append(onset_s + position * duration_s)
            self.sigmas.append(max(width * duration_s, 1.0 / self.fs))
            self.vectors.append(vector)

    def add_continuous(self, activity: np.ndarray) -> None:
        """Add [3, samples] of activity not shaped as lobes."""
        self.extra = activity if self.extra is None else self.extra + activity

    def plateau(self, vector: np.ndarray, start_s: float, stop_s: float, rise_s: float = 0.006, fall_s: float = 0.03) -> None:
        """A smooth box (ST-segment shift) from `start_s` (the J point) to `stop_s`.

        The rise is centred just before the J point and is steep, so the shift is fully
        there when the QRS ends (the J point stays sharp); the fall is slow, merging into T.
        """
        if stop_s <= start_s or not np.any(vector):
            return
        rise_center = start_s - 1.5 * rise_s
        first = max(int((rise_center - 4 * rise_s) * self.fs), 0)
        last = min(int((stop_s + 4 * fall_s) * self.fs) + 1, self.samples)
        if last <= first:
            return
        time = np.arange(first, last) / self.fs
        window = 0.25 * (1 + np.tanh((time - rise_center) / rise_s)) * (1 - np.tanh((time - stop_s) / fall_s))
        block = np.zeros((3, self.samples))
        block[:, first:last] = np.outer(vector, window)
        self.add_continuous(block)

    def draw(self) -> np.ndarray:
        """[3, samples] the dipole in mV."""
        dipole = np.zeros((3, self.samples)) if self.extra is None else self.extra.copy()
        for center, sigma, vector in zip(self.centers, self.sigmas, self.vectors, strict=True):
            first = max(int((center - 4 * sigma) * self.fs), 0)
            last = min(int((center + 4 * sigma) * self.fs) + 2, self.samples)
            if last <= first:
                continue
            time = np.arange(first, last) / self.fs
            dipole[:, first:last] += np.outer(vector, np.exp(-0.5 * ((time - center) / sigma) ** 2))
        return dipole


def project(dipole: np.ndarray, electrode_noise: np.ndarray | None = None) -> np.ndarray:
    """[3, samples] dipole (+ optional [9, samples] electrode noise) -> [12, samples] leads."""
    electrodes = electrode_vectors() @ dipole
    if electrode_noise is not None:
        electrodes = electrodes + electrode_noise
    return lead_matrix() @ electrodes


def visible_span(wave: Wave, duration_ms: float, fraction: float, fs: float = 2000.0) -> tuple[float, float]:
    """(start, stop) in ms from the wave's nominal onset where any lead exceeds `fraction` of its peak.

    Gaussian lobes have no hard edges, so the ground truth of a duration is taken where
    the wave becomes visible on a noise-free tracing, the way a reader (or `measure`)
    finds onsets and offsets.
    """
    margin_s = 0.05
    samples = int((duration_ms / 1000 + 2 * margin_s) * fs)
    canvas = DipoleCanvas(fs=fs, samples=samples)
    canvas.place(wave, margin_s, duration_ms / 1000)
    magnitude = np.abs(project(canvas.draw())).max(axis=0)
    visible = np.flatnonzero(magnitude > fraction * magnitude.max())
    if visible.size == 0:
        return 0.0, duration_ms
    to_ms = lambda index: (index / fs - margin_s) * 1000  # noqa: E731
    return float(to_ms(visible[0])), float(to_ms(visible[-1]))
