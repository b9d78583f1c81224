"""Beat evaluation: distortion, prediction, codebook use and clinical fidelity.

Metrics (all on Beat-normalised windows unless stated):
  recon/mse, recon/prd (percent root-mean-square difference), recon/snr_db,
  recon/pearson per lead; pred/mse and pred/pearson for the next `horizon` samples,
  and the same for a periodic-continuation baseline (pred_baseline);
  code/usage_percent and code/perplexity per level ("Code%" in the paper);
  clinical/hr_abs_error_bpm and clinical/qrs_abs_error_ms: heart rate and QRS
  duration measured by `heartcare.ecg.measure` on the reconstruction vs the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.atomic import write_figure_atomic
from heartcare.beat.config import holds_a_period
from heartcare.beat.continuation import periodic_continuation
from heartcare.ecg.leads import STANDARD_LEADS


def distortion(original: np.ndarray, reconstruction: np.ndarray, mask: np.ndarray,
               real: np.ndarray | None = None) -> dict[str, Any]:
    """original/reconstruction: [N, leads, T]; mask [N, leads] bool; real [N, T] bool, the
    samples to score (None: all; padding is not) -> MSE, PRD %, SNR dB, per-lead r."""
    real = np.ones((original.shape[0], original.shape[2]), bool) if real is None else real
    samples = real[:, None, :].astype(np.float64)  # (N, 1, T)
    weights = mask[:, :, None].astype(np.float64) * samples
    error = (original - reconstruction) ** 2 * weights
    energy = original.astype(np.float64) ** 2 * weights
    per_window_energy = energy.sum(axis=(1, 2)).clip(1e-12)
    per_window_error = error.sum(axis=(1, 2))
    present = max(float(weights.sum()), 1.0)
    count = samples.sum(axis=2, keepdims=True).clip(1.0)
    centred_x = (original - (original * samples).sum(axis=2, keepdims=True) / count) * samples
    centred_y = (reconstruction - (reconstruction * samples).sum(axis=2, keepdims=True) / count) * samples
    numerator = (centred_x * centred_y).sum(axis=2)
    denominator = np.sqrt((centred_x**2).sum(axis=2) * (centred_y**2).sum(axis=2)).clip(1e-12)
    correlation = numerator / denominator  # [N, leads]
    per_lead = {}
    for lead in range(original.shape[1]):
        rows = mask[:, lead]
        name = STANDARD_LEADS[lead] if original.shape[1] == len(STANDARD_LEADS) else str(lead)
        per_lead[name] = float(correlation[rows, lead].mean()) if rows.any() else None
    return {
        "mse": float(error.sum() / present),
        "prd_percent": float(np.mean(100.0 * np.sqrt(per_window_error / per_window_energy))),
        "snr_db": float(np.mean(10.0 * np.log10(per_window_energy / per_window_error.clip(1e-12)))),
        "pearson": float(correlation[mask].mean()),
        "pearson_per_lead": per_lead,
    }


def forecast_scores(future: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """MSE and mean Pearson r of a forecast [N, leads, horizon] against what came."""
    scores = distortion(future, prediction, mask)
    return {"mse": scores["mse"], "pearson": scores["pearson"]}


def code_usage(codes: np.ndarray, codebook_size: int) -> dict[str, list[float]]:
    """codes: [N, queries, levels] -> Code% (distinct used / size) and perplexity per level."""
    usage, perplexity = [], []
    for level in range(codes.shape[-1]):
        counts = np.bincount(codes[..., level].ravel(), minlength=codebook_size).astype(np.float64)
        usage.append(100.0 * float((counts > 0).sum()) / codebook_size)
        probabilities = counts / counts.sum()
        nonzero = probabilities[probabilities > 0]
        perplexity.append(float(np.exp(-(nonzero * np.log(nonzero)).sum())))
    return {"usage_percent": usage, "perplexity": perplexity}


def clinical_fidelity(original_mv: np.ndarray, reconstruction_mv: np.ndarray, fs: float, limit: int = 200) -> dict[str, Any]:
    """Heart rate and QRS duration measured on reconstructions vs originals (mV, [N, leads, T])."""
    try:
        from heartcare.ecg.measure import measure
    except ImportError as error:  # the measurement module is optional at this layer
        return {"available": False, "reason": f"heartcare.ecg.measure unavailable ({error})"}
    from heartcare.ecg.record import Ecg

    hr_errors, qrs_errors = [], []
    for original, rebuilt in zip(original_mv[:limit], reconstruction_mv[:limit], strict=True):
        first = measure(Ecg(original, fs)).to_dict()
        second = measure(Ecg(rebuilt, fs)).to_dict()
        if first.get("hr_bpm") is not None and second.get("hr_bpm") is not None:
            hr_errors.append(abs(first["hr_bpm"] - second["hr_bpm"]))
        if first.get("qrs_ms") is not None and second.get("qrs_ms") is not None:
            qrs_errors.append(abs(first["qrs_ms"] - second["qrs_ms"]))
    return {
        "available": True,
        "windows": int(min(limit, len(original_mv))),
        "hr_abs_error_bpm": float(np.mean(hr_errors)) if hr_errors else None,
        "hr_measured_pairs": len(hr_errors),
        "qrs_abs_error_ms": float(np.mean(qrs_errors)) if qrs_errors else None,
        "qrs_measured_pairs": len(qrs_errors),
    }


@dataclass
class Predictions:
    """Model outputs for a set of windows (normalised units)."""

    reconstruction: np.ndarray  # [N, leads, context]
    prediction: np.ndarray  # [N, leads, horizon]
    codes: np.ndarray  # [N, queries, levels]


def run_model(model, windows: np.ndarray, masks: np.ndarray, batch_size: int = 128) -> Predictions:
    """Encode, decode and predict windows [N, leads, context + horizon] in batches."""
    import torch

    context = model.config.context
    reconstructions, predictions, codes = [], [], []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            part = torch.from_numpy(windows[start : start + batch_size, :, :context]).to(model.device)
            mask = torch.from_numpy(masks[start : start + batch_size]).to(model.device)
            encoded = model.encode(part, mask)
            reconstructions.append(model.decode(encoded).cpu().numpy())
            predictions.append(model.predict(part, mask).cpu().numpy())
            codes.append(encoded.codes.cpu().numpy())
    return Predictions(np.concatenate(reconstructions), np.concatenate(predictions), np.concatenate(codes))


def evaluate_windows(model, windows: np.ndarray, masks: np.ndarray, baseline=None, clinical: bool = True,
                     scales: np.ndarray | None = None, padding: np.ndarray | None = None,
                     has_future: np.ndarray | None = None) -> dict[str, Any]:
    """All metrics for windows [N, leads, context + horizon] (normalised) with masks [N, leads];
    scales [N] (the std each window was divided by) bring signals back to mV for `measure`;
    padding [N] leading zero samples of each context (not scored; `scoring.py`); has_future
    [N] whether a real horizon follows (forecasts are scored only there)."""
    config = model.config
    outputs = run_model(model, windows, masks)
    context, future = windows[:, :, : config.context], windows[:, :, config.context :]
    padding = np.zeros(len(windows), np.int64) if padding is None else np.asarray(padding)
    real = np.arange(config.context)[None, :] >= padding[:, None]  # (N, context)
    ahead = np.ones(len(windows), bool) if has_future is None else np.asarray(has_future, bool)
    result: dict[str, Any] = {
        "windows": int(len(windows)),
        "padded_windows": int((padding > 0).sum()),
        "forecast_windows": int(ahead.sum()),
        "bits_per_window": config.bits_per_window,
        "bits_per_second": config.bits_per_window / (config.context / config.fs),
        "recon": distortion(context, outputs.reconstruction, masks, real),
        "pred": forecast_scores(future[ahead], outputs.prediction[ahead], masks[ahead]) if ahead.any() else None,
        "code": code_usage(outputs.codes, config.codebook_size),
    }
    if holds_a_period(config.context, config.fs) and ahead.any():  # else there is no period to repeat
        result["pred_baseline"] = {
            "name": "periodic continuation (last autocorrelation period repeated)",
            **forecast_scores(future[ahead], periodic_continuation(context[ahead], future.shape[2], config.fs), masks[ahead]),
        }
    if baseline is not None:
        rebuilt = baseline.reconstruct(np.ascontiguousarray(context))
        result["baseline"] = {"name": f"k-means PQ, {baseline.codebook_size} codes x {config.context // baseline.segment} segments",
                              "bits_per_window": baseline.bits_per_window(config.context),
                              **{k: v for k, v in distortion(context, rebuilt, masks, real).items() if k != "pearson_per_lead"}}
    if clinical:
        # Back to millivolts (means are irrelevant to intervals) so the detector sees real
        # amplitudes; on unpadded windows only (zeros would read as a flat stretch).
        factor = (scales if scales is not None else np.full(len(windows), 0.5, np.float32))[:, None, None]
        whole = padding == 0
        result["clinical"] = clinical_fidelity(context[whole] * factor[whole], outputs.reconstruction[whole] * factor[whole],
                                               config.fs)
    result["_outputs"] = outputs
    return result


def plot_examples(windows: np.ndarray, outputs: Predictions, fs: float, path: str | Path, count: int = 3,
                  leads: tuple[int, ...] = (1, 7)) -> Path:
    """Figure: originals vs reconstructions and predictions for `count` windows (leads II and V2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(count, len(windows))
    figure, axes = plt.subplots(count, len(leads), figsize=(6 * len(leads), 2.2 * count), squeeze=False)
    context = outputs.reconstruction.shape[2]
    total = windows.shape[2]
    time = np.arange(total) / fs
    for row in range(count):
        for column, lead in enumerate(leads):
            axis = axes[row][column]
            axis.plot(time, windows[row, lead], color="black", linewidth=0.8, label="original")
            axis.plot(time[:context], outputs.reconstruction[row, lead], color="tab:blue", linewidth=0.8, label="reconstruction")
            axis.plot(time[context:], outputs.prediction[row, lead, : total - context], color="tab:red", linewidth=0.8, label="prediction")
            axis.axvline(context / fs, color="grey", linestyle=":")
            axis.set_title(f"window {row}, lead {STANDARD_LEADS[lead]}", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="upper left")
    for axis in axes[-1]:
        axis.set_xlabel("seconds")
    figure.tight_layout()
    try:
        return write_figure_atomic(figure, path)
    finally:
        plt.close(figure)
