"""The simulator: lead relations, determinism, condition features, labels, reports, speed."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.errors import ConfigError
from heartcare.sim import CONDITIONS, NoiseSpec, SimulatedEcg, SimulationSpec, simulate
from heartcare.sim.noise import QUIET
from heartcare.sources.scp import statements

LEAD = {name: index for index, name in enumerate(("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"))}


def quiet(conditions: dict[str, float], seed: int = 1, **kwargs) -> SimulatedEcg:
    return simulate(SimulationSpec(conditions=conditions, noise=QUIET, **kwargs), seed=seed)


def beat_peak(signal: np.ndarray, lead: str) -> tuple[float, float]:
    """(max, min) of one lead over the record (noise-free)."""
    row = signal[LEAD[lead]]
    return float(row.max()), float(row.min())


def test_einthoven_and_goldberger_hold_exactly_even_with_noise():
    noisy = NoiseSpec(baseline_mv=0.3, powerline_mv=0.05, muscle_mv=0.03, motion_mv=0.5)
    signal = simulate(SimulationSpec(conditions={"acute_inferior_mi": 0.7}, noise=noisy), seed=4).ecg.signal.astype(np.float64)
    lead_i, lead_ii = signal[0], signal[1]
    np.testing.assert_allclose(signal[2], lead_ii - lead_i, atol=1e-5)
    np.testing.assert_allclose(signal[3], -(lead_i + lead_ii) / 2, atol=1e-5)
    np.testing.assert_allclose(signal[4], lead_i - lead_ii / 2, atol=1e-5)
    np.testing.assert_allclose(signal[5], lead_ii - lead_i / 2, atol=1e-5)


def test_deterministic_by_seed_and_different_across_seeds():
    spec = SimulationSpec(conditions={"atrial_fibrillation": 0.5, "premature_ventricular": 0.5})
    first, again, other = simulate(spec, seed=7), simulate(spec, seed=7), simulate(spec, seed=8)
    np.testing.assert_array_equal(first.ecg.signal, again.ecg.signal)
    assert first.report == again.report and first.labels == again.labels
    assert not np.allclose(first.ecg.signal, other.ecg.signal)


def test_shape_units_and_realistic_normal_amplitudes():
    simulated = quiet({"normal": 0.0}, seed=2)
    ecg = simulated.ecg
    assert ecg.signal.shape == (12, 5000) and ecg.signal.dtype == np.float32 and ecg.fs == 500
    assert 0.4 <= beat_peak(ecg.signal, "II")[0] <= 2.2  # limb R waves
    assert beat_peak(ecg.signal, "aVR")[1] < -0.3  # aVR is negative in health
    # R-wave progression: R grows from V1 to V5, S shrinks.
    r_v1, s_v1 = beat_peak(ecg.signal, "V1")
    r_v5, s_v5 = beat_peak(ecg.signal, "V5")
    assert r_v1 < 0.5 < r_v5 <= 3.0 and s_v1 < -0.4 and abs(s_v5) < abs(s_v1)
    truth = simulated.truth
    assert 60 < truth.hr_bpm < 100 and 120 <= truth.pr_ms <= 200 and truth.qrs_ms < 110
    assert -30 <= truth.axis_deg <= 90


def test_heart_rate_truth_matches_the_drawn_beats():
    for name, low, high in (("sinus_bradycardia", 38, 60), ("sinus_tachycardia", 100, 152)):
        truth = quiet({name: 0.5}).truth
        assert low < truth.hr_bpm < high


def test_bundle_branch_blocks_are_wide_with_their_shapes():
    lbbb, rbbb = quiet({"left_bundle_branch_block": 0.5}), quiet({"right_bundle_branch_block": 0.5})
    assert lbbb.truth.qrs_ms >= 120 and rbbb.truth.qrs_ms >= 120
    # LBBB: V1 dominantly negative, V6 / I dominantly positive.
    assert abs(beat_peak(lbbb.ecg.signal, "V1")[1]) > beat_peak(lbbb.ecg.signal, "V1")[0]
    assert beat_peak(lbbb.ecg.signal, "V6")[0] > abs(beat_peak(lbbb.ecg.signal, "V6")[1])
    # RBBB: terminal R' makes V1 positive late and lead I ends in a wide S.
    assert beat_peak(rbbb.ecg.signal, "V1")[0] > 0.4


def test_left_anterior_fascicular_block_has_left_axis():
    assert quiet({"left_anterior_fascicular_block": 0.5}).truth.axis_deg < -30


def test_acute_inferior_infarct_elevates_st_inferiorly_with_reciprocal_depression():
    normal, infarct = quiet({"normal": 0.0}, seed=3), quiet({"acute_inferior_mi": 1.0}, seed=3)
    # ST level 60 ms after the J point of a mid-record beat, relative to the normal heart.
    difference = infarct.ecg.signal - normal.ecg.signal
    assert difference[LEAD["III"]].max() > 0.15 and difference[LEAD["aVL"]].min() < -0.1
    assert "IMI" in infarct.labels and infarct.truth.conditions == {"acute_inferior_mi": 1.0}


def test_atrial_fibrillation_is_irregular_and_has_no_pr():
    truth = quiet({"atrial_fibrillation": 0.8}).truth
    assert truth.pr_ms is None and truth.rhythm == "atrial_fibrillation"


def test_every_condition_draws_and_is_labelled_with_known_codes():
    table = statements()
    for name, condition in CONDITIONS.items():
        simulated = quiet({name: 0.5})
        assert np.all(np.isfinite(simulated.ecg.signal)), name
        assert set(condition.codes) <= set(simulated.labels), name
        assert set(simulated.labels) <= set(table), name
        assert simulated.report.endswith(".") and "Impression:" in simulated.report


def test_ectopic_beats_are_counted():
    truth = quiet({"premature_ventricular": 1.0}, seed=5).truth
    assert truth.ectopic_beats["ventricular"] >= 2


def test_report_mentions_rhythm_rate_and_findings():
    simulated = quiet({"left_bundle_branch_block": 0.9})
    report = simulated.report.lower()
    assert "left bundle branch block" in report or "lbbb" in report
    assert f"{simulated.truth.hr_bpm:.0f}" in report


def test_bad_specs_are_rejected_with_a_clear_message():
    with pytest.raises(ConfigError, match="unknown condition"):
        SimulationSpec(conditions={"heart_of_gold": 0.5})
    with pytest.raises(ConfigError, match="severity"):
        SimulationSpec(conditions={"normal": 2.0})
    with pytest.raises(ConfigError, match="baseline_mv"):
        NoiseSpec(baseline_mv=-1.0)


def test_noise_flags_and_likelihoods_follow_ptbxl_conventions():
    noisy = simulate(SimulationSpec(conditions={"normal": 0.0}, noise=NoiseSpec(baseline_mv=0.3, motion_mv=0.5)), seed=1)
    assert noisy.truth.noise_flags == {"baseline_drift": True, "static_noise": False, "burst_noise": True, "electrodes_problems": True}
    assert noisy.truth.noise["motion_electrode"] is not None
    # PTB-XL states likelihoods for diagnostic codes like CLBBB, not for rhythm codes like SR or AFIB.
    block = quiet({"left_bundle_branch_block": 0.9, "atrial_fibrillation": 0.5}).labels
    assert block["CLBBB"] == 100.0 and block["AFIB"] == 0.0 and "SR" not in block
    mild = [quiet({"old_inferior_mi": 0.05}, seed=s).labels["IMI"] for s in range(8)]
    assert max(mild) < 100.0


def test_same_patient_keeps_traits_across_records():
    first = simulate(SimulationSpec(conditions={"normal": 0.0}, patient_seed=42), seed=1).truth
    second = simulate(SimulationSpec(conditions={"normal": 0.0}, patient_seed=42), seed=2).truth
    stranger = simulate(SimulationSpec(conditions={"normal": 0.0}, patient_seed=43), seed=2).truth
    assert first.axis_deg == second.axis_deg and first.qrs_ms == second.qrs_ms
    assert (stranger.axis_deg, stranger.qrs_ms) != (first.axis_deg, first.qrs_ms)
