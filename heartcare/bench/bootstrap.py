"""Bootstrap intervals over items: one for a metric's mean, a paired one for the difference of two runs.

Percentile bootstrap (Efron & Tibshirani 1993, ch. 13): resample items with
replacement, take the mean each time, report the 2.5th and 97.5th percentiles.
Seeded, so the same values and seed give the same interval. NaN items (not scored)
are left out before resampling.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000


def _resampled_means(values: np.ndarray, seed: int, resamples: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Chunked so a 20,000-item task does not allocate 20M indices at once.
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(len(values), 1))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        indices = rng.integers(0, len(values), size=(stop - start, len(values)))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def bootstrap_interval(
    values: np.ndarray, seed: int = 0, resamples: int = RESAMPLES, level: float = 0.95
) -> tuple[float, float] | None:
    """(low, high) of the mean of `values` [items]; None when no item was scored."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None
    if len(values) == 1 or np.all(values == values[0]):
        return float(values[0]), float(values[0])
    means = _resampled_means(values, seed, resamples)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_difference(
    first: np.ndarray, second: np.ndarray, seed: int = 0, resamples: int = RESAMPLES, level: float = 0.95
) -> dict[str, float] | None:
    """Mean of (first - second) over items scored in both, its interval, and a two-sided p-value.

    first, second: per-item values of the same items in the same order. Resampling the
    item differences keeps the pairing, so shared item difficulty cancels out.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    both = ~(np.isnan(first) | np.isnan(second))
    differences = first[both] - second[both]
    if len(differences) == 0:
        return None
    mean = float(differences.mean())
    if np.all(differences == differences[0]):
        return {"difference": mean, "ci": [mean, mean], "p_value": 1.0 if mean == 0 else 0.0, "n": int(len(differences))}
    means = _resampled_means(differences, seed, resamples)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    # Share of resampled means on the other side of zero, doubled: the bootstrap's two-sided p.
    p_value = min(1.0, 2.0 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
    return {"difference": mean, "ci": [float(low), float(high)], "p_value": p_value, "n": int(len(differences))}
