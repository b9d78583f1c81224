"""Signal-prediction metrics: MSE, MAE, Pearson r (all leads or one), heart-rate and QRS-timing error.

Every metric compares an answer's `Output.waveform` ([12, samples] mV at the item's
`meta.fs`) with the stored target (`dataset.prediction_target(item)`). Conventions:

- not a signal-prediction item, or a `not_applicable` answer: NaN (not scored);
- an answer longer than the target is cut to the target's length (its first samples);
- a missing or unusable waveform (None, not [12, >= target samples], NaN/inf values)
  is scored as a flat line of zeros: a failed answer counts as wrong, never as absent;
- Pearson r: a lead whose target is constant has no r and leaves the mean (NaN when
  every lead is constant); a constant predicted lead against a varying target scores
  r = 0 (it explains none of the target's variation), so a flat line scores 0, not NaN;
- heart rate and QRS timing are read with heartcare's multi-lead QRS detector
  (`heartcare.ecg.detect`, after Pan & Tompkins 1985) on context + answer and on
  context + target, so the detector has the 4-s context as warm-up; only complexes
  inside the horizon count (the context is shared, it would only dilute the difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import Output
from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.errors import ConfigError

TASK = "signal_prediction"
# A target QRS with no predicted QRS within this distance is a missed beat and costs
# exactly this much: 150 ms is about a QRS width plus a PR interval, beyond which the
# nearest predicted complex is another beat, not a mistimed copy of this one.
QRS_MATCH_CAP_MS = 150.0


@dataclass(frozen=True)
class PredictionPair:
    """One scored answer: prediction and target [12, samples] mV, the context before them [12, c], fs Hz."""

    prediction: np.ndarray
    target: np.ndarray
    context: np.ndarray
    fs: float
    failed: bool  # the answer's waveform was missing or unusable (prediction is zeros)


def usable_waveform(waveform: np.ndarray | None, target_shape: tuple[int, int]) -> np.ndarray | None:
    """The answer cut to target_shape [12, samples] float64, or None when it cannot be scored."""
    if waveform is None:
        return None
    array = np.asarray(waveform)
    if array.ndim != 2 or array.shape[0] != target_shape[0] or array.shape[1] < target_shape[1]:
        return None
    if not np.issubdtype(array.dtype, np.number):
        return None
    array = array[:, : target_shape[1]].astype(np.float64)
    return array if np.isfinite(array).all() else None


def prediction_pairs(items: list[BenchItem], outputs: list[Output], context) -> list[PredictionPair | None]:
    """One PredictionPair per scored item, None where the metric must be NaN."""
    dataset = context.dataset
    pairs: list[PredictionPair | None] = []
    for item, output in zip(items, outputs, strict=True):
        if item.task != TASK or output.not_applicable is not None:
            pairs.append(None)
            continue
        target = np.asarray(dataset.prediction_target(item), dtype=np.float64)
        prediction = usable_waveform(output.waveform, target.shape)
        failed = prediction is None
        pairs.append(PredictionPair(
            prediction=np.zeros_like(target) if failed else prediction,
            target=target,
            context=np.asarray(dataset.prediction_context(item), dtype=np.float64),
            fs=float(item.meta.get("fs", 250)),
            failed=failed,
        ))
    return pairs


def _per_item(pairs: list[PredictionPair | None], score) -> np.ndarray:
    return np.array([np.nan if pair is None else score(pair) for pair in pairs], dtype=np.float64)


def mse(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Mean squared error, mV^2, over all 12 leads x samples."""
    return _per_item(prediction_pairs(items, outputs, context),
                     lambda pair: float(np.mean((pair.prediction - pair.target) ** 2)))


