"""Morphology descriptors: each waveform finding moves the amplitude a cart would read it from."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.measure import measure
from heartcare.ecg.morphology import CRITERIA, NAMES, PER_LEAD, RECORD, WIDTH, morphology_features
from heartcare.ecg.record import Ecg
from heartcare.sim import SimulationSpec, simulate
from heartcare.sim.noise import QUIET

SEEDS = range(3)


@pytest.fixture(scope="module")
def real_dicom_ecg() -> Ecg:
    """pydicom's packaged 12-lead ECG: its text says sinus rhythm, normal ECG."""
    from heartcare.ecg.read import read_ecg

    pydicom = pytest.importorskip("pydicom")
    return read_ecg(pydicom.data.get_testdata_file("waveform_ecg.dcm"))


def value(features: np.ndarray, name: str) -> float:
    return float(features[NAMES.index(name)])


def lead(features: np.ndarray, lead_name: str, name: str) -> float:
    return value(features, f"{lead_name}_{name}")


def simulated(conditions: dict[str, float], seed: int) -> np.ndarray:
    return morphology_features(simulate(SimulationSpec(conditions=conditions, noise=QUIET), fs=500.0, seed=seed).ecg)


def test_names_and_width_agree_in_a_fixed_order():
    assert WIDTH == len(NAMES) == 12 * len(PER_LEAD) + len(RECORD) + len(CRITERIA) == len(set(NAMES))
    assert NAMES[0] == "I_p_mv" and NAMES[len(PER_LEAD)] == "II_p_mv"


def test_the_real_dicom_reads_as_the_normal_ecg_its_text_says(real_dicom_ecg):
    features = morphology_features(real_dicom_ecg)
    measured = measure(real_dicom_ecg)
    assert features.shape == (WIDTH,) and features.dtype == np.float32 and np.isfinite(features).all()
    assert value(features, "pr_ms_scaled") * 200 == pytest.approx(measured.pr_ms, abs=0.5)
    assert value(features, "qt_ms_scaled") * 400 == pytest.approx(measured.qt_ms, abs=0.5)
    assert all(value(features, f"{name}_measured") == 1.0 for name in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "axis_deg"))
    axis = np.degrees(np.arctan2(value(features, "axis_sin"), value(features, "axis_cos")))
    assert axis == pytest.approx(measured.axis_deg, abs=0.5)
    # Normal: upright R and T in II and V5, negative QRS and T in aVR, no pathological Q, no ST depression.
    assert lead(features, "II", "r_mv") > 0.5 and lead(features, "II", "t_mv") > 0.1 and lead(features, "V5", "t_mv") > 0.1
    assert lead(features, "aVR", "s_mv") < -0.5 and lead(features, "aVR", "t_mv") < -0.1
    assert value(features, "q_wave_leads") == 0 and value(features, "st_depressed_leads") == 0
    assert 0.5 < value(features, "max_limb_qrs_mv") < 3 and value(features, "max_precordial_qrs_mv") > 1.0


def test_low_voltage_shrinks_every_lead_and_hypertrophy_raises_the_voltage_criteria():
    for seed in SEEDS:
        normal = simulated({"normal": 1.0}, seed)
        low = simulated({"low_voltage": 1.0}, seed)
        high = simulated({"left_ventricular_hypertrophy": 1.0}, seed)
        assert value(low, "max_limb_qrs_mv") < 0.6 * value(normal, "max_limb_qrs_mv")
        assert value(low, "max_precordial_qrs_mv") < 0.6 * value(normal, "max_precordial_qrs_mv")
        assert value(high, "sokolow_lyon_mv") > 1.3 * value(normal, "sokolow_lyon_mv")


def test_inverted_t_waves_and_st_depression_are_counted_where_they_happen():
    for seed in SEEDS:
        normal = simulated({"normal": 1.0}, seed)
        inverted = simulated({"t_inversion": 1.0}, seed)
        depressed = simulated({"st_depression": 1.0}, seed)
        assert value(inverted, "inverted_t_leads") >= value(normal, "inverted_t_leads") + 3
        assert lead(inverted, "V5", "t_mv") < 0 < lead(normal, "V5", "t_mv")
        assert value(depressed, "st_depressed_leads") >= value(normal, "st_depressed_leads") + 3
        assert lead(depressed, "V5", "st_mv") < lead(normal, "V5", "st_mv") - 0.05


def test_old_inferior_infarction_leaves_q_waves_in_the_inferior_leads_and_av_block_a_long_pr():
    for seed in SEEDS:
        normal = simulated({"normal": 1.0}, seed)
        infarct = simulated({"old_inferior_mi": 1.0}, seed)
        assert value(infarct, "q_wave_leads") >= value(normal, "q_wave_leads") + 2
        assert max(lead(infarct, name, "q_mv") for name in ("II", "III", "aVF")) < -0.3
        assert max(lead(normal, name, "q_mv") for name in ("II", "III", "aVF")) > -0.1
        blocked = simulated({"first_degree_av_block": 1.0}, seed)
        assert value(blocked, "pr_ms_scaled") * 200 > 200 > value(normal, "pr_ms_scaled") * 200


