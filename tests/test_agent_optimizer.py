"""Optimizer: resample to 250 Hz, remove baseline wander and mains hum, keep the window."""

from __future__ import annotations

import numpy as np

from heartcare.agent.optimizer import optimize
from heartcare.ecg.record import Ecg


def test_optimize_resamples_and_removes_wander_and_mains():
    fs, seconds = 500.0, 10.0
    time = np.arange(int(fs * seconds)) / fs
    beat = np.sin(2 * np.pi * 1.2 * time) ** 31  # sharp, QRS-like peaks at 72 bpm
    wander = 1.5 * np.sin(2 * np.pi * 0.08 * time)
    hum = 0.2 * np.sin(2 * np.pi * 50 * time)
    signal = np.tile(beat + wander + hum, (12, 1)).astype(np.float32)
    stored = optimize(Ecg(signal, fs), fs=250, seconds=10.0)
    assert stored.fs == 250.0 and stored.signal.shape == (12, 2500) and stored.signal.dtype == np.float32
    lead = stored.signal[0]
    spectrum = np.abs(np.fft.rfft(lead)) / lead.size
    frequencies = np.fft.rfftfreq(lead.size, 1 / 250)
    assert spectrum[np.argmin(np.abs(frequencies - 50))] < 0.01  # mains gone
    assert abs(float(np.median(lead))) < 0.2  # wander of 1.5 mV gone
    reference = beat[::2]
    assert np.corrcoef(lead, reference)[0, 1] > 0.9  # the beats survive


def test_mains_detection():
    from heartcare.ecg.preprocess import detect_mains

    rng = np.random.default_rng(0)
    for fs, mains in ((250.0, 50.0), (250.0, 60.0), (500.0, None), (500.0, 60.0), (100.0, None)):
        time = np.arange(int(fs * 10)) / fs
        signal = rng.normal(0, 0.05, (12, time.size)) + np.sin(2 * np.pi * 1.1 * time) ** 21
        if mains:
            signal = signal + 0.1 * np.sin(2 * np.pi * mains * time)
        assert detect_mains(Ecg(signal.astype(np.float32), fs)) == (mains if fs > 130 else None)


def test_the_recorded_window_keeps_what_the_conditioned_one_removes():
    """optimize_pair: one window twice. The recorded one still carries the wander and hum (the
    signal-quality questions are about them), the conditioned one does not, and both are the same
    samples of the record: their difference is only what the filters took away."""
    from heartcare.agent.optimizer import optimize_pair

    fs = 500.0
    time = np.arange(int(fs * 30)) / fs
    beat = np.sin(2 * np.pi * 1.2 * time) ** 31
    wander = 0.8 * np.sin(2 * np.pi * 0.15 * time)
    signal = np.tile(beat + wander + 0.1 * np.sin(2 * np.pi * 50 * time), (12, 1)).astype(np.float32)
    signal[:, : int(12 * fs)] += np.random.default_rng(0).normal(0, 2.0, (12, int(12 * fs)))  # a noisy first 12 s
    recorded, conditioned = optimize_pair(Ecg(signal, fs), fs=250, seconds=10.0)
    assert recorded.signal.shape == conditioned.signal.shape == (12, 2500) and recorded.signal.dtype == np.float32
    start = recorded.meta["window_start_s"]
    assert start == conditioned.meta["window_start_s"] >= 12.0  # the clean part, chosen once for both
    samples = (np.arange(2500) / 250 + start) * fs
    expected = np.interp(samples, np.arange(time.size), beat + wander)
    assert np.corrcoef(recorded.signal[0], expected)[0, 1] > 0.95  # the same stretch, wander included
    removed = recorded.signal[0] - conditioned.signal[0]
    assert removed.std() > 0.4 and conditioned.signal[0].std() < recorded.signal[0].std()
    spectrum = np.abs(np.fft.rfft(recorded.signal[0])) / 2500
    assert spectrum[np.argmin(np.abs(np.fft.rfftfreq(2500, 1 / 250) - 50))] > 0.03  # the hum is still there
    assert np.array_equal(optimize(Ecg(signal, fs), fs=250, seconds=10.0).signal, conditioned.signal)
