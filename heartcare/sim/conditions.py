"""The condition registry: name -> how it changes a `HeartState`, its SCP codes, its range.

Each condition takes a severity in [0, 1]: 0 is the mildest case that still meets
the definition (hard to see), 1 the most marked. Conditions are applied in registry
order (QRS shape first, then voltage, then ST-T, then intervals and rhythm), so
several can be combined on one record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from heartcare.sim.dipole import Wave
from heartcare.sim.heart import HeartState, normal_t, rotate_frontal

Modifier = Callable[[HeartState, float, np.random.Generator], None]


@dataclass(frozen=True)
class Condition:
    """One simulated finding: SCP-ECG codes it is labelled with and what it does."""

    name: str
    description: str
    codes: tuple[str, ...]
    group: str  # NORM, MI, STTC, CD, HYP (diagnostic superclass) or RHYTHM / ECTOPY / FORM
    severity_range: str  # what severity 0 and 1 mean, for the docs and reports
    modify: Modifier


def _unit(*vector: float) -> np.ndarray:
    array = np.array(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


# Directions that face each infarct territory (x left, y inferior, z anterior).
TERRITORIES: dict[str, np.ndarray] = {
    "inferior": _unit(0.05, 1.0, 0.05),
    "anterior": _unit(-0.1, 0.15, 1.0),
    "lateral": _unit(0.85, -0.45, 0.15),
}


def _normal(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Nothing to change: the heart is already normal."""


