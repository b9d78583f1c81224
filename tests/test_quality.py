"""Signal quality: clean leads score high, each kind of fault scores low; best_window."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.quality import assess, best_window, lead_quality, record_quality
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError

FS = 500.0


def clean_rows(seconds: float = 10.0, seed: int = 0) -> np.ndarray:
    """[12, n] mV: a 72 bpm train of narrow QRS spikes and T waves with a little noise."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(FS * seconds)) / FS
    row = np.zeros_like(time_s)
    for beat in np.arange(0.3, seconds, 60 / 72):
        row += 1.0 * np.exp(-0.5 * ((time_s - beat) / 0.01) ** 2)
        row += 0.25 * np.exp(-0.5 * ((time_s - beat - 0.25) / 0.04) ** 2)
    gains = np.linspace(0.5, 1.5, 12)[:, None]
    return gains * row[None, :] + rng.normal(0, 0.01, (12, time_s.size))


def test_clean_leads_score_high() -> None:
    scores = lead_quality(Ecg(clean_rows().astype(np.float32), FS))
    assert scores.shape == (12,) and np.all(scores > 0.8)


def test_each_fault_scores_low() -> None:
    rng = np.random.default_rng(3)
    rows = clean_rows()
    time_s = np.arange(rows.shape[1]) / FS
    rows[0] = 0.001 * rng.normal(size=rows.shape[1])  # flat line with a trace of noise
    rows[1] = np.clip(rows[1] * 4, -0.3, 0.3)  # amplifier saturation
    rows[2] += rng.normal(0, 0.5, rows.shape[1])  # muscle noise
    rows[3] += 3.0 * np.sin(2 * np.pi * 0.3 * time_s)  # strong baseline wander
    quality = assess(rows, FS)
    scores = quality.score
    assert quality.flatline[0] == 0.0
    assert quality.clipping[1] < 0.5
    assert quality.noise[2] < 0.5 or quality.kurtosis[2] < 0.5
    assert quality.baseline[3] < 0.5
    assert np.all(scores[:4] < 0.5) and np.all(scores[4:] > 0.8)
    assert np.all((scores >= 0) & (scores <= 1))


def test_unrecorded_leads_score_zero() -> None:
    ecg = Ecg(clean_rows().astype(np.float32), FS, meta={"lead_mask": [True] * 11 + [False]})
    scores = lead_quality(ecg)
    assert scores[-1] == 0.0 and record_quality(ecg) > 0.8


def test_best_window_avoids_the_noisy_stretch() -> None:
    rows = clean_rows()
    rows[:, :2500] += np.random.default_rng(4).normal(0, 0.6, (12, 2500))
    ecg = Ecg(rows.astype(np.float32), FS)
    window = best_window(ecg, 4.0)
    assert window.samples == 2000
    assert window.meta["window_start_s"] >= 5.0
    assert window.meta["window_quality"] > 0.8
    short = Ecg(rows[:, :1000].astype(np.float32), FS)
    assert best_window(short, 4.0) is short
    with pytest.raises(ConfigError):
        best_window(ecg, 0)


def test_best_window_prefers_the_latest_on_ties() -> None:
    ecg = Ecg(np.tile(clean_rows(seconds=1.0)[:, :500], (1, 8)).astype(np.float32), FS)
    window = best_window(ecg, 2.0, step_seconds=1.0)
    assert window.meta["window_start_s"] == pytest.approx(ecg.seconds - 2.0)


def test_a_window_pays_for_its_noise_bursts_and_flat_stretches():
    """1 s of 2 mV noise or 3 s of flat line used to score like a clean window (assess's indices saturate)."""
    from heartcare.ecg.quality import best_window, defect_share, typical_activity, window_score
    from heartcare.sim.simulate import SimulationSpec, simulate

    ecg = simulate(SimulationSpec(), 500.0, 20.0, 0).ecg  # 10,000 samples
    assert defect_share(ecg.signal, ecg.fs, typical_activity(ecg.signal, ecg.fs)).max() == 0.0  # clean: nothing flagged
    damaged = ecg.signal.copy()
    damaged[:, 7000:7500] += np.random.default_rng(0).normal(0, 2.0, (12, 500))  # 1 s of noise at 14-15 s
    damaged[:, 1000:2500] = 0.0  # 3 s of flat line at 2-5 s
    reference = typical_activity(damaged, ecg.fs)
    clean = window_score(damaged[:, 2500:4500], ecg.fs, ecg.lead_mask, reference)
    assert window_score(damaged[:, 5250:7250], ecg.fs, ecg.lead_mask, reference) < clean - 0.05  # 0.5 s of noise
    assert window_score(damaged[:, 0:2000], ecg.fs, ecg.lead_mask, reference) < 0.5 * clean  # 2 s flat
    chosen = best_window(ecg.with_signal(damaged), 4.0)
    first = round(chosen.meta["window_start_s"] * ecg.fs)
    window = set(range(first, first + 2000))
    assert not window & set(range(7000, 7500))  # no noise
    assert len(window & set(range(1000, 2500))) <= 500  # at most a half-second pause-like edge of the flat line
