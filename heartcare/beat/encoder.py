"""Beat encoder: 12-lead patches + learned queries -> Transformer -> query latents."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from heartcare.beat.config import BeatConfig
from heartcare.beat.transformer import (
    Transformer,
    query_centres,
    sinusoidal_positions,
    transformer_flops,
)


class BeatEncoder(nn.Module):
    """x: [B, leads, context] (normalised) -> latents [B, queries, dim].

    Each patch holds `patch` samples of every lead (12 x 25 = 300 values ->
    Linear -> dim), so leads mix from the first layer; only the query outputs leave.
    The paper's queries are learned vectors alone; with `config.query_stretch` each
    also starts from its own stretch of the signal (heartcare's locality prior).
    """

    def __init__(self, config: BeatConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embedding = nn.Linear(config.leads * config.patch, config.dim)
        # Learned, but started from sin-cos positions (see sinusoidal_positions).
        self.positions = nn.Parameter(sinusoidal_positions(torch.arange(config.patches), config.dim))
        self.queries = nn.Parameter(sinusoidal_positions(query_centres(config.queries, config.patches), config.dim))
        # Each query's own stretch of context_samples / queries samples (all leads),
        # linearly embedded: its starting value, an information-preserving locality prior.
        divides = config.context % config.queries == 0
        self.stretch = config.context // config.queries if config.query_stretch and divides else 0
        self.stretch_embedding = nn.Linear(config.leads * self.stretch, config.dim, bias=False) if self.stretch else None
        self.transformer = Transformer(
            config.dim, config.encoder_depth, config.heads, config.head_dim, config.mlp_ratio, config.dropout
        )

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, T] -> [B, T / patch, L * patch] (leads-major inside each patch)."""
        batch, leads, samples = x.shape
        patches = samples // self.config.patch
        return x.reshape(batch, leads, patches, self.config.patch).transpose(1, 2).reshape(batch, patches, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(self.patchify(x)) + self.positions  # (B, P, D)
        # With query_stretch, each query starts from a linear embedding of its own stretch
        # of the signal (plus its learned embedding): a locality prior that makes the
        # bottleneck informative from the first step (a linear autoencoder path; an average
        # of the stretch's patch tokens would lose which half of the stretch held what),
        # and attention then refines what each query summarises.
        if not self.config.query_stretch:  # the paper: learned queries alone
            queries = self.queries.expand(x.shape[0], -1, -1)  # (B, Q, D)
        elif self.stretch_embedding is not None:
            batch, leads, samples = x.shape
            stretches = x.reshape(batch, leads, self.config.queries, self.stretch).transpose(1, 2)
            queries = self.queries + self.stretch_embedding(stretches.reshape(batch, self.config.queries, leads * self.stretch))
        else:  # context not divisible by queries: pool the patch tokens instead
            queries = self.queries + F.adaptive_avg_pool1d(tokens.transpose(1, 2), self.config.queries).transpose(1, 2)
        # Only the query outputs leave the encoder, so the last block computes just those.
        return self.transformer(torch.cat([tokens, queries], dim=1), last=self.config.queries)  # (B, Q, D)

    def flops_per_window(self) -> int:
        """Counted FLOPs for one window (patch embedding + transformer)."""
        config = self.config
        embedding = 2 * config.patches * config.leads * config.patch * config.dim
        if self.stretch_embedding is not None:  # the queries' stretch embedding
            embedding += 2 * config.queries * config.leads * self.stretch * config.dim
        return embedding + transformer_flops(
            config.patches + config.queries, config.dim, config.encoder_depth, config.heads,
            config.head_dim, config.mlp_ratio, last=config.queries,
        )
