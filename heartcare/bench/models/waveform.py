"""Signal-prediction adapters: `beat:CHECKPOINT` (Beat's prediction head) and `periodic` (last period tiled).

Both read the item's 4-s context as signal (`dataset.prediction_context`) and answer
`Output.waveform` [12, target samples] mV at the item's rate; they forecast their full
horizon once and the 1-s items take its first second. Neither reads paper images, so
"I" items (context given as an image) and every other task are not applicable:
reported apart, never scored as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heartcare.bench.dataset import prediction_samples
from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError

TASK = "signal_prediction"


@dataclass(frozen=True)
class PredictionRequest:
    """One answerable item: its position in the batch, context [12, c] mV, fs Hz and target samples."""

    position: int
    context: np.ndarray
    fs: float
    horizon: int


def horizon_samples(item: BenchItem) -> int:
    return prediction_samples(item)


def split_requests(
    items: list[BenchItem], context: ModelContext, who: str
) -> tuple[list[PredictionRequest], list[Output | None]]:
    """(the signal-prediction "S" items with their contexts, outputs with the not-applicable ones filled in)."""
    requests: list[PredictionRequest] = []
    outputs: list[Output | None] = [None] * len(items)
    for position, item in enumerate(items):
        if item.task != TASK:
            outputs[position] = Output(not_applicable=f"{who} answers only signal prediction")
        elif item.modality != "S":
            outputs[position] = Output(not_applicable=f"{who} reads signals, not ECG images (modality {item.modality})")
        else:
            window = np.asarray(context.dataset.prediction_context(item), dtype=np.float32)
            requests.append(PredictionRequest(position, window, float(item.meta.get("fs", 250)), horizon_samples(item)))
    return requests, outputs


def context_ecg(window: np.ndarray, fs: float) -> Ecg:
    """A context window as an Ecg; all-zero (unrecorded) leads are masked, as readers mask flat leads."""
    return Ecg(window, fs, STANDARD_LEADS, {"lead_mask": [bool(v) for v in np.any(window != 0, axis=1)],
                                             "record_id": "bench-context"})


class BeatModel:
    """`beat:CHECKPOINT`: Beat's prediction head on each context, as `heartcare beat predict` would run it."""

    batch_size = 64

    @staticmethod
    def fingerprint(argument: str) -> str | None:
        from heartcare.model.feature_cache import checkpoint_digest

        return checkpoint_digest(argument) if (Path(argument) / "model.safetensors").is_file() else None

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        if not argument:
            raise ConfigError(None, "the beat model needs a checkpoint folder: --model beat:/path/to/beat")
        from heartcare.beat.model import Beat

        self.name = f"beat:{argument}"
        self.context = context
        self.model = Beat.from_pretrained(argument)

    def respond(self, items: list[BenchItem]) -> list[Output]:
        """One forecast per "S" signal-prediction item, all contexts in one model call."""
        import torch

        from heartcare.beat.files import forecast_of, prepare_context

        config = self.model.config
        requests, outputs = split_requests(items, self.context, "Beat")
        runnable = []
        for request in requests:
            needed = int(np.ceil(request.horizon * config.fs / request.fs))
            if needed > config.horizon:
                outputs[request.position] = Output(not_applicable=(
                    f"this Beat forecasts {config.horizon / config.fs:g} s; the item asks for "
                    f"{request.horizon / request.fs:g} s"))
            else:
                runnable.append(request)
        if runnable:
            # The same preparation as `predict_ecg` (resample, clean, normalise the last
            # window by its own statistics), so answers equal Beat's file-by-file forecasts.
            prepared = [prepare_context(context_ecg(request.context, request.fs), config) for request in runnable]
            windows = torch.from_numpy(np.stack([entry.window for entry in prepared]))
            masks = torch.from_numpy(np.stack([entry.lead_mask for entry in prepared]))
            predicted = self.model.predict(windows, masks).numpy()  # (N, leads, horizon)
            for index, (request, entry) in enumerate(zip(runnable, prepared, strict=True)):
                forecast = forecast_of(entry, predicted[index], config).prediction
                outputs[request.position] = Output(waveform=at_rate(forecast, request.fs)[:, : request.horizon])
        return [output if output is not None else Output(not_applicable="no forecast") for output in outputs]


def at_rate(ecg: Ecg, fs: float) -> np.ndarray:
    """[12, samples] float32 mV of `ecg` at `fs` Hz (a no-op at the model's own rate)."""
    from heartcare.ecg.preprocess import resample

    return np.ascontiguousarray(resample(ecg, fs).signal, dtype=np.float32)


class PeriodicModel:
    """`periodic`: the context's last heartbeat period tiled over the horizon (heartcare.beat.continuation)."""

    batch_size = 256

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        self.name = "periodic"
        self.context = context

    def respond(self, items: list[BenchItem]) -> list[Output]:
        """One continuation per "S" signal-prediction item; contexts of one length and rate go in one call."""
        from heartcare.beat.config import SHORTEST_PERIOD_S, holds_a_period
        from heartcare.beat.continuation import periodic_continuation

        requests, outputs = split_requests(items, self.context, "periodic continuation")
        groups: dict[tuple[int, float], list[PredictionRequest]] = {}
        for request in requests:
            if not holds_a_period(request.context.shape[1], request.fs):
                outputs[request.position] = Output(not_applicable=(
                    f"a {request.context.shape[1] / request.fs:g}-s context holds no {SHORTEST_PERIOD_S:g}-s period"))
                continue
            groups.setdefault((request.context.shape[1], request.fs), []).append(request)
        for (_, fs), group in groups.items():
            # Tiling is prefix-consistent, so one call at the longest horizon serves every item.
            longest = max(request.horizon for request in group)
            futures = periodic_continuation(np.stack([request.context for request in group]), longest, fs)
            for request, future in zip(group, futures, strict=True):
                outputs[request.position] = Output(waveform=np.ascontiguousarray(future[:, : request.horizon]))
        return [output if output is not None else Output(not_applicable="no continuation") for output in outputs]
