"""Beat timing: when each QRS starts and what kind of beat it is.

Sinus rhythm has small beat-to-beat variability plus respiratory modulation (large
in sinus arrhythmia); atrial fibrillation has irregularly irregular RR intervals and
a fibrillatory baseline; atrial flutter conducts every 2nd-4th sawtooth wave;
premature beats come early and are followed by a (compensatory) pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from heartcare.sim.heart import HeartState

BeatKind = Literal["normal", "ventricular", "atrial", "paced"]


@dataclass(frozen=True)
class BeatEvent:
    """One beat: QRS onset in seconds from the record start and its origin."""

    onset_s: float
    kind: BeatKind


def beat_schedule(heart: HeartState, seconds: float, rng: np.random.Generator) -> list[BeatEvent]:
    """Beats covering [0, seconds) (plus one either side so edges are drawn fully)."""
    mean_rr = 60.0 / heart.hr_bpm
    if heart.rhythm == "atrial_fibrillation":
        # Gamma-distributed RR gives the irregularly irregular pattern with a floor.
        shape = 1.0 / max(heart.af_irregularity, 0.05) ** 2
        draw = lambda: max(rng.gamma(shape, mean_rr / shape), 0.33)  # noqa: E731
    elif heart.rhythm == "atrial_flutter":
        cycle = 60.0 / heart.flutter_rate_bpm
        draw = lambda: heart.flutter_conduction * cycle  # noqa: E731
    else:
        phase = rng.uniform(0, 2 * np.pi)
        breathing_hz = rng.uniform(0.2, 0.3)

        def draw_sinus(time: float = 0.0) -> float:
            modulation = heart.respiratory_modulation * np.sin(2 * np.pi * breathing_hz * time + phase)
            return mean_rr * (1 + modulation + rng.normal(0, heart.rr_variability))

    kind: BeatKind = "paced" if heart.rhythm == "paced" else "normal"
    time = -rng.uniform(0.2, 1.0) * mean_rr
    onsets: list[float] = []
    while time < seconds + mean_rr:
        onsets.append(time)
        if heart.rhythm in ("sinus", "paced"):
            time += draw_sinus(time)
        else:
            time += draw()
    beats = [BeatEvent(onset, kind) for onset in onsets]
    return insert_ectopics(beats, heart, seconds, rng)


def insert_ectopics(
    beats: list[BeatEvent], heart: HeartState, seconds: float, rng: np.random.Generator
) -> list[BeatEvent]:
    """Replace some beats by premature ones; the rhythm after each adjusts.

    A ventricular premature beat leaves the sinus node undisturbed: the next sinus beat
    comes on time, giving a full compensatory pause. An atrial one resets the sinus
    node, so the rhythm resumes one cycle after it.
    """
    inside = [i for i, beat in enumerate(beats) if 0.6 < beat.onset_s < seconds - 0.8 and i > 0]
    wanted = heart.premature_ventricular + heart.premature_atrial
    if wanted == 0 or len(inside) < 2:
        return beats
    # Never two ectopics in a row, so each keeps its normal neighbours.
    chosen = sorted(rng.choice(inside[::2], size=min(wanted, len(inside[::2])), replace=False))
    kinds: list[BeatKind] = ["ventricular"] * heart.premature_ventricular + ["atrial"] * heart.premature_atrial
    rng.shuffle(kinds)
    result = list(beats)
    shift = 0.0
    chosen_set = dict(zip(chosen, kinds, strict=False))  # fewer slots than wanted: some dropped
    for index in range(len(result)):
        beat = result[index]
        if index in chosen_set:
            previous = result[index - 1].onset_s
            rr = beat.onset_s + shift - previous
            coupling = rng.uniform(0.55, 0.7) if chosen_set[index] == "ventricular" else rng.uniform(0.65, 0.8)
            early = previous + coupling * rr
            if chosen_set[index] == "atrial":
                # The sinus node restarts from the premature beat: later beats move by the same amount.
                shift = early - beat.onset_s
            result[index] = BeatEvent(early, chosen_set[index])
        else:
            result[index] = BeatEvent(beat.onset_s + shift, beat.kind)
    return result


def atrial_activity(heart: HeartState, fs: float, samples: int, rng: np.random.Generator) -> np.ndarray | None:
    """[3, samples] continuous atrial dipole for fibrillation or flutter, else None."""
    time = np.arange(samples) / fs
    if heart.rhythm == "atrial_fibrillation" and heart.fibrillation_mv > 0:
        # f-waves: 350-600 per minute, drifting frequency and amplitude, seen best in V1 and II.
        signal = np.zeros(samples)
        for _ in range(3):
            frequency = rng.uniform(5.5, 9.0)
            drift = np.cumsum(rng.normal(0, 0.02, samples)) / np.sqrt(fs)
            envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * time + rng.uniform(0, 6.3))
            signal += envelope * np.sin(2 * np.pi * frequency * (time + drift) + rng.uniform(0, 6.3))
        signal *= heart.fibrillation_mv / 3.0 * 1.6
        return np.outer([0.25, 0.6, 0.75], signal)
    if heart.rhythm == "atrial_flutter" and heart.flutter_mv > 0:
        # Counter-clockwise typical flutter: a sawtooth negative in II, III, aVF.
        cycle = 60.0 / heart.flutter_rate_bpm
        phase = (time / cycle + rng.uniform(0, 1)) % 1.0
        saw = np.where(phase < 0.75, 1 - phase / 0.75, (phase - 0.75) / 0.25) - 0.5
        return np.outer([0.15, -0.9, 0.35], heart.flutter_mv * saw)
    return None
