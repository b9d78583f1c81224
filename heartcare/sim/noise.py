"""Recording noise at the electrodes: baseline wander, mains hum, muscle, electrode motion.

Noise is added to the 9 electrode potentials before the leads are formed, the way it
happens on a patient, so lead relations stay exact and one loose electrode shows up
in every lead that uses it. Levels are explicit so each flag in the labels is true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heartcare.errors import ConfigError
from heartcare.sim.dipole import ELECTRODES


@dataclass(frozen=True)
class NoiseSpec:
    """Noise amplitudes in mV (0 turns a source off).

    baseline_mv: slow wander (respiration, 0.05-0.5 Hz); powerline_mv: mains hum at
    `powerline_hz`; muscle_mv: broadband EMG; motion_mv: electrode-motion bursts on
    `motion_electrode` (None = random electrode).
    """

    baseline_mv: float = 0.03
    powerline_mv: float = 0.0
    powerline_hz: float = 50.0
    muscle_mv: float = 0.004
    motion_mv: float = 0.0
    motion_electrode: str | None = None

    def __post_init__(self) -> None:
        for name in ("baseline_mv", "powerline_mv", "muscle_mv", "motion_mv"):
            value = getattr(self, name)
            if not (0.0 <= value <= 5.0):
                raise ConfigError(None, f"NoiseSpec.{name} must be in [0, 5] mV, got {value}")
        if self.powerline_hz not in (50.0, 60.0):
            raise ConfigError(None, f"NoiseSpec.powerline_hz must be 50 or 60, got {self.powerline_hz}")
        if self.motion_electrode is not None and self.motion_electrode not in ELECTRODES:
            raise ConfigError(None, f"NoiseSpec.motion_electrode must be one of {ELECTRODES}")

    def flags(self) -> dict[str, bool]:
        """Which PTB-XL noise columns this noise deserves (thresholds: clearly visible)."""
        return {
            "baseline_drift": self.baseline_mv >= 0.1,
            "static_noise": self.powerline_mv >= 0.02 or self.muscle_mv >= 0.02,
            "burst_noise": self.motion_mv >= 0.15,
            "electrodes_problems": self.motion_mv >= 0.4,
        }


QUIET = NoiseSpec(baseline_mv=0.0, muscle_mv=0.0)


def electrode_noise(spec: NoiseSpec, fs: float, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, str | None]:
    """[9, samples] noise in mV for the electrodes, and the electrode with motion bursts."""
    time = np.arange(samples) / fs
    noise = np.zeros((len(ELECTRODES), samples))
    count = len(ELECTRODES)

    def shifted_sines(frequency: float, amplitude: np.ndarray, phase: np.ndarray) -> np.ndarray:
        # sin(wt + phi) = sin(wt) cos(phi) + cos(wt) sin(phi): two sines per record, not nine.
        angle = 2 * np.pi * frequency * time
        return np.outer(amplitude * np.cos(phase), np.sin(angle)) + np.outer(amplitude * np.sin(phase), np.cos(angle))

    if spec.baseline_mv > 0:
        # Respiration moves all electrodes together but by different amounts.
        for _ in range(2):
            frequency = rng.uniform(0.05, 0.5)
            phase = rng.uniform(0, 2 * np.pi, size=count)
            noise += shifted_sines(frequency, spec.baseline_mv * rng.uniform(0.3, 1.0, size=count), phase)
    if spec.powerline_mv > 0:
        gains = spec.powerline_mv * rng.uniform(0.2, 1.0, size=count)
        noise += shifted_sines(spec.powerline_hz, gains, np.full(count, rng.uniform(0, 6.3)))
    if spec.muscle_mv > 0:
        white = rng.standard_normal((count, samples + 1), dtype=np.float32)
        noise += spec.muscle_mv * np.diff(white, axis=1) / np.sqrt(2)  # high-pass: EMG is broadband above ~20 Hz
    electrode = None
    if spec.motion_mv > 0:
        electrode = spec.motion_electrode or str(rng.choice(ELECTRODES))
        index = ELECTRODES.index(electrode)
        for _ in range(int(rng.integers(1, 4))):
            center, width = rng.uniform(0, time[-1]), rng.uniform(0.15, 0.6)
            noise[index] += spec.motion_mv * rng.choice([-1, 1]) * np.exp(-0.5 * ((time - center) / width * 2.5) ** 2)
    return noise, electrode
