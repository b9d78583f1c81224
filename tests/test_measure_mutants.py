"""measure() pinned where mutation testing (issue 17) found it loose: per-lead baseline
offsets and wander must not move a boundary, masked leads carry no say, the axis needs
only two limb leads, and values keep their documented rounding."""

from __future__ import annotations

import numpy as np
import pytest
from test_measure import beat_train

from heartcare.ecg.measure import FIELDS, measure
from heartcare.ecg.record import Ecg

INTERVALS = ("pr_ms", "qrs_ms", "qt_ms")


@pytest.fixture(scope="module")
def reference():
    ecg = beat_train(heart_rate=72.0, axis_deg=40.0, seconds=8.0)
    return ecg, measure(ecg)


def test_per_lead_offsets_and_wander_do_not_move_any_boundary(reference) -> None:
    ecg, clean = reference
    time_s = np.arange(ecg.samples) / ecg.fs
    offsets = np.linspace(-2.0, 2.0, 12)[:, None]
    wander = 0.5 * np.sin(2 * np.pi * 0.15 * time_s + np.arange(12)[:, None]) + 0.05 * time_s
    shifted = measure(Ecg((ecg.signal + offsets + wander).astype(np.float32), ecg.fs))
    assert shifted.hr_bpm == pytest.approx(clean.hr_bpm, abs=0.5)
    for name in INTERVALS:
        assert getattr(shifted, name) == pytest.approx(getattr(clean, name), abs=6), name
    assert shifted.axis_deg == pytest.approx(clean.axis_deg, abs=3)


def test_constant_offsets_change_nothing(reference) -> None:
    ecg, clean = reference
    offsets = np.linspace(-1.5, 1.5, 12, dtype=np.float32)[:, None]
    shifted = measure(Ecg(ecg.signal + offsets, ecg.fs))
    for name in ("hr_bpm", *INTERVALS):
        assert getattr(shifted, name) == pytest.approx(getattr(clean, name), abs=2.1), name
    assert shifted.axis_deg == pytest.approx(clean.axis_deg, abs=1)


def test_a_masked_lead_has_no_say_whatever_it_holds(reference) -> None:
    ecg, clean = reference
    junk = ecg.signal.copy()
    junk[7] = np.random.default_rng(3).normal(0, 3.0, ecg.samples)  # unplugged V2, not recorded
    zeroed = ecg.signal.copy()
    zeroed[7] = 0.0
    mask = [True] * 12
    mask[7] = False
    masked_junk = measure(Ecg(junk, ecg.fs, meta={"lead_mask": mask}))
    masked_zero = measure(Ecg(zeroed, ecg.fs, meta={"lead_mask": mask}))
    # Beat selection still sees every row (readers zero-fill masked leads), hence approx.
    for name in ("hr_bpm", *INTERVALS):
        assert getattr(masked_junk, name) == pytest.approx(getattr(masked_zero, name), abs=1), name
    assert masked_junk.axis_deg == pytest.approx(masked_zero.axis_deg, abs=0.5)


def test_axis_from_two_limb_leads_and_without_lead_i(reference) -> None:
    ecg, clean = reference
    two = Ecg(ecg.signal[[0, 5, 7]], ecg.fs, leads=("I", "aVF", "V2"))
    assert measure(two).axis_deg == pytest.approx(clean.axis_deg, abs=8)
    mask = [True] * 12
    mask[0] = False  # lead I not recorded: the other five limb leads still give the axis
    signal = ecg.signal.copy()
    signal[0] = 0.0
    without_i = measure(Ecg(signal, ecg.fs, meta={"lead_mask": mask}))
    assert without_i.axis_deg == pytest.approx(clean.axis_deg, abs=5)
    one = measure(Ecg(ecg.signal[[1, 7]], ecg.fs, leads=("II", "V2")))
    assert one.axis_deg is None and one.reasons["axis_deg"] == "fewer than two independent limb leads"


