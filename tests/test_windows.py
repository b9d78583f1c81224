"""Beat normalisation and right-to-left segmentation."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.windows import denormalize_beat, normalize_beat, padding_of, segment, unsegment
from heartcare.errors import HeartcareError


def test_normalize_removes_lead_means_and_one_global_std() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(12, 1000)) * np.arange(1, 13)[:, None] + np.arange(12)[:, None]
    normalized, stats = normalize_beat(signal)
    assert np.allclose(normalized.mean(axis=1), 0, atol=1e-5)
    assert normalized.std() == pytest.approx(1.0, abs=1e-4)
    # One shared std keeps the leads' amplitude ratios.
    ratios = normalized.std(axis=1) / signal.std(axis=1)
    assert np.allclose(ratios, ratios[0], rtol=1e-4)
    assert np.allclose(denormalize_beat(normalized, stats), signal, atol=1e-4)


def test_normalize_ignores_zero_filled_leads_and_survives_flat_input() -> None:
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(12, 500))
    signal[5] = 0.0
    normalized, stats = normalize_beat(signal)
    assert stats.std == pytest.approx(
        np.delete(signal - signal.mean(axis=1, keepdims=True), 5, axis=0).std(), rel=1e-6
    )
    assert np.all(normalized[5] == 0)
    flat, flat_stats = normalize_beat(np.ones((12, 100)))
    assert flat_stats.std == 1.0 and np.all(flat == 0)
    with pytest.raises(HeartcareError):
        normalize_beat(np.zeros(10))


def test_segment_cuts_from_the_right_and_left_pads() -> None:
    signal = np.arange(2500, dtype=np.float32)[None, :].repeat(12, axis=0)
    windows = segment(signal, 1000)
    assert windows.shape == (3, 12, 1000)
    assert windows[-1, 0, -1] == 2499 and windows[-1, 0, 0] == 1500
    assert np.all(windows[0, :, :500] == 0) and windows[0, 0, 500] == 0 and windows[0, 0, 501] == 1
    assert padding_of(2500, 1000) == 500
    assert np.array_equal(unsegment(windows, 2500), signal)


def test_segment_exact_multiple_and_short_signal() -> None:
    signal = np.random.default_rng(2).normal(size=(12, 2000))
    windows = segment(signal, 1000)
    assert windows.shape == (2, 12, 1000) and np.array_equal(windows[1], signal[:, 1000:])
    short = segment(signal[:, :300], 1000)
    assert short.shape == (1, 12, 1000) and np.array_equal(short[0, :, 700:], signal[:, :300])
    assert np.all(short[0, :, :700] == 0)
    with pytest.raises(HeartcareError):
        segment(signal, 0)
