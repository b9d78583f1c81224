"""Paced beats: the stimulus spike is found, cut out before smoothing, and the paced QRS measured from it."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.measure import measure
from heartcare.ecg.pacing import find_spike, remove_spike
from heartcare.sim.simulate import SimulationSpec, simulate


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paced_qrs_is_measured_from_the_spike_within_20_ms(seed):
    record = simulate(SimulationSpec(conditions={"paced": 0.8}), fs=500.0, seconds=10.0, seed=seed)
    measured = measure(record.ecg)
    assert abs(measured.qrs_ms - record.truth.qrs_ms) <= 20  # without the spike handling: +28 to +31 ms
    assert abs(measured.qt_ms - record.truth.qt_ms) <= 20


@pytest.mark.parametrize("condition", ["normal", "left_bundle_branch_block", "premature_ventricular"])
def test_unpaced_beats_have_no_spike(condition):
    from heartcare.ecg.delineate import _smooth, median_beats
    from heartcare.ecg.detect import detect_qrs

    ecg = simulate(SimulationSpec(conditions={condition: 0.8}), fs=500.0, seconds=10.0, seed=3).ecg
    peaks = np.round(detect_qrs(ecg.signal.astype(float), ecg.fs, np.ones(12)).positions).astype(int)
    median = median_beats(ecg.signal.astype(float), ecg.fs, peaks, 60 / 70)
    smooth = _smooth(median.beats, ecg.fs, 40.0)
    velocity = np.sqrt(((np.gradient(smooth, axis=1) * ecg.fs) ** 2).sum(axis=0))
    peak = float(velocity[median.fiducial - 30 : median.fiducial + 30].max())
    assert find_spike(median.beats, ecg.fs, slice(median.fiducial - 125, median.fiducial), peak) is None


def test_a_constructed_spike_is_found_where_it_is_and_removed_from_every_lead():
    fs = 500.0
    beats = np.tile(np.sin(np.linspace(0, np.pi, 300)) * 0.5, (12, 1))  # a slow hump, slope ~ 4 mV/s
    beats[:, 100] += np.linspace(0.5, 1.0, 12)  # a 2-ms stimulus in every lead
    span = find_spike(beats, fs, slice(50, 150), qrs_peak_velocity=20.0)
    assert span is not None and span[0] <= 100 < span[1] and span[1] - span[0] <= 5
    cleaned = remove_spike(beats, span, fs)
    assert np.abs(np.diff(cleaned, axis=1)).max() < 0.02  # smooth again
    assert np.allclose(cleaned[:, :95], beats[:, :95]) and np.allclose(cleaned[:, 106:], beats[:, 106:])