@pytest.mark.parametrize("axis", [-30.0, 75.0, 150.0])
def test_axis_is_rounded_to_a_tenth_of_a_degree(axis: float) -> None:
    result = measure(beat_train(axis_deg=axis, seconds=4.0))
    assert isinstance(result.axis_deg, float)
    assert result.axis_deg == round(result.axis_deg, 1)
    assert result.axis_deg == pytest.approx(axis, abs=10)


def test_three_beats_give_an_irregularity_and_two_do_not() -> None:
    three = measure(beat_train(heart_rate=75.0, seconds=2.2))  # beats at 0.35, 1.15, 1.95 s
    assert three.rr_irregularity is not None and three.rr_irregularity < 0.05
    two = measure(beat_train(heart_rate=75.0, seconds=1.4))
    assert two.hr_bpm == pytest.approx(75, abs=2)
    assert two.rr_irregularity is None and two.reasons["rr_irregularity"] == "needs at least three beats"


def test_short_and_empty_records_say_why() -> None:
    too_short = measure(beat_train(seconds=0.4))
    assert all(getattr(too_short, name) is None for name in FIELDS)
    assert too_short.reasons["hr_bpm"] == "record too short (0.40 s) to measure"
    half = measure(beat_train(heart_rate=150.0, seconds=1.2))  # 1.2 s is long enough to measure
    assert half.hr_bpm == pytest.approx(150, abs=5)
    flat = measure(Ecg(np.zeros((12, 2000), np.float32), 500.0))
    assert flat.reasons["qrs_ms"] == "no usable lead (all flat or missing)"


def test_to_dict_carries_both_qtc_names(reference) -> None:
    _, clean = reference
    values = clean.to_dict()
    assert values["qtc_bazett_ms"] == values["qtc_ms"] == clean.qtc_bazett_ms is not None
    assert values["qtc_fridericia_ms"] == clean.qtc_fridericia_ms


def test_high_rate_records_measure_like_their_500_hz_version(reference) -> None:
    ecg, clean = reference
    from heartcare.ecg.preprocess import resample

    fast = measure(resample(ecg, 1000.0))
    for name in ("hr_bpm", *INTERVALS):
        assert getattr(fast, name) == pytest.approx(getattr(clean, name), abs=4), name


# ---- T end (tangent method) and median beats --------------------------------------------

FS = 500.0
FIDUCIAL = 200


def t_magnitude(peak_s: float, width_s: float, amplitude: float, level: float = 0.0,
                bump: tuple[float, float] | None = None, length_s: float = 1.2) -> np.ndarray:
    """Spatial magnitude [m] mV after the R at FIDUCIAL: a Gaussian T (peak, width) on a TP
    `level`, plus an optional later bump (time s, height mV) like the next P wave."""
    time_s = (np.arange(int(length_s * FS)) - FIDUCIAL) / FS
    curve = level + amplitude * np.exp(-0.5 * ((time_s - peak_s) / width_s) ** 2)
    if bump is not None:
        curve += bump[1] * np.exp(-0.5 * ((time_s - bump[0]) / 0.02) ** 2)
    return curve


@pytest.mark.parametrize("level", [0.0, 0.3])
@pytest.mark.parametrize(("peak_s", "width_s"), [(0.26, 0.04), (0.3, 0.05)])
def test_tangent_t_end_is_two_widths_past_the_peak_on_any_tp_level(level: float, peak_s: float, width_s: float) -> None:
    from heartcare.ecg.t_end import t_wave_end

    reasons: dict[str, str] = {}
    end = t_wave_end(t_magnitude(peak_s, width_s, 0.4, level), FIDUCIAL + 25, FIDUCIAL, int(FS), FS, reasons)
    assert reasons == {}
    assert end == pytest.approx(FIDUCIAL + (peak_s + 2 * width_s) * FS, abs=2)


