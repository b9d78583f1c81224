"""Periodic continuation: repeat the last heartbeat period of a window over the horizon.

The period is the lag (0.3-2.0 s, i.e. 30-200 bpm) where the context's
autocorrelation, summed over leads, peaks; the last period of the context is then
tiled over the horizon. It is exact for a perfectly regular rhythm and drifts with
every change of rate. Beat uses it twice: as the forecasting baseline in
`beat eval` (what "the next beats look like the last one" scores), and, with
`prediction_prior="periodic"`, as the prior the prediction head corrects, so the
head learns timing and shape changes instead of redrawing every beat from scratch.
"""

from __future__ import annotations

import numpy as np
import torch

from heartcare.beat.config import LONGEST_PERIOD_S, SHORTEST_PERIOD_S, holds_a_period


def dominant_period(context: torch.Tensor, fs: float) -> torch.Tensor:
    """context [N, leads, T] -> [N] period in samples (int64): the lead-summed autocorrelation's peak lag."""
    samples = context.shape[2]
    shortest = max(1, round(SHORTEST_PERIOD_S * fs))
    longest = min(samples - 1, round(LONGEST_PERIOD_S * fs))
    if not holds_a_period(samples, fs):
        raise ValueError(f"context of {samples} samples at {fs} Hz is too short to hold one {SHORTEST_PERIOD_S}-s period")
    centred = (context - context.mean(dim=2, keepdim=True)).float()
    # Zero-padding to 2T makes the FFT product a linear (not circular) autocorrelation.
    spectrum = torch.fft.rfft(centred, n=2 * samples, dim=2)
    power = (spectrum.real**2 + spectrum.imag**2).sum(dim=1)  # summed over leads
    autocorrelation = torch.fft.irfft(power, n=2 * samples, dim=1)[:, :samples]
    return shortest + torch.argmax(autocorrelation[:, shortest : longest + 1], dim=1)


def periodic_continuation(context: torch.Tensor | np.ndarray, horizon: int, fs: float) -> torch.Tensor | np.ndarray:
    """context [N, leads, T] -> [N, leads, horizon]: the last period tiled forward (same type as given)."""
    given_numpy = isinstance(context, np.ndarray)
    signal = torch.from_numpy(context) if given_numpy else context
    periods = dominant_period(signal, fs)[:, None]  # (N, 1)
    steps = torch.arange(horizon, device=signal.device)[None, :]
    # Position t of the future repeats the sample a whole number of periods back.
    offsets = signal.shape[2] - periods + steps % periods  # (N, horizon)
    future = signal.gather(2, offsets[:, None, :].expand(-1, signal.shape[1], -1))
    return future.numpy() if given_numpy else future
