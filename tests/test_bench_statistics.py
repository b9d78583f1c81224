"""Bootstrap intervals cover the truth at about the nominal rate; paired comparisons pair by item."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.bench.bootstrap import bootstrap_interval, paired_difference


def test_interval_covers_the_true_mean_at_about_95_percent():
    rng = np.random.default_rng(0)
    truth, hits, trials = 0.7, 0, 300
    for trial in range(trials):
        values = (rng.random(150) < truth).astype(float)
        low, high = bootstrap_interval(values, seed=trial, resamples=500)
        hits += low <= truth <= high
    assert 0.90 <= hits / trials <= 0.99


def test_paired_interval_covers_the_true_difference_and_is_narrower_than_unpaired():
    rng = np.random.default_rng(1)
    hits, trials, widths_paired, widths_single = 0, 200, [], []
    for trial in range(trials):
        difficulty = rng.normal(size=200)  # shared by both models: pairing should cancel it
        first = difficulty + rng.normal(0.3, 0.5, size=200)
        second = difficulty + rng.normal(0.0, 0.5, size=200)
        entry = paired_difference(first, second, seed=trial, resamples=500)
        hits += entry["ci"][0] <= 0.3 <= entry["ci"][1]
        widths_paired.append(entry["ci"][1] - entry["ci"][0])
        low, high = bootstrap_interval(first, seed=trial, resamples=500)
        widths_single.append(high - low)
    assert 0.90 <= hits / trials <= 0.99
    # sd of a paired difference is 0.71 here, of one run 1.12, of an unpaired difference 1.58
    assert np.mean(widths_paired) < 0.75 * np.mean(widths_single)


def test_intervals_are_seeded_and_skip_unscored_items():
    values = np.array([1, 0, 1, 1, np.nan, 0, 1, 1, 0, 1], dtype=float)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values, seed=3) != bootstrap_interval(values, seed=4)
    assert bootstrap_interval(np.array([np.nan]), seed=0) is None
    assert bootstrap_interval(np.ones(5), seed=0) == (1.0, 1.0)


def test_paired_difference_of_a_run_with_itself_is_zero_and_a_clear_win_is_significant():
    values = np.random.default_rng(2).random(100)
    same = paired_difference(values, values)
    assert same["difference"] == 0 and same["ci"] == [0, 0] and same["p_value"] == 1.0
    better = paired_difference(values + 0.2, values + np.random.default_rng(3).normal(0, 0.05, 100))
    assert better["ci"][0] > 0 and better["p_value"] < 0.01
    assert better["difference"] == pytest.approx(0.2, abs=0.03)
