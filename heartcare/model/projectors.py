"""DSPA's two projectors: Beat latents and image features into the LLM's embedding space.

Each projector first standardises its input with per-dimension statistics it keeps as
buffers (identity until `calibrate` sets them; saved in the checkpoint). Why: cached
encoder features of different records differ by a small fraction of their common mean
(measured on the PTB-XL-size build: ~26 % for Beat latents, ~11 % for lead-crop
features), so an unnormalised projector hands the LLM near-constant tokens, and at
default initialisation those tokens were 8-16x the norm of the backbone's text embeddings.
`calibrate` centres and scales the input on a sample of training features and sets the
output scale to the mean norm of the backbone's text-token rows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SMALLEST_SPREAD = 1e-6  # an input dimension that never varies is left unscaled (it carries nothing)
# A dimension that almost never varies (an image-encoder channel that is nearly always 0) would
# otherwise be scaled by thousands and turn its rare activations into outlier tokens: spreads are
# floored at this fraction of the median spread (measured on the 6,000-record cache: 134 of 1,280
# lead-crop feature dimensions had scales over 100, up to 15,686, without it).
SPREAD_FLOOR_OF_MEDIAN = 0.1


class _Standardised(nn.Module):
    """Holds the input statistics shared by both projectors."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(input_dim))
        self.register_buffer("input_scale", torch.ones(input_dim))

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.input_mean.to(features.dtype)) * self.input_scale.to(features.dtype)

    @torch.no_grad()
    def _fit_input(self, features: torch.Tensor) -> torch.Tensor:
        features = features.float()
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"calibration needs at least 2 feature rows of shape [N, {self.input_mean.numel()}], got {tuple(features.shape)}")
        spread = features.std(dim=0)
        floor = max(SMALLEST_SPREAD, SPREAD_FLOOR_OF_MEDIAN * float(spread.median()))
        self.input_mean.copy_(features.mean(dim=0))
        self.input_scale.copy_(torch.where(spread > SMALLEST_SPREAD, 1.0 / spread.clamp_min(floor), torch.ones_like(spread)))
        return features


class SignalProjector(_Standardised):
    """Beat latents [N, signal_dim] -> LLM tokens [N, hidden]: Linear-GELU-LayerNorm (the paper's 1-layer projector)."""

    def __init__(self, signal_dim: int, hidden: int) -> None:
        super().__init__(signal_dim)
        self.linear = nn.Linear(signal_dim, hidden)
        self.activation = nn.GELU()
        self.norm = nn.LayerNorm(hidden)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.norm(self.activation(self.linear(self.standardise(latents))))

    @torch.no_grad()
    def calibrate(self, latents: torch.Tensor, target_norm: float) -> None:
        """Standardise on `latents`; LayerNorm gain so each token's norm is `target_norm` (a LayerNorm
        output with unit gain and zero bias has norm sqrt(hidden))."""
        self._fit_input(latents)
        self.norm.weight.fill_(target_norm / math.sqrt(self.norm.normalized_shape[0]))
        self.norm.bias.zero_()


class ImageProjector(_Standardised):
    """Pooled image features [N, feature_dim] -> LLM tokens [N * tokens, hidden]: Linear-GELU-Linear."""

    def __init__(self, feature_dim: int, hidden: int, tokens: int) -> None:
        super().__init__(feature_dim)
        self.tokens = tokens
        self.first = nn.Linear(feature_dim, hidden)
        self.activation = nn.GELU()
        self.second = nn.Linear(hidden, hidden * tokens)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.second(self.activation(self.first(self.standardise(features))))  # (N, tokens * hidden)
        return out.reshape(features.shape[0] * self.tokens, -1)

    @torch.no_grad()
    def calibrate(self, features: torch.Tensor, target_norm: float) -> None:
        """Standardise on `features`; scale the last layer so the mean token norm on them is `target_norm`."""
        features = self._fit_input(features)
        original = self.second.weight.dtype
        tokens = self.float()(features)
        self.to(original)
        factor = target_norm / float(tokens.norm(dim=-1).mean().clamp_min(SMALLEST_SPREAD))
        self.second.weight.mul_(factor)
        self.second.bias.mul_(factor)