def test_columns_follow_lead_names_not_row_order_and_a_missing_lead_reads_zero():
    ecg = simulate(SimulationSpec(conditions={"normal": 1.0}, noise=QUIET), fs=500.0, seed=0).ecg
    features = morphology_features(ecg)
    order = list(range(12))
    order[STANDARD_LEADS.index("V1")], order[STANDARD_LEADS.index("V5")] = order[STANDARD_LEADS.index("V5")], order[STANDARD_LEADS.index("V1")]
    swapped = Ecg(ecg.signal[order], ecg.fs, leads=tuple(ecg.leads[index] for index in order))
    np.testing.assert_allclose(morphology_features(swapped), features, atol=1e-4)
    mislabelled = Ecg(ecg.signal[order], ecg.fs, leads=ecg.leads)  # the same rows under the wrong names
    assert lead(morphology_features(mislabelled), "V1", "r_mv") == pytest.approx(lead(features, "V5", "r_mv"), abs=0.05)
    signal = ecg.signal.copy()
    signal[STANDARD_LEADS.index("V3")] = 0.0
    dropped = Ecg(signal, ecg.fs, meta={"lead_mask": [name != "V3" for name in STANDARD_LEADS]})
    reduced = morphology_features(dropped)
    assert all(lead(reduced, "V3", name) == 0.0 for name in PER_LEAD)
    assert lead(reduced, "V5", "r_mv") == pytest.approx(lead(features, "V5", "r_mv"), abs=0.05)


def test_a_flat_record_is_all_zeros_with_nothing_measured():
    flat = morphology_features(Ecg(np.zeros((12, 5000), dtype=np.float32), 500.0))
    assert not flat.any()


def test_amplitudes_are_read_against_the_pr_segment_at_their_own_points():
    """A hand-made median beat riding 0.3 mV above zero, its ST segment sloping down from J: every
    amplitude is taken from the PR baseline, ST 60 ms after J (not at J), T and P at their peaks."""
    from heartcare.ecg.delineate import Boundaries, MedianBeats
    from heartcare.ecg.morphology import _per_lead

    fs, samples = 500.0, 500
    beat = np.full(samples, 0.3)
    beat[100:141] += 0.15 * np.sin(np.linspace(0, np.pi, 41))  # P
    beat[185:196] -= 0.2  # q
    beat[196:205] += 1.0  # R
    beat[205:221] -= 0.3  # S
    beat[225:256] += np.linspace(0.5, 0.05, 31)  # ST falling from a high J point (225) to J + 60 ms (255)
    beat[300:381] += -0.4 * np.sin(np.linspace(0, np.pi, 81))  # an inverted T
    median = MedianBeats(beat[None, :], 200, fs, 10, 1.0, beat[None, None, :])
    row = dict(zip(PER_LEAD, _per_lead(median, Boundaries(95, 180, 225, 390))[0], strict=True))
    assert row["p_mv"] == pytest.approx(0.15, abs=0.01) and row["t_mv"] == pytest.approx(-0.4, abs=0.01)
    assert row["q_mv"] == pytest.approx(-0.2) and row["r_mv"] == pytest.approx(1.0) and row["s_mv"] == pytest.approx(-0.3)
    assert row["st_mv"] == pytest.approx(0.05, abs=0.01) and row["qrs_peak_to_peak_mv"] == pytest.approx(1.3)


def test_a_lead_marked_missing_reads_zero_whatever_its_row_holds():
    ecg = simulate(SimulationSpec(conditions={"normal": 1.0}, noise=QUIET), fs=500.0, seed=1).ecg
    mask = [name != "V3" for name in STANDARD_LEADS]
    masked = morphology_features(Ecg(ecg.signal, ecg.fs, meta={"lead_mask": mask}))
    assert all(lead(masked, "V3", name) == 0.0 for name in PER_LEAD)
    assert lead(morphology_features(ecg), "V3", "qrs_peak_to_peak_mv") > 0.3


def test_a_recording_seen_in_pieces_takes_each_lead_from_where_it_is_shown():
    """combined_morphology (a paper sheet's pieces): the whole-record strip's leads and record-level
    values first, each other lead from the first piece holding it, the axis from a piece with limb leads."""
    from heartcare.ecg.morphology import combined_morphology

    ecg = simulate(SimulationSpec(conditions={"normal": 0.0}, noise=QUIET), fs=500.0, seconds=10.0, seed=2).ecg
    rhythm = Ecg(ecg.signal[[1]], ecg.fs, ("II",))
    first = ecg.crop(0.0, 2.5)
    halved = Ecg(first.signal[[0, 1, 2]] * np.array([[1.0], [0.5], [1.0]], dtype=np.float32), ecg.fs, ("I", "II", "III"))
    louder = Ecg(first.signal[[0]] * 2.0, ecg.fs, ("I",))
    combined = combined_morphology(rhythm, [halved, louder])
    whole = morphology_features(ecg)
    r_of = {lead: NAMES.index(f"{lead}_r_mv") for lead in ("I", "II", "III", "V1")}
    assert combined[r_of["II"]] == pytest.approx(whole[r_of["II"]], rel=0.05)  # the strip's II, not the halved one
    assert combined[r_of["I"]] == pytest.approx(whole[r_of["I"]], rel=0.1)  # the first piece's I, not the louder one
    assert combined[r_of["V1"]] == 0.0  # shown nowhere
    assert combined[NAMES.index("axis_deg_measured")] == 1.0
    assert combined[NAMES.index("hr_bpm_scaled")] == pytest.approx(whole[NAMES.index("hr_bpm_scaled")], rel=0.02)
