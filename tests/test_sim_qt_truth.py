"""The simulator's QT truth: the end of the drawn T wave, None for a flat one, met by measure()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heartcare.sim import SimulationSpec, simulate
from heartcare.sim.dipole import Wave, visible_span
from heartcare.sim.heart import normal_heart
from heartcare.sim.noise import QUIET
from heartcare.sim.repolarisation import T_VISIBLE_FRACTION, repolarisation_end_ms
from heartcare.sim.simulate import QRS_VISIBLE_FRACTION


def test_end_of_a_one_lobe_t_wave_is_where_it_fades_below_the_visible_share() -> None:
    heart = normal_heart(55, "M", np.random.default_rng(0))
    heart.t_wave = Wave.of([(0.6, 0.1, (0.3, 0.3, 0.3))])
    t_s = heart.t_fraction * heart.qt_ms
    centre = heart.qt_ms - t_s + 0.6 * t_s
    expected = centre + 0.1 * t_s * math.sqrt(-2 * math.log(T_VISIBLE_FRACTION))
    assert repolarisation_end_ms(heart) == pytest.approx(expected, abs=1.0)


def test_normal_t_wave_ends_at_its_nominal_qt_and_qtc_is_bazett() -> None:
    # The normal T wave's lobes are laid out to fill its nominal span, so there the drawn
    # wave and the nominal QT agree; only reshaped or flat T waves move the truth.
    for seed in range(4):
        simulated = simulate(SimulationSpec(conditions={"normal": 0.0}, noise=QUIET), seed=seed)
        heart = normal_heart(55, "M", np.random.default_rng([seed, 7]))  # as simulate() draws it
        heart.hr_bpm = float(np.clip(heart.hr_bpm + np.random.default_rng([seed, 11]).normal(0, 4.0), 60.5, 98.0))
        qrs_start, _ = visible_span(heart.qrs, heart.qrs_ms, QRS_VISIBLE_FRACTION)
        truth = simulated.truth
        assert truth.qt_ms == pytest.approx(heart.qt_ms - qrs_start, abs=3)
        assert truth.qtc_ms == pytest.approx(truth.qt_ms / math.sqrt(60 / truth.hr_bpm), abs=0.2)


def test_flat_t_wave_has_no_qt_and_the_report_says_none() -> None:
    # t_inversion scales T by 0.3 - 1.3 * severity: zero near severity 0.23.
    simulated = simulate(SimulationSpec(conditions={"t_inversion": 0.23}, noise=QUIET), seed=2)
    assert simulated.truth.qt_ms is None and simulated.truth.qtc_ms is None
    assert "QT/QTc" not in simulated.report
    inverted = simulate(SimulationSpec(conditions={"t_inversion": 0.9}, noise=QUIET), seed=2)
    assert inverted.truth.qt_ms is not None


@pytest.mark.parametrize("conditions", [{"normal": 0.0}, {"acute_inferior_mi": 0.6}, {"left_ventricular_hypertrophy": 0.9}, {"sinus_tachycardia": 0.5}])
def test_measured_qt_meets_the_truth_on_clean_records(conditions: dict[str, float]) -> None:
    from heartcare.ecg.measure import measure

    simulated = simulate(SimulationSpec(conditions=conditions, noise=QUIET), seed=3)
    result = measure(simulated.ecg)
    assert result.qt_ms == pytest.approx(simulated.truth.qt_ms, abs=10), conditions
    assert result.qtc_bazett_ms == pytest.approx(simulated.truth.qtc_ms, abs=12), conditions