def mae(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Mean absolute error, mV, over all 12 leads x samples."""
    return _per_item(prediction_pairs(items, outputs, context),
                     lambda pair: float(np.mean(np.abs(pair.prediction - pair.target))))


def lead_correlations(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson r per lead of [leads, n] arrays -> [leads]; NaN for a constant target lead, 0 for a constant prediction."""
    predicted = prediction - prediction.mean(axis=1, keepdims=True)
    wanted = target - target.mean(axis=1, keepdims=True)
    predicted_norm = np.sqrt((predicted**2).sum(axis=1))
    wanted_norm = np.sqrt((wanted**2).sum(axis=1))
    # Relative tolerance: float32 storage leaves ~1e-7 mV of "variation" on a flat lead.
    scale = np.maximum(np.abs(target).max(axis=1), 1e-12)
    constant_target = wanted_norm <= 1e-9 * scale * np.sqrt(target.shape[1])
    constant_prediction = predicted_norm <= 1e-12
    denominator = np.where(constant_target | constant_prediction, 1.0, predicted_norm * wanted_norm)
    correlation = np.clip((predicted * wanted).sum(axis=1) / denominator, -1.0, 1.0)
    correlation = np.where(constant_prediction, 0.0, correlation)
    return np.where(constant_target, np.nan, correlation)


def _mean_or_nan(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def pearson_r(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Pearson r between predicted and target lead, averaged over leads whose target varies."""
    return _per_item(prediction_pairs(items, outputs, context),
                     lambda pair: _mean_or_nan(lead_correlations(pair.prediction, pair.target)))


def pearson_r_lead(items: list[BenchItem], outputs: list[Output], context, lead_name: str) -> np.ndarray:
    """Pearson r in one lead (by canonical name, e.g. "II"); NaN where that target lead is constant."""
    if lead_name not in STANDARD_LEADS:
        raise ConfigError(None, f"unknown lead {lead_name!r} for pearson_r; expected one of {', '.join(STANDARD_LEADS)}")
    lead = STANDARD_LEADS.index(lead_name)

    def score(pair: PredictionPair) -> float:
        return float(lead_correlations(pair.prediction[lead : lead + 1], pair.target[lead : lead + 1])[0])

    return _per_item(prediction_pairs(items, outputs, context), score)


def horizon_qrs(context: np.ndarray, continuation: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(QRS times, samples, of context + continuation; those inside the continuation, from its start).

    Times are the detector's sub-sample energy centroids: its peak sample can hop between
    the up- and down-stroke of one R wave, a jitter of several samples.
    """
    from heartcare.ecg.detect import detect_qrs

    peaks = detect_qrs(np.concatenate([context, continuation], axis=1), fs).positions
    start = context.shape[1]
    return peaks, peaks[peaks >= start] - start


def horizon_rate(peaks: np.ndarray, horizon_start: int, fs: float) -> float:
    """bpm from the RR intervals that end inside the horizon (the one bridging into it included); 0 without any."""
    intervals = np.diff(peaks)[peaks[1:] >= horizon_start]
    return 60.0 * fs / float(intervals.mean()) if intervals.size else 0.0


def _rate_error(pair: PredictionPair) -> float:
    start = pair.context.shape[1]
    target_peaks, target_inside = horizon_qrs(pair.context, pair.target, pair.fs)
    if target_inside.size == 0 or target_peaks.size < 2:
        return float("nan")  # no beat in the horizon: the target itself has no rate to match
    predicted_peaks, _ = horizon_qrs(pair.context, pair.prediction, pair.fs)
    # No predicted beat in the horizon is a rate of 0 bpm: a flat line costs the whole rate.
    return abs(horizon_rate(predicted_peaks, start, pair.fs) - horizon_rate(target_peaks, start, pair.fs))


def hr_error(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """|heart rate of context+prediction - of context+target|, bpm, over RR intervals ending in the horizon.

    NaN where the target has no QRS in the horizon; a prediction without one counts as 0 bpm.
    """
    return _per_item(prediction_pairs(items, outputs, context), _rate_error)


def _timing_error(pair: PredictionPair) -> float:
    _, target_inside = horizon_qrs(pair.context, pair.target, pair.fs)
    if target_inside.size == 0:
        return float("nan")
    _, predicted_inside = horizon_qrs(pair.context, pair.prediction, pair.fs)
    cap = QRS_MATCH_CAP_MS * pair.fs / 1000.0
    if predicted_inside.size == 0:
        return QRS_MATCH_CAP_MS
    distances = np.abs(target_inside[:, None] - predicted_inside[None, :]).min(axis=1)  # (target beats,)
    return float(np.minimum(distances, cap).mean() * 1000.0 / pair.fs)


def qrs_timing_error(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Mean over target QRS in the horizon of the distance, ms, to the nearest predicted QRS
    in the horizon, capped at QRS_MATCH_CAP_MS (a missed beat costs the cap); NaN without target QRS."""
    return _per_item(prediction_pairs(items, outputs, context), _timing_error)
