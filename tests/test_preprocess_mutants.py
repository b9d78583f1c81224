"""Filters and quality scores, pinned where mutation testing (issue 17) found them loose:
band edges, defaults users rely on, per-lead baselines, mains handling, messages naming
the record, and the best-window search."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.preprocess import bandpass, clean, detect_mains, notch, remove_baseline, resample
from heartcare.ecg.quality import best_window, record_quality
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError, HeartcareError

FS = 500.0


def tones(frequencies: dict[float, float], fs: float = FS, seconds: float = 4.0, name: str = "rec-7") -> Ecg:
    """12 identical leads, a sum of sines {Hz: mV amplitude}, named `name` for messages."""
    time_s = np.arange(int(fs * seconds)) / fs
    row = sum(amplitude * np.sin(2 * np.pi * hz * time_s) for hz, amplitude in frequencies.items())
    return Ecg(np.tile(row, (12, 1)).astype(np.float32), fs, meta={"record_id": name})


def amplitude(ecg: Ecg, hz: float) -> float:
    """Amplitude (mV) of one sine in lead 0, from the middle of the record (edges aside)."""
    row = ecg.signal[0, int(ecg.fs) : -int(ecg.fs)]
    spectrum = np.abs(np.fft.rfft(row)) * 2 / row.size
    return float(spectrum[np.argmin(np.abs(np.fft.rfftfreq(row.size, 1 / ecg.fs) - hz))])


def test_every_filter_error_names_the_record_and_the_problem() -> None:
    ecg = tones({8.0: 1.0})
    calls = [
        (lambda: bandpass(ecg, 0.0, 40.0), "low cut-off 0.0 Hz must lie in (0, 250) Hz"),
        (lambda: bandpass(ecg, 250.0, None), "low cut-off 250.0 Hz must lie in (0, 250) Hz"),
        (lambda: bandpass(ecg, None, 0.0), "high cut-off 0.0 Hz must be positive"),
        (lambda: bandpass(ecg, 10.0, 10.0), "low cut-off 10.0 Hz must be below high cut-off 10.0 Hz"),
        (lambda: notch(ecg, 55.0), "mains frequency must be 50 or 60 Hz, got 55.0"),
        (lambda: clean(ecg, method="nonsense"), "unknown clean method 'nonsense'"),  # type: ignore[arg-type]
        (lambda: clean(Ecg(np.ones((12, 3), np.float32), FS, meta={"record_id": "rec-7"})),
         "3 samples are too few to filter"),
        (lambda: best_window(ecg, 0.0), "window length must be positive, got 0.0 s"),
    ]
    for call, problem in calls:
        with pytest.raises(HeartcareError) as caught:
            call()
        assert caught.value.source == "rec-7"
        assert problem in caught.value.problem


def test_band_edges_follow_the_nyquist_rate() -> None:
    ecg = tones({8.0: 1.0}, fs=500.0)
    bandpass(ecg, 200.0, None)  # 200 Hz < 250 Hz Nyquist: a valid high-pass
    bandpass(ecg, None, 0.5)  # any positive high cut-off is a low-pass
    with pytest.raises(ConfigError):
        bandpass(ecg, 300.0, None)
    assert clean(Ecg(np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32), FS)).samples == 4


def test_default_band_is_half_to_forty_hz_order_two() -> None:
    ecg = tones({0.2: 1.0, 10.0: 1.0, 60.0: 1.0})
    np.testing.assert_array_equal(bandpass(ecg).signal, bandpass(ecg, 0.5, 40.0, 2).signal)


def test_a_high_cut_near_nyquist_is_dropped_and_one_below_is_applied() -> None:
    ecg = tones({0.2: 1.0, 10.0: 1.0, 200.0: 1.0})
    high_pass = bandpass(ecg, 0.5, None).signal
    np.testing.assert_array_equal(bandpass(ecg, 0.5, 0.95 * 250.0).signal, high_pass)
    assert not np.array_equal(bandpass(ecg, 0.5, 0.9 * 250.0).signal, high_pass)


def test_one_sided_filters_remove_only_their_side() -> None:
    ecg = tones({0.2: 1.0, 10.0: 1.0, 120.0: 1.0}, seconds=10.0)
    high_pass = bandpass(ecg, 1.0, None)
    assert amplitude(high_pass, 0.2) < 0.1 and amplitude(high_pass, 120.0) > 0.9
    low_pass = bandpass(ecg, None, 40.0)
    assert amplitude(low_pass, 120.0) < 0.05 and amplitude(low_pass, 10.0) > 0.95
    assert amplitude(high_pass, 10.0) > 0.95
    assert bandpass(ecg, None, None) is ecg


def test_filters_work_on_records_shorter_than_their_default_padding() -> None:
    short = Ecg(np.random.default_rng(1).normal(size=(12, 12)).astype(np.float32), FS)
    for filtered in (bandpass(short, 0.5, 40.0), bandpass(short, None, 40.0), notch(short, 50.0)):
        assert filtered.signal.shape == (12, 12) and filtered.signal.dtype == np.float32
        assert np.isfinite(filtered.signal).all()


def test_short_record_baseline_is_each_leads_own_median() -> None:
    rng = np.random.default_rng(2)
    offsets = np.linspace(-2.0, 3.0, 12)[:, None]
    wave = rng.normal(0, 0.1, (12, 500))  # 1 s: below the median-filter path
    cleaned = remove_baseline(Ecg((wave + offsets).astype(np.float32), FS)).signal
    np.testing.assert_allclose(cleaned, wave - np.median(wave, axis=1, keepdims=True), atol=1e-5)


def beat_train(fs: float, seconds: float, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([12, n] spikes + per-lead offset + slow wander, [12, n] spikes alone) in mV."""
    time_s = np.arange(int(fs * seconds)) / fs
    spikes = sum(np.exp(-0.5 * ((time_s - beat) / 0.012) ** 2) for beat in np.arange(0.4, seconds, 0.8))
    wander = 0.6 * np.sin(2 * np.pi * 0.2 * time_s)
    clean_rows = np.tile(spikes, (12, 1)) * np.linspace(0.5, 1.5, 12)[:, None]
    return clean_rows + wander + offsets, clean_rows


