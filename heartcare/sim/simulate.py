"""`simulate(spec, fs, seconds, seed)`: one labelled 12-lead ECG from the dipole model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError
from heartcare.sim.conditions import CONDITIONS, apply_conditions
from heartcare.sim.dipole import DipoleCanvas, Wave, project, visible_span
from heartcare.sim.heart import HeartState, normal_heart
from heartcare.sim.noise import NoiseSpec, electrode_noise
from heartcare.sim.repolarisation import repolarisation_end_ms
from heartcare.sim.rhythm import BeatEvent, atrial_activity, beat_schedule

PACING_SPIKE_LEAD_MS = 5.0  # the pacing spike comes this long before the paced QRS
QRS_VISIBLE_FRACTION = 0.015  # about 20 uV on a normal 1.3 mV QRS
P_VISIBLE_FRACTION = 0.06  # about 10 uV on a normal P wave


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate: conditions with severities in [0, 1], the person, the noise.

    patient_seed fixes the person's own traits (axis, voltage, intervals) so that two
    records of one patient share them; None uses the record seed.
    """

    conditions: dict[str, float] = field(default_factory=lambda: {"normal": 0.0})
    age: int = 55
    sex: Literal["M", "F"] = "M"
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    patient_seed: int | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.conditions) - set(CONDITIONS))
        if unknown:
            raise ConfigError(None, f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
        for name, severity in self.conditions.items():
            if not 0.0 <= severity <= 1.0:
                raise ConfigError(None, f"severity of {name} must be in [0, 1], got {severity}")
        if not 0 <= self.age <= 110:
            raise ConfigError(None, f"age must be 0-110, got {self.age}")
        if self.sex not in ("M", "F"):
            raise ConfigError(None, f"sex must be 'M' or 'F', got {self.sex!r}")


@dataclass(frozen=True)
class GroundTruth:
    """The parameters the signal was drawn with (intervals in ms, axis in degrees).

    hr_bpm is 60 / mean RR over the record; pr_ms is None without conducted P waves;
    pr_ms, qrs_ms and qt_ms run between visible onsets/offsets of the noise-free waves
    (qt_ms ends where the drawn ST-T really fades, see `repolarisation`; it and qtc_ms,
    Bazett's correction of it at the record's mean RR, are None for a flat T wave);
    axis_deg is the frontal angle of the dominant QRS's net (area) vector.
    """

    hr_bpm: float
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float | None
    qtc_ms: float | None
    axis_deg: float
    rhythm: str
    atrial_rate_bpm: float | None
    conditions: dict[str, float]
    beats: int
    ectopic_beats: dict[str, int]
    noise: dict[str, Any]
    noise_flags: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimulatedEcg:
    """A simulated record: the ECG, its SCP labels with likelihoods, truth and report."""

    ecg: Ecg
    labels: dict[str, float]
    truth: GroundTruth
    report: str


def _ventricular_ectopic(rng: np.random.Generator, voltage: float) -> tuple[Wave, Wave]:
    """A unifocal premature ventricular QRS (wide, bizarre) and its discordant T."""
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    side = np.cross(direction, rng.normal(size=3))
    side /= np.linalg.norm(side)
    # Large (1.5-3 mV) and wide, but with steep upstrokes: it spreads muscle-to-muscle,
    # slowly overall, yet each region's wavefront is as abrupt as in a normal beat.
    size = rng.uniform(1.3, 2.0) * voltage
    qrs = Wave.of(
        [
            (0.2, 0.08, tuple(direction * size * 0.7)),
            (0.45, 0.08, tuple(direction * size)),
            (0.72, 0.09, tuple((direction * 0.5 + side * 0.6) * size)),
        ]
    )
    t_wave = Wave.of([(0.55, 0.17, tuple(-direction * 0.3)), (0.75, 0.1, tuple(-direction * 0.3))])
    return qrs, t_wave


def _frontal_axis(qrs: Wave) -> float:
    net = (qrs.vectors * qrs.width[:, None]).sum(axis=0)
    return float(np.degrees(np.arctan2(net[1], net[0])))


def draw_beats(
    canvas: DipoleCanvas, heart: HeartState, beats: list[BeatEvent], rng: np.random.Generator
) -> None:
    """Place every beat's P, QRS, ST and T on the canvas."""
    qt_s = heart.qt_ms / 1000
    t_s = heart.t_fraction * qt_s
    qrs_s = heart.qrs_ms / 1000
    ectopic_qrs, ectopic_t = _ventricular_ectopic(rng, heart.voltage)
    ectopic_p = Wave.of([(0.4, 0.16, (0.05, -0.09, 0.02)), (0.65, 0.13, (0.04, -0.05, -0.02))])
    spike = Wave.of([(0.5, 0.0, tuple(np.array([0.3, -0.6, 1.0]) * rng.uniform(0.5, 1.2)))])
    for beat in beats:
        if beat.kind == "ventricular":
            width_s = rng.uniform(0.14, 0.17)
            canvas.place(ectopic_qrs, beat.onset_s, width_s)
            canvas.place(ectopic_t, beat.onset_s + qt_s * 1.1 - t_s, t_s * 1.1)
            continue
        if beat.kind == "paced":
            canvas.place(spike, beat.onset_s - PACING_SPIKE_LEAD_MS / 1000 - 0.001, 0.002)
        if heart.p_wave is not None:
            if beat.kind == "atrial":
                canvas.place(ectopic_p, beat.onset_s - heart.pr_ms / 1000 + 0.015, heart.p_ms / 1000)
            else:
                canvas.place(heart.p_wave, beat.onset_s - heart.pr_ms / 1000, heart.p_ms / 1000)
        canvas.place(heart.qrs, beat.onset_s, qrs_s)
        canvas.place(heart.t_wave, beat.onset_s + qt_s - t_s, t_s)
        canvas.plateau(heart.st_vector, beat.onset_s + qrs_s, beat.onset_s + qt_s - 0.5 * t_s)


def simulate(spec: SimulationSpec, fs: float = 500.0, seconds: float = 10.0, seed: int = 0) -> SimulatedEcg:
    """Draw one labelled 12-lead ECG [12, fs * seconds] mV, deterministic given `seed`."""
    from heartcare.sim.labels import scp_labels
    from heartcare.sim.report import write_report

    if fs < 50 or seconds <= 0:
        raise ConfigError(None, f"need fs >= 50 Hz and seconds > 0, got fs={fs}, seconds={seconds}")
    patient_rng = np.random.default_rng([spec.patient_seed if spec.patient_seed is not None else seed, 7])
    rng = np.random.default_rng([seed, 11])
    heart = normal_heart(spec.age, spec.sex, patient_rng)
    heart.hr_bpm = float(np.clip(heart.hr_bpm + rng.normal(0, 4.0), 60.5, 98.0))  # visits differ a little
    apply_conditions(heart, spec.conditions, rng)

    samples = int(round(fs * seconds))
    beats = beat_schedule(heart, seconds, rng)
    canvas = DipoleCanvas(fs=fs, samples=samples)
    draw_beats(canvas, heart, beats, rng)
    atrial = atrial_activity(heart, fs, samples, rng)
    if atrial is not None:
        canvas.add_continuous(atrial)
    noise, motion_electrode = electrode_noise(spec.noise, fs, samples, rng)
    signal = project(canvas.draw(), noise)

    onsets = np.array([beat.onset_s for beat in beats])
    visible = onsets[(onsets >= 0) & (onsets < seconds)]
    hr = 60.0 / float(np.mean(np.diff(visible))) if len(visible) > 1 else heart.hr_bpm
    kinds = [beat.kind for beat in beats if 0 <= beat.onset_s < seconds]
    # Durations as they show on a clean tracing: from where the wave first exceeds a small
    # share of its own peak in any lead to where it last does (scale-free, so damping the
    # voltage, as in low-voltage records, does not shorten the QRS).
    qrs_start, qrs_stop = visible_span(heart.qrs, heart.qrs_ms, QRS_VISIBLE_FRACTION)
    if heart.rhythm == "paced":
        qrs_start = min(qrs_start, -PACING_SPIKE_LEAD_MS)  # paced QRS is measured from the spike
    pr_ms = None
    if heart.p_wave is not None:
        p_start, _ = visible_span(heart.p_wave, heart.p_ms, P_VISIBLE_FRACTION)
        pr_ms = heart.pr_ms - p_start + qrs_start
    t_end = repolarisation_end_ms(heart)
    qt_ms = None if t_end is None else t_end - qrs_start
    truth = GroundTruth(
        hr_bpm=round(hr, 2),
        pr_ms=round(pr_ms, 1) if pr_ms is not None else None,
        qrs_ms=round(qrs_stop - qrs_start, 1),
        qt_ms=round(qt_ms, 1) if qt_ms is not None else None,
        qtc_ms=round(qt_ms / np.sqrt(60.0 / hr), 1) if qt_ms is not None else None,
        axis_deg=round(_frontal_axis(heart.qrs), 1),
        rhythm=heart.rhythm,
        atrial_rate_bpm=round(heart.flutter_rate_bpm, 1) if heart.rhythm == "atrial_flutter" else None,
        conditions=dict(heart.conditions),
        beats=len(kinds),
        ectopic_beats={"ventricular": kinds.count("ventricular"), "atrial": kinds.count("atrial")},
        noise={**asdict(spec.noise), "motion_electrode": motion_electrode},
        noise_flags=spec.noise.flags(),
    )
    ecg = Ecg(
        signal=signal.astype(np.float32),
        fs=fs,
        leads=STANDARD_LEADS,
        meta={"source": "heartcare.sim", "age": spec.age, "sex": spec.sex, "record_id": f"sim-{seed}"},
    )
    labels = scp_labels(truth, rng)
    return SimulatedEcg(ecg=ecg, labels=labels, truth=truth, report=write_report(truth, labels, rng))