def _bradycardia(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.hr_bpm = 58.0 - 18.0 * severity


def _tachycardia(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.hr_bpm = 102.0 + 48.0 * severity
    heart.pr_ms = max(heart.pr_ms - 15.0, 115.0)  # sympathetic drive shortens AV conduction


def _sinus_arrhythmia(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.respiratory_modulation = 0.08 + 0.14 * severity


def _atrial_fibrillation(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.rhythm = "atrial_fibrillation"
    heart.p_wave = None
    heart.hr_bpm = float(rng.uniform(62.0, 125.0))
    heart.af_irregularity = 0.12 + 0.16 * severity
    heart.fibrillation_mv = 0.03 + 0.09 * severity


def _atrial_flutter(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.rhythm = "atrial_flutter"
    heart.p_wave = None
    heart.flutter_rate_bpm = float(rng.uniform(260.0, 330.0))
    heart.flutter_conduction = int(rng.choice([2, 3, 4]))
    heart.hr_bpm = heart.flutter_rate_bpm / heart.flutter_conduction
    heart.flutter_mv = 0.15 + 0.2 * severity


def _first_degree_block(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.pr_ms = 212.0 + 120.0 * severity


def _left_bundle_branch_block(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Septum activated right-to-left (no septal q), slow leftward-posterior spread.

    Broad notched R in I, aVL, V5-V6; QS or rS in V1-V3; secondary ST-T opposite to QRS.
    """
    heart.qrs_ms = 132.0 + 40.0 * severity
    # Slow spread but sharp local deflections: a steep QS downstroke in V1, a notched
    # (M-shaped) R in I, aVL, V5-V6; these keep its slopes above those of the T wave.
    qrs = Wave.of(
        [
            (0.10, 0.04, (0.20, 0.05, -0.12)),
            (0.30, 0.075, (0.60, 0.20, -0.75)),
            (0.50, 0.075, (0.48, 0.12, -0.60)),
            (0.70, 0.075, (0.72, 0.12, -0.62)),
            (0.89, 0.044, (0.30, 0.0, -0.25)),
        ]
    )
    qrs.vectors = rotate_frontal(qrs.vectors, heart.axis_deg - 30.0) * heart.voltage * 1.25
    heart.qrs = qrs
    heart.t_wave = Wave.of([(0.5, 0.18, (-0.10, -0.03, 0.15)), (0.72, 0.11, (-0.11, -0.02, 0.15))])
    heart.st_vector = np.array([-0.04, -0.01, 0.07]) * (1 + severity)


def _right_bundle_branch_block(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Normal left-ventricular activation, then a late slow rightward-anterior force.

    rsR' in V1-V2, wide slurred S in I, aVL, V5-V6; T inverted in V1-V3.
    """
    normal_ms = heart.qrs_ms
    heart.qrs_ms = 132.0 + 32.0 * severity
    share = normal_ms / heart.qrs_ms * 0.92
    qrs = heart.qrs.copy()
    keep = slice(0, 3)  # drop the normal terminal lobe; the right ventricle now ends the QRS
    qrs = Wave(qrs.position[keep] * share, qrs.width[keep] * share, qrs.vectors[keep])
    reach = (0.6 + 0.3 * severity) * heart.voltage
    # The R' lobe overlaps the fading left-ventricular lobes (no pause inside the QRS)
    # and ends at the QRS end; it is as steep as any activation front.
    width = (1.0 - share) / 4.5
    qrs.add(1.0 - 2.5 * width, width, (-0.42 * reach, -0.1 * reach, 0.62 * reach))
    heart.qrs = qrs
    heart.t_wave.vectors = heart.t_wave.vectors + np.array([0.02, 0.0, -0.16])


def _left_anterior_fascicular_block(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Left axis (-45 to -80 deg), qR in I/aVL, rS in II/III/aVF, QRS barely widened."""
    heart.axis_deg = -45.0 - 35.0 * severity
    heart.qrs_ms = max(heart.qrs_ms, min(heart.qrs_ms + 10.0, 112.0))  # never narrows a bundle-branch block
    heart.qrs.vectors = rotate_frontal(heart.qrs.vectors, heart.axis_deg - _frontal_axis(heart.qrs))
    # Initial forces point inferior-rightward: small q in I and aVL, small r in II, III, aVF.
    heart.qrs.vectors[0] = np.array([-0.12, 0.22, 0.12]) * heart.voltage


def _frontal_axis(wave: Wave) -> float:
    """The frontal angle (deg) of the wave's net area vector (lobe area ~ vector * width)."""
    net = (wave.vectors * wave.width[:, None]).sum(axis=0)
    return float(np.degrees(np.arctan2(net[1], net[0])))


def _left_ventricular_hypertrophy(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Larger left-ventricular forces (voltage criteria); strain ST-T when marked."""
    gain = 1.55 + 0.75 * severity
    heart.qrs.vectors[1:3] *= gain
    heart.qrs_ms = max(heart.qrs_ms, min(heart.qrs_ms + 8.0, 114.0))  # never narrows a bundle-branch block
    if severity > 0.45:
        # Strain: ST depression and T inversion opposite to the dominant QRS force.
        main = heart.qrs.vectors[2] / np.linalg.norm(heart.qrs.vectors[2])
        strain = (severity - 0.45) / 0.55
        heart.st_vector = heart.st_vector - main * (0.05 + 0.07 * strain)
        heart.t_wave.vectors = heart.t_wave.vectors - np.outer([0.7, 1.0], main) * (0.12 + 0.2 * strain)


def _low_voltage(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.qrs.vectors *= 0.42 - 0.17 * severity
    heart.t_wave.vectors *= 0.45  # the same damping (effusion, obesity, emphysema) shrinks T too


def _infarct(territory: str, acute: bool) -> Modifier:
    direction = TERRITORIES[territory]

    def modify(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
        """Necrosis removes forces toward the territory: Q waves there, smaller R.

        Acute (stadium I): ST elevation facing the injury (reciprocal depression in the
        opposite leads follows from the dipole), tall T. Old (stadium III): deep Q, T inversion.
        """
        depth = (0.25 + 0.35 * severity) * (0.6 if acute else 1.0)
        toward = heart.qrs.vectors @ direction
        heart.qrs.vectors -= np.outer(np.clip(toward, 0, None) * (0.35 + 0.4 * severity), direction)
        heart.qrs.add(0.2, 0.08, -direction * depth * heart.voltage)
        if acute:
            heart.st_vector = heart.st_vector + direction * (0.1 + 0.22 * severity)
            heart.t_wave.vectors = heart.t_wave.vectors + np.outer([0.6, 1.0], direction) * 0.12 * (1 + severity)
        else:
            heart.t_wave.vectors = heart.t_wave.vectors - np.outer([0.6, 1.0], direction) * (0.05 + 0.1 * severity)

    return modify


def _st_depression(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.st_vector = heart.st_vector - _unit(0.6, 0.7, 0.25) * (0.05 + 0.12 * severity)


def _t_inversion(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    fresh = normal_t(heart.axis_deg, heart.voltage)
    heart.t_wave.vectors = fresh.vectors * (0.3 - 1.3 * severity)


def _premature_ventricular(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.premature_ventricular = 1 + int(round(2 * severity))


def _premature_atrial(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    heart.premature_atrial = 1 + int(round(2 * severity))


def _paced(heart: HeartState, severity: float, rng: np.random.Generator) -> None:
    """Right-ventricular apical pacing: spike, then a wide LBBB-like QRS with left axis."""
    heart.rhythm = "paced"
    heart.p_wave = None
    heart.hr_bpm = float(rng.choice([60.0, 70.0, 80.0]))
    heart.respiratory_modulation = 0.0
    heart.rr_variability = 0.0005
    _left_bundle_branch_block(heart, 0.4 + 0.6 * severity, rng)
    heart.qrs.vectors = rotate_frontal(heart.qrs.vectors, -60.0 - _frontal_axis(heart.qrs))
    heart.axis_deg = -60.0


CONDITIONS: dict[str, Condition] = {
    condition.name: condition
    for condition in [
        Condition("normal", "normal ECG", ("NORM",), "NORM", "no change", _normal),
        Condition("left_bundle_branch_block", "complete left bundle branch block", ("CLBBB",), "CD", "QRS 132-172 ms (nominal)", _left_bundle_branch_block),
        Condition("right_bundle_branch_block", "complete right bundle branch block", ("CRBBB",), "CD", "QRS 132-164 ms (nominal), R' 0.6-0.9 mV x voltage", _right_bundle_branch_block),
        Condition("left_anterior_fascicular_block", "left anterior fascicular block", ("LAFB",), "CD", "axis -45 to -80 deg", _left_anterior_fascicular_block),
        Condition("paced", "ventricular paced rhythm", ("PACE",), "RHYTHM", "paced QRS 143-170 ms", _paced),
        Condition("left_ventricular_hypertrophy", "left ventricular hypertrophy", ("LVH", "VCLVH"), "HYP", "LV forces x1.55-2.3, strain above 0.45", _left_ventricular_hypertrophy),
        Condition("low_voltage", "low QRS voltage", ("LVOLT",), "FORM", "QRS forces x0.42-0.25", _low_voltage),
        Condition("old_inferior_mi", "old inferior myocardial infarction", ("IMI", "QWAVE"), "MI", "Q depth 0.25-0.6 mV", _infarct("inferior", acute=False)),
        Condition("old_anterior_mi", "old anteroseptal myocardial infarction", ("ASMI", "QWAVE"), "MI", "Q depth 0.25-0.6 mV", _infarct("anterior", acute=False)),
        Condition("old_lateral_mi", "old lateral myocardial infarction", ("LMI", "QWAVE"), "MI", "Q depth 0.25-0.6 mV", _infarct("lateral", acute=False)),
        Condition("acute_inferior_mi", "acute inferior myocardial infarction", ("IMI", "INJIN", "STE_"), "MI", "ST dipole 0.1-0.32 mV", _infarct("inferior", acute=True)),
        Condition("acute_anterior_mi", "acute anteroseptal myocardial infarction", ("ASMI", "INJAS", "STE_"), "MI", "ST dipole 0.1-0.32 mV", _infarct("anterior", acute=True)),
        Condition("acute_lateral_mi", "acute lateral myocardial infarction", ("LMI", "INJLA", "STE_"), "MI", "ST dipole 0.1-0.32 mV", _infarct("lateral", acute=True)),
        Condition("st_depression", "non-specific ST depression", ("NST_", "STD_"), "STTC", "ST dipole 0.05-0.17 mV", _st_depression),
        Condition("t_inversion", "non-specific T-wave inversion", ("NDT", "INVT"), "STTC", "T from flat (x0.3) to inverted (x-1.0)", _t_inversion),
        Condition("first_degree_av_block", "first degree AV block", ("1AVB",), "CD", "PR 212-332 ms", _first_degree_block),
        Condition("sinus_bradycardia", "sinus bradycardia", ("SBRAD",), "RHYTHM", "HR 58-40 bpm", _bradycardia),
        Condition("sinus_tachycardia", "sinus tachycardia", ("STACH",), "RHYTHM", "HR 102-150 bpm", _tachycardia),
        Condition("sinus_arrhythmia", "sinus arrhythmia", ("SARRH",), "RHYTHM", "respiratory RR swing 8-22 %", _sinus_arrhythmia),
        Condition("atrial_fibrillation", "atrial fibrillation", ("AFIB",), "RHYTHM", "RR CV 0.12-0.28, f-waves 0.03-0.12 mV", _atrial_fibrillation),
        Condition("atrial_flutter", "atrial flutter", ("AFLT",), "RHYTHM", "flutter waves 0.15-0.35 mV, 2:1-4:1", _atrial_flutter),
        Condition("premature_ventricular", "premature ventricular complexes", ("PVC",), "ECTOPY", "1-3 per record", _premature_ventricular),
        Condition("premature_atrial", "premature atrial complexes", ("PAC",), "ECTOPY", "1-3 per record", _premature_atrial),
    ]
}

RHYTHM_CONDITIONS: frozenset[str] = frozenset(
    name for name, condition in CONDITIONS.items() if condition.group == "RHYTHM"
)


def apply_conditions(heart: HeartState, severities: dict[str, float], rng: np.random.Generator) -> HeartState:
    """Apply the named conditions (with severities in [0, 1]) in registry order."""
    for name in CONDITIONS:
        if name in severities:
            severity = float(np.clip(severities[name], 0.0, 1.0))
            CONDITIONS[name].modify(heart, severity, rng)
            heart.conditions[name] = severity
    return heart