@pytest.mark.parametrize(("fs", "seconds"), [(150.0, 1.3), (250.0, 3.0), (500.0, 6.0), (1000.0, 6.0)])
def test_baseline_removal_takes_each_leads_offset_and_wander_away(fs: float, seconds: float) -> None:
    offsets = np.linspace(-3.0, 3.0, 12)[:, None]
    noisy, spikes = beat_train(fs, seconds, offsets)
    cleaned = remove_baseline(Ecg(noisy.astype(np.float32), fs)).signal
    edge = int(0.3 * fs)
    error = np.abs(cleaned - spikes)[:, edge:-edge]
    assert error.max() < 0.2, error.max()
    # Spikes keep their height per lead: the baseline is not bent by the QRS.
    assert np.all(cleaned.max(axis=1) > 0.8 * spikes.max(axis=1))


def test_baseline_removal_high_passes_long_records_only() -> None:
    # A slow step the median filter follows; the high-pass then also settles it.
    offsets = np.zeros((12, 1))
    noisy, _ = beat_train(FS, 6.0, offsets)
    ecg = Ecg(noisy.astype(np.float32), FS)
    from heartcare.ecg.preprocess import _odd

    assert [_odd(w) for w in (1.0, 3.0, 4.0, 4.6, 7.2)] == [3, 3, 5, 5, 7]
    long_out = remove_baseline(ecg).signal
    default = remove_baseline(ecg, 0.5).signal
    np.testing.assert_array_equal(long_out, default)
    # 2 / cutoff seconds decide the high-pass: 6 s >= 2 / 0.5 but < 2 / 0.25.
    assert not np.array_equal(remove_baseline(ecg, 0.25).signal, default)
    assert np.abs(default.mean(axis=1)).max() < np.abs(remove_baseline(ecg, 0.25).signal.mean(axis=1)).max() + 0.05


