"""Recording descriptors: what the signal shows before conditioning, lead by lead."""

from __future__ import annotations

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.ecg.recording import PER_LEAD, WIDTH, recording_features

FS = 500.0
TIME = np.arange(int(FS * 10)) / FS
BEATS = np.sin(2 * np.pi * 1.2 * TIME) ** 31  # sharp, QRS-like peaks at 72 bpm


def _features(signal: np.ndarray, fs: float = FS) -> np.ndarray:
    return recording_features(Ecg(signal.astype(np.float32), fs)).reshape(12, len(PER_LEAD))


def column(name: str) -> int:
    return PER_LEAD.index(name)


def test_each_kind_of_noise_moves_its_own_descriptor_in_the_lead_that_has_it():
    clean = np.tile(BEATS, (12, 1))
    base = _features(clean)
    assert base.shape == (12, 13) and WIDTH == 156 and np.isfinite(base).all()
    cases = {  # descriptor: (noise, its least rise in log10)
        "log_power_0_0.5_hz": (0.8 * np.sin(2 * np.pi * 0.2 * TIME), 1.0),  # drift
        "log_mains_power": (0.1 * np.sin(2 * np.pi * 59.6 * TIME), 1.0),  # hum (mains drifts off 60 Hz)
        "log_burst_ratio": (1.5 * np.exp(-0.5 * ((TIME - 6.0) / 0.15) ** 2), 0.2),  # one electrode-motion burst
    }
    for name, (noise, rise) in cases.items():
        noisy = clean.copy()
        noisy[4] += noise  # lead aVR only
        moved = _features(noisy) - base
        assert moved[4, column(name)] > rise, (name, moved[4])
        others = np.delete(np.arange(12), 4)
        assert np.abs(moved[others]).max() < 1e-6  # lead by lead, in the record's order


def test_amplitude_is_kept_in_mv_and_the_rate_does_not_matter():
    signal = np.tile(BEATS, (12, 1))
    single, double = _features(signal), _features(2 * signal)
    assert np.allclose(double[:, column("log_amplitude_mv")] - single[:, column("log_amplitude_mv")], np.log10(2), atol=1e-3)
    assert np.allclose(double[:, column("log_power_5_15_hz")] - single[:, column("log_power_5_15_hz")], 2 * np.log10(2), atol=1e-3)
    resampled = _features(signal[:, ::2], fs=FS / 2)  # the same tracing stored at 250 Hz
    assert np.allclose(resampled[:, column("log_amplitude_mv")], single[:, column("log_amplitude_mv")], atol=0.05)


def test_a_flat_or_missing_lead_stays_finite():
    signal = np.tile(BEATS, (12, 1))
    signal[7] = 0.0
    values = _features(signal)
    assert np.isfinite(values).all() and values[7, column("log_amplitude_mv")] < -6


def test_a_record_without_twelve_leads_is_refused_by_name():
    import pytest

    from heartcare.errors import InvalidSignalError

    with pytest.raises(InvalidSignalError, match="patient-7.*12 standard leads"):
        recording_features(Ecg(np.tile(BEATS, (3, 1)).astype(np.float32), FS, ["I", "II", "III"], {"path": "patient-7.xml"}))