def test_the_t_peak_is_searched_before_the_next_p_wave() -> None:
    from heartcare.ecg.t_end import t_wave_end

    # A taller bump at 0.62 s (the next P wave at 80 bpm) must not be taken for the T peak.
    curve = t_magnitude(0.28, 0.04, 0.25, bump=(0.62, 0.5))
    end = t_wave_end(curve, FIDUCIAL + 25, FIDUCIAL, int(0.75 * FS), FS, {})
    assert end == pytest.approx(FIDUCIAL + 0.36 * FS, abs=2)


def test_t_end_reasons() -> None:
    from heartcare.ecg.t_end import T_MIN_AMPLITUDE_MV, t_wave_end

    reasons: dict[str, str] = {}
    assert t_wave_end(t_magnitude(0.15, 0.03, 0.4), FIDUCIAL + 25, FIDUCIAL, int(0.2 * FS), FS, reasons) is None
    assert reasons == {"qt": "no room for a T wave before the next beat"}
    reasons = {}
    assert t_wave_end(t_magnitude(0.28, 0.04, 0.03), FIDUCIAL + 25, FIDUCIAL, int(FS), FS, reasons) is None
    assert reasons == {"qt": "T wave too flat to find its end"}
    reasons = {}  # exactly the minimum amplitude still has an end
    assert t_wave_end(t_magnitude(0.28, 0.04, T_MIN_AMPLITUDE_MV), FIDUCIAL + 25, FIDUCIAL, int(FS), FS, reasons)
    assert reasons == {}


def test_tangent_intersection_of_a_straight_fall_and_a_flat_curve() -> None:
    from heartcare.ecg.t_end import tangent_intersection

    # A line falling 0.01 mV per sample from 1.0 onto a 0.2 baseline meets it 80 samples on.
    curve = np.concatenate([np.linspace(1.0, 0.2, 81), np.full(60, 0.2)])
    assert tangent_intersection(curve, 0, 70, 0.2, 140) == 80
    assert tangent_intersection(curve, 0, 1, 0.2, 140) == 1  # too short to have a slope
    assert tangent_intersection(np.full(50, 0.3), 0, 40, 0.3, 49) == 40  # nothing falls


@pytest.mark.parametrize(("rr_s", "pre_s", "post_s"), [(0.3, 0.25, 0.3), (0.6, 0.42, 0.57), (1.2, 0.5, 0.75)])
def test_median_beat_window_follows_the_rr_interval(rr_s: float, pre_s: float, post_s: float) -> None:
    from heartcare.ecg.delineate import median_beats

    signal = np.random.default_rng(0).normal(size=(2, 5000))
    median = median_beats(signal, FS, np.asarray([2000, 2600]), rr_s)
    assert median.fiducial == round(pre_s * FS)
    assert median.beats.shape == (2, round(pre_s * FS) + round(post_s * FS))


def test_median_beat_pads_the_record_edges_with_the_edge_value() -> None:
    from heartcare.ecg.delineate import median_beats

    signal = np.full((1, 2000), 1.5)
    median = median_beats(signal, FS, np.asarray([10, 1990]), 1.0)
    np.testing.assert_array_equal(median.beats, 1.5)


def test_ectopic_beats_are_left_out_of_the_median() -> None:
    from heartcare.ecg.delineate import median_beats

    time_s = np.arange(int(10 * FS)) / FS
    peaks = np.arange(0.5, 9.5, 0.8)
    ectopic = {2, 6}  # inverted, wide beats
    signal = np.zeros((3, time_s.size))
    for index, peak in enumerate(peaks):
        width, sign = (0.03, -1.0) if index in ectopic else (0.01, 1.0)
        signal += sign * np.outer([1.0, 0.6, -0.4], np.exp(-0.5 * ((time_s - peak) / width) ** 2))
    samples = np.round(peaks * FS).astype(int)
    median = median_beats(signal, FS, samples, 0.8)
    assert median.count == len(peaks) - len(ectopic)
    assert median.beats[0, median.fiducial] == pytest.approx(1.0, abs=1e-6)
    assert median.irregularity == pytest.approx(0.0, abs=1e-9)


