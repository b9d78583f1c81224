"""Resampling and filters: exact no-op at equal rates, lengths, what each filter removes."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.preprocess import bandpass, clean, detect_mains, notch, remove_baseline, resample
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError, HeartcareError, SamplingRateError


def tone_ecg(frequencies: dict[float, float], fs: float = 500.0, seconds: float = 10.0) -> Ecg:
    """12 identical leads: sum of sines {frequency Hz: amplitude mV}."""
    time_s = np.arange(int(fs * seconds)) / fs
    row = sum(
        amplitude * np.sin(2 * np.pi * frequency * time_s)
        for frequency, amplitude in frequencies.items()
    )
    return Ecg(np.tile(row, (12, 1)).astype(np.float32), fs)


def amplitude_at(ecg: Ecg, frequency: float) -> float:
    """Amplitude (mV) of one sine component in lead 0, from the FFT."""
    spectrum = np.abs(np.fft.rfft(ecg.signal[0])) * 2 / ecg.samples
    freqs = np.fft.rfftfreq(ecg.samples, 1 / ecg.fs)
    return float(spectrum[np.argmin(np.abs(freqs - frequency))])


def test_resample_equal_rate_returns_the_same_record() -> None:
    ecg = tone_ecg({5.0: 1.0})
    assert resample(ecg, 500.0) is ecg


@pytest.mark.parametrize(
    ("source", "target"),
    [(500.0, 250.0), (1000.0, 500.0), (360.0, 500.0), (400.0, 250.0), (500.0, 257.3)],
)
def test_resample_length_and_content(source: float, target: float) -> None:
    ecg = tone_ecg({3.0: 1.0}, fs=source)
    resampled = resample(ecg, target)
    assert resampled.fs == target
    assert resampled.samples == round(ecg.samples * target / source)
    assert resampled.signal.dtype == np.float32
    time_s = np.arange(resampled.samples) / target
    middle = slice(int(target), -int(target))  # FIR edges aside
    assert np.allclose(
        resampled.signal[0, middle], np.sin(2 * np.pi * 3.0 * time_s[middle]), atol=0.02
    )
    assert resampled.meta["original_fs"] == source


def test_resample_keeps_a_dc_offset_at_the_edges() -> None:
    ecg = Ecg(np.full((12, 5000), 0.7, np.float32), 500.0)
    assert np.allclose(resample(ecg, 250.0).signal, 0.7, atol=1e-4)


def test_resample_rejects_bad_rates() -> None:
    ecg = tone_ecg({3.0: 1.0})
    for rate in (0.0, -5.0, float("nan")):
        with pytest.raises(SamplingRateError):
            resample(ecg, rate)


def test_bandpass_removes_out_of_band_tones() -> None:
    ecg = tone_ecg({0.1: 1.0, 10.0: 1.0, 120.0: 1.0})
    filtered = bandpass(ecg, 0.5, 40.0)
    assert amplitude_at(filtered, 10.0) == pytest.approx(1.0, abs=0.05)
    assert amplitude_at(filtered, 0.1) < 0.1
    assert amplitude_at(filtered, 120.0) < 0.05
    with pytest.raises(ConfigError):
        bandpass(ecg, 40.0, 10.0)


def test_remove_baseline_keeps_sharp_waves() -> None:
    fs = 500.0
    time_s = np.arange(5000) / fs
    spikes = sum(np.exp(-0.5 * ((time_s - beat) / 0.01) ** 2) for beat in np.arange(0.5, 10, 0.8))
    wander = 0.8 * np.sin(2 * np.pi * 0.15 * time_s)
    ecg = Ecg(np.tile(spikes + wander, (12, 1)).astype(np.float32), fs)
    cleaned = remove_baseline(ecg).signal[0]
    assert np.abs(cleaned - (spikes - np.median(spikes))).max() < 0.15
    assert cleaned.max() > 0.85  # the spikes survive


def test_notch_and_mains_detection() -> None:
    ecg = tone_ecg({8.0: 1.0, 50.0: 0.3})
    assert detect_mains(ecg) == 50.0
    assert detect_mains(tone_ecg({8.0: 1.0, 60.0: 0.3})) == 60.0
    assert detect_mains(tone_ecg({8.0: 1.0})) is None
    filtered = notch(ecg, 50.0)
    assert amplitude_at(filtered, 50.0) < 0.02
    assert amplitude_at(filtered, 8.0) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ConfigError):
        notch(ecg, 55.0)


def test_clean_chain_and_short_records() -> None:
    ecg = tone_ecg({0.1: 1.0, 8.0: 1.0, 50.0: 0.3})
    cleaned = clean(ecg)
    assert cleaned.signal.shape == ecg.signal.shape and cleaned.fs == ecg.fs
    assert amplitude_at(cleaned, 50.0) < 0.03 and amplitude_at(cleaned, 0.1) < 0.1
    short = Ecg(np.random.default_rng(0).normal(size=(12, 40)).astype(np.float32), 500.0)
    assert clean(short).signal.shape == (12, 40)
    with pytest.raises(HeartcareError):
        clean(Ecg(np.zeros((12, 2), np.float32), 500.0))
    with pytest.raises(ConfigError):
        clean(ecg, method="nonsense")  # type: ignore[arg-type]


def test_clean_with_neurokit() -> None:
    pytest.importorskip("neurokit2")
    ecg = tone_ecg({0.1: 1.0, 8.0: 1.0})
    cleaned = clean(ecg, method="neurokit")
    assert cleaned.signal.shape == ecg.signal.shape
    assert amplitude_at(cleaned, 0.1) < 0.2