def test_notch_removes_sixty_hz_and_its_harmonics() -> None:
    ecg = tones({8.0: 1.0, 60.0: 0.3, 120.0: 0.2, 240.0: 0.1}, fs=500.0)
    filtered = notch(ecg, 60.0)
    for harmonic in (60.0, 120.0, 240.0):
        assert amplitude(filtered, harmonic) < 0.02, harmonic
    assert amplitude(filtered, 8.0) == pytest.approx(1.0, abs=0.02)
    assert amplitude(notch(tones({8.0: 1.0, 50.0: 0.3})), 50.0) < 0.02  # default 50 Hz
    # A 50 Hz notch leaves a narrow band around it: 53 Hz keeps most of its amplitude.
    assert amplitude(notch(tones({53.0: 1.0}), 50.0), 53.0) > 0.8


def test_notch_skips_records_too_short_to_filter_forward_backward() -> None:
    short = Ecg(np.random.default_rng(3).normal(size=(12, 9)).astype(np.float32), FS)
    np.testing.assert_array_equal(notch(short, 50.0).signal, short.signal)
    ten = Ecg(np.random.default_rng(3).normal(size=(12, 10)).astype(np.float32), FS)
    assert not np.array_equal(notch(ten, 50.0).signal, ten.signal)


def test_mains_detection_needs_a_clear_line_and_enough_signal() -> None:
    assert detect_mains(tones({8.0: 1.0, 50.0: 0.3}, seconds=1.0)) == 50.0
    assert detect_mains(tones({8.0: 1.0, 50.0: 0.3}, seconds=0.99)) is None
    assert detect_mains(tones({8.0: 1.0, 60.0: 0.3}, fs=131.0)) == 60.0
    assert detect_mains(tones({8.0: 1.0, 50.0: 0.3}, fs=130.0)) is None
    rng = np.random.default_rng(4)
    noise = Ecg(rng.normal(0, 1, (12, 5000)).astype(np.float32), FS)
    assert detect_mains(noise) is None
    faint = Ecg((noise.signal + 0.03 * np.sin(2 * np.pi * 60 * np.arange(5000) / FS)).astype(np.float32), FS)
    assert detect_mains(faint) is None  # a line barely above the noise is not mains


def test_clean_uses_the_given_mains_and_low_pass() -> None:
    ecg = tones({8.0: 1.0, 60.0: 0.3, 150.0: 0.5}, seconds=6.0)
    cleaned = clean(ecg, mains_hz=60.0)
    assert amplitude(cleaned, 60.0) < 0.03 and amplitude(cleaned, 150.0) < 0.05
    assert amplitude(cleaned, 8.0) == pytest.approx(1.0, abs=0.05)
    # The default low-pass sits at 100 Hz: a 90 Hz tone passes.
    assert amplitude(clean(tones({90.0: 1.0}, seconds=6.0)), 90.0) > 0.6
    # The caller's mains frequency is used as given, not replaced by detection.
    fifty = tones({8.0: 1.0, 50.0: 0.3}, seconds=6.0)
    assert amplitude(clean(fifty), 50.0) < 0.03
    assert amplitude(clean(fifty, mains_hz=60.0), 50.0) > 0.2


def test_neurokit_clean_keeps_flat_leads_and_uses_the_sampling_rate() -> None:
    pytest.importorskip("neurokit2")
    ecg = tones({0.1: 1.0, 8.0: 1.0}, fs=250.0, seconds=6.0)
    signal = ecg.signal.copy()
    signal[3] = 0.4  # a flat lead stays exactly as it is
    cleaned = clean(ecg.with_signal(signal), method="neurokit")
    np.testing.assert_array_equal(cleaned.signal[3], signal[3])
    assert amplitude(cleaned, 8.0) > 0.8 and amplitude(cleaned, 0.1) < 0.2