# ---- intervals from boundaries, and the reasons a user reads ------------------------------


def test_intervals_from_known_boundaries_at_an_odd_rate() -> None:
    import math

    from heartcare.ecg.delineate import Boundaries
    from heartcare.ecg.measure import _intervals

    fs, to_ms = 257.0, 1000.0 / 257.0
    reasons: dict[str, str] = {}
    values = _intervals(Boundaries(10, 91, 138, 307), fs, 73.0, reasons)
    qt = 216 * to_ms
    rr_s = 60.0 / 73.0
    assert values == {
        "qrs_ms": round(47 * to_ms, 1), "pr_ms": round(81 * to_ms, 1), "qt_ms": round(qt, 1),
        "qtc_bazett_ms": round(qt / math.sqrt(rr_s), 1), "qtc_fridericia_ms": round(qt / rr_s ** (1 / 3), 1),
    }
    assert values["qrs_ms"] == 182.9 and values["pr_ms"] == 315.2 and values["qt_ms"] == 840.5
    assert reasons == {}


def test_interval_reasons_pass_the_delineators_words_on() -> None:
    from heartcare.ecg.delineate import Boundaries
    from heartcare.ecg.measure import _intervals

    reasons: dict[str, str] = {}
    values = _intervals(Boundaries(None, 91, 138, None, {"pr": "P hidden", "qt": "T flat"}), 500.0, 60.0, reasons)
    assert values == {"qrs_ms": 94.0}
    assert reasons == {"pr_ms": "P hidden", "qt_ms": "T flat", "qtc_bazett_ms": "T flat", "qtc_fridericia_ms": "T flat"}
    reasons = {}
    _intervals(Boundaries(None, 91, 138, None), 500.0, 60.0, reasons)
    assert reasons == {"pr_ms": "P wave not found", "qt_ms": "T wave end not found",
                       "qtc_bazett_ms": "T wave end not found", "qtc_fridericia_ms": "T wave end not found"}
    reasons = {}
    values = _intervals(Boundaries(10, 91, 138, 307), 500.0, None, reasons)
    assert values["qt_ms"] == 432.0 and "qtc_bazett_ms" not in values
    assert reasons == {"qtc_bazett_ms": "QTc needs the heart rate (two beats)",
                       "qtc_fridericia_ms": "QTc needs the heart rate (two beats)"}
    assert _intervals(Boundaries(None, None, None, None), 500.0, 60.0, {}) == {}


def test_measure_rounding_and_single_beat_reasons() -> None:
    result = measure(beat_train(heart_rate=71.3, seconds=6.0))
    assert result.hr_bpm == round(result.hr_bpm, 1) and result.rr_irregularity == round(result.rr_irregularity, 4)
    one = measure(beat_train(heart_rate=40.0, seconds=1.0))  # one beat at 0.35 s
    assert one.hr_bpm is None
    assert one.reasons["hr_bpm"] == one.reasons["rr_irregularity"] == "fewer than two beats detected"
    assert one.qrs_ms is not None  # one beat still has a QRS width


def test_neurokit_opinion_gives_intervals_and_named_errors() -> None:
    pytest.importorskip("neurokit2")
    from heartcare.ecg.measure import cross_check_neurokit

    opinion = cross_check_neurokit(beat_train(heart_rate=72.0, seconds=8.0))
    assert "error" not in opinion
    assert 40 <= opinion["qrs_ms"] <= 160 and 80 <= opinion["pr_ms"] <= 300 and 250 <= opinion["qt_ms"] <= 550
    for key in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms"):
        assert opinion[key] == round(opinion[key], 1)
    assert cross_check_neurokit(beat_train(), lead="V7")["error"] == "lead V7 not in the record"
    failed = cross_check_neurokit(Ecg(np.zeros((12, 100), np.float32), 500.0))
    assert failed["error"].startswith("neurokit2 failed: ") and failed["hr_bpm"] is None
