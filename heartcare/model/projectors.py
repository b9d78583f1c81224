"""DSPA's two projectors: Beat latents and image features into the LLM's embedding space."""

from __future__ import annotations

import torch
from torch import nn


class SignalProjector(nn.Module):
    """Beat latents [N, signal_dim] -> LLM tokens [N, hidden]: Linear-GELU-LayerNorm (the paper's 1-layer projector)."""

    def __init__(self, signal_dim: int, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(signal_dim, hidden)
        self.activation = nn.GELU()
        self.norm = nn.LayerNorm(hidden)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.norm(self.activation(self.linear(latents)))


class ImageProjector(nn.Module):
    """Pooled image features [N, feature_dim] -> LLM tokens [N * tokens, hidden]: Linear-GELU-Linear."""

    def __init__(self, feature_dim: int, hidden: int, tokens: int) -> None:
        super().__init__()
        self.tokens = tokens
        self.first = nn.Linear(feature_dim, hidden)
        self.activation = nn.GELU()
        self.second = nn.Linear(hidden, hidden * tokens)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.second(self.activation(self.first(features)))  # (N, tokens * hidden)
        return out.reshape(features.shape[0] * self.tokens, -1)