def quality_rows(seconds: float, seed: int = 0) -> np.ndarray:
    """[12, n] mV: a clean 72 bpm train of QRS spikes and T waves."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(FS * seconds)) / FS
    row = np.zeros_like(time_s)
    for beat in np.arange(0.3, seconds, 60 / 72):
        row += np.exp(-0.5 * ((time_s - beat) / 0.01) ** 2)
        row += 0.25 * np.exp(-0.5 * ((time_s - beat - 0.25) / 0.04) ** 2)
    return np.linspace(0.5, 1.5, 12)[:, None] * row + rng.normal(0, 0.01, (12, time_s.size))


def test_record_quality_of_a_record_with_no_recorded_lead_is_zero() -> None:
    ecg = Ecg(quality_rows(4.0).astype(np.float32), FS, meta={"lead_mask": [False] * 12})
    assert record_quality(ecg) == 0.0


def test_best_window_finds_the_clean_stretch_on_its_step_grid() -> None:
    # 10 s of loud noise with 3 clean seconds from 4.3 s: on a 0.1 s grid the windows from
    # 4.3 s and 4.4 s both score 1 and the later one wins the tie; on the default 0.5 s grid
    # the window from 4.0 s (0.983) beats the one from 4.5 s (0.950).
    rows = np.random.default_rng(5).normal(0, 5.0, (12, int(10 * FS)))
    clean_start = int(4.3 * FS)
    rows[:, clean_start : clean_start + int(3 * FS)] = quality_rows(3.0)
    ecg = Ecg(rows.astype(np.float32), FS)
    window = best_window(ecg, 3.0, step_seconds=0.1)
    assert window.meta["window_start_s"] == 4.4
    assert window.samples == int(3 * FS)
    np.testing.assert_array_equal(window.signal, ecg.signal[:, int(4.4 * FS) : int(7.4 * FS)])
    assert window.meta["window_quality"] == 1.0
    default = best_window(ecg, 3.0)
    assert default.meta["window_start_s"] == 4.0
    assert default.meta["window_quality"] == pytest.approx(0.983, abs=5e-4)
    assert default.meta["window_quality"] == round(default.meta["window_quality"], 4)


def test_best_window_reaches_the_end_of_the_record() -> None:
    # Clean only in the last 2 s of 7.3 s; the step grid (1 s) does not reach 5.3 s.
    rows = np.random.default_rng(6).normal(0, 1.0, (12, int(7.3 * FS)))
    rows[:, -int(2 * FS) :] = quality_rows(2.0)
    ecg = Ecg(rows.astype(np.float32), FS)
    window = best_window(ecg, 2.0, step_seconds=1.0)
    assert window.meta["window_start_s"] == pytest.approx(5.3)
    np.testing.assert_array_equal(window.signal, ecg.signal[:, -int(2 * FS) :])


def test_best_window_of_a_record_exactly_as_long_returns_it_whole() -> None:
    ecg = Ecg(quality_rows(2.0).astype(np.float32), FS)
    assert best_window(ecg, 2.0) is ecg
    assert best_window(ecg, 0.5).samples == 250


def test_best_window_scores_masked_records_as_zero_and_keeps_the_latest() -> None:
    ecg = Ecg(quality_rows(6.0).astype(np.float32), FS, meta={"lead_mask": [False] * 12})
    window = best_window(ecg, 2.0)
    assert window.meta["window_start_s"] == 4.0 and window.meta["window_quality"] == 0.0


def test_resample_errors_name_the_record() -> None:
    ecg = tones({3.0: 1.0})
    for rate, problem in ((0.0, "target sampling rate must be positive, got 0.0"),
                          (0.1, "cannot resample 500 Hz to 0.1 Hz (ratio too small)")):
        with pytest.raises(HeartcareError) as caught:
            resample(ecg, rate)
        assert caught.value.source == "rec-7" and problem in caught.value.problem
    assert resample(ecg, 0.5).fs == 0.5  # slow but positive rates are allowed
    assert resample(ecg, 500.5).fs == 500.5  # a rate a little off is resampled, not ignored


@pytest.mark.parametrize("target", [250.0, 257.3, 360.0])
def test_resample_keeps_each_leads_own_offset_to_the_last_sample(target: float) -> None:
    offsets = np.linspace(-3.0, 3.0, 12, dtype=np.float32)[:, None]
    ecg = Ecg(np.tile(offsets, (1, 5000)), 500.0, meta={"original_fs": 1000.0})
    resampled = resample(ecg, target)
    assert resampled.samples == round(5000 * target / 500.0)
    np.testing.assert_allclose(resampled.signal, np.tile(offsets, (1, resampled.samples)), atol=1e-4)
    assert resampled.meta["original_fs"] == 1000.0  # the file's rate, not the intermediate one


def test_baseline_removal_at_exactly_1_2_seconds_follows_a_ramp() -> None:
    time_s = np.arange(600) / FS  # 1.2 s: the median-filter path, not a plain median
    spikes = sum(np.exp(-0.5 * ((time_s - beat) / 0.012) ** 2) for beat in (0.3, 0.9))
    ecg = Ecg(np.tile(spikes + 2.0 * time_s, (12, 1)).astype(np.float32), FS)
    cleaned = remove_baseline(ecg).signal[0]
    assert np.abs(cleaned - spikes)[60:-60].max() < 0.15


@pytest.mark.parametrize("fs", [100.0, 150.0, 500.0])
def test_baseline_removal_follows_a_half_hertz_wander_on_short_records(fs: float) -> None:
    # 3 s: no high-pass yet (needs 2 / 0.5 = 4 s), so the median windows (0.2 s, 0.6 s) do it all.
    time_s = np.arange(int(3 * fs)) / fs
    spikes = sum(np.exp(-0.5 * ((time_s - beat) / 0.015) ** 2) for beat in np.arange(0.2, 3, 0.7))
    wander = 1.0 * np.sin(2 * np.pi * 0.5 * time_s)
    cleaned = remove_baseline(Ecg(np.tile(spikes + wander, (12, 1)).astype(np.float32), fs)).signal[0]
    edge = int(0.3 * fs)
    assert np.abs(cleaned - spikes)[edge:-edge].max() < 0.3  # 0.21 here; 1.2 s or 1.6 s windows give > 0.5


def test_baseline_high_pass_starts_at_two_over_cutoff_seconds() -> None:
    # cutoff 0.5 Hz high-passes records of >= 4 s; 0.3 Hz would need 6.7 s, so it stops at the medians.
    for seconds, high_passed in ((3.9, False), (4.0, True), (5.0, True)):
        noisy, _ = beat_train(FS, seconds, np.zeros((12, 1)))
        ecg = Ecg(noisy.astype(np.float32), FS)
        same = np.array_equal(remove_baseline(ecg, 0.5).signal, remove_baseline(ecg, 0.3).signal)
        assert same is not high_passed, seconds
    noisy, _ = beat_train(FS, 10.0, np.zeros((12, 1)))
    ten = Ecg(noisy.astype(np.float32), FS)  # both cut-offs high-pass 10 s, each at its own frequency
    assert not np.array_equal(remove_baseline(ten, 0.25).signal, remove_baseline(ten, 0.5).signal)
    np.testing.assert_array_equal(remove_baseline(ten).signal, remove_baseline(ten, 0.5).signal)


def test_clean_is_baseline_removal_notch_and_low_pass() -> None:
    ecg = tones({0.3: 0.5, 8.0: 1.0, 50.0: 0.3, 130.0: 0.4}, seconds=6.0)
    expected = bandpass(notch(remove_baseline(ecg), 50.0), None, 100.0)
    np.testing.assert_allclose(clean(ecg).signal, expected.signal, atol=1e-6)


def test_best_window_is_always_the_requested_length() -> None:
    # 1000 samples, 500-sample windows on a 167-sample grid: the last start is 500, never 501.
    ecg = Ecg(np.random.default_rng(7).normal(size=(12, 1000)).astype(np.float32), 100.0,
              meta={"lead_mask": [False] * 12})
    window = best_window(ecg, 5.0, step_seconds=1.67)
    assert window.samples == 500 and window.meta["window_start_s"] == 5.0


def test_best_window_of_a_record_a_little_longer_than_the_window() -> None:
    rows = np.random.default_rng(8).normal(0, 5.0, (12, 1100))
    rows[:, 100:] = quality_rows(2.0)
    window = best_window(Ecg(rows.astype(np.float32), FS), 2.0)
    assert window.meta["window_start_s"] == 0.2 and window.samples == 1000


def test_resample_pads_the_last_sample_when_the_rate_ratio_is_rounded() -> None:
    # 1000 -> 123.45 Hz runs at 119/964 (rate error 6e-6); over 199,449 samples the
    # polyphase output falls one sample short of round(n * 123.45 / 1000) = 24,622.
    ecg = Ecg(np.full((1, 199_449), 0.7, np.float32), 1000.0, leads=("II",))
    resampled = resample(ecg, 123.45)
    assert resampled.signal.shape == (1, 24_622)
    np.testing.assert_allclose(resampled.signal[:, -3:], 0.7, atol=1e-4)
