"""Beat decoder and prediction head: tokens at "mask" positions read the query latents."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from heartcare.beat.config import BeatConfig
from heartcare.beat.transformer import Transformer, query_centres, sinusoidal_positions

# What a PatchDecoder produces: the context it was given latents of, or what follows it.
Role = Literal["reconstruction", "prediction"]


class PatchDecoder(nn.Module):
    """latents [B, queries, dim] -> signal [B, leads, patches * patch].

    Learned position embeddings serve as mask tokens for the patches to produce;
    they attend jointly with the latents, and each output token is projected back
    to one 12-lead patch (Linear dim -> leads * patch). `role` says which patches
    those are (the context's, or the `horizon` after it), so a horizon as long as
    the context is never mistaken for a reconstruction.
    """

    def __init__(self, config: BeatConfig, role: Role, depth: int, prior_input: bool = False) -> None:
        super().__init__()
        if role not in ("reconstruction", "prediction"):
            raise ValueError(f"role must be 'reconstruction' or 'prediction', got {role!r}")
        self.config, self.role = config, role
        self.patches = config.patches if role == "reconstruction" else config.horizon_patches
        # Mask tokens sit at their patch positions (a forecast's follow the context's);
        # latents at the centre of the context stretch they summarise.
        offset = config.patches if role == "prediction" else 0
        self.mask_tokens = nn.Parameter(sinusoidal_positions(torch.arange(self.patches) + offset, config.dim))
        self.query_positions = nn.Parameter(sinusoidal_positions(query_centres(config.queries, config.patches), config.dim))
        # heartcare's addition (config.latent_projection): a Linear on the latents first.
        self.latent_projection = nn.Linear(config.dim, config.dim) if config.latent_projection else None
        # heartcare's addition (config.seeded_mask_tokens): each latent seeds the mask tokens of
        # the patches of its own stretch through a separate linear map per patch position (an
        # information-preserving mirror of the encoder's stretch embedding). The prediction
        # head seeds its patches from the latents of the context's last `horizon` samples (a
        # persistence prior). Where the patches do not split evenly over the queries, the
        # reconstruction seeds by nearest upsampling and the prediction head not at all.
        per_query = config.patches // config.queries if config.patches % config.queries == 0 else 0
        self.per_query = per_query if config.seeded_mask_tokens else 0
        evenly = self.per_query and self.patches % self.per_query == 0 and self.patches // self.per_query <= config.queries
        self.seed_projection = nn.Linear(config.dim, config.dim * self.per_query, bias=False) if evenly else None
        # With a prior (the prediction head under prediction_prior="periodic"), each mask token
        # also sees the prior's 12-lead patch at its position, so the head can correct the
        # prior where it goes wrong (a beat due earlier or later) rather than only shrink it.
        self.prior_embedding = nn.Linear(config.leads * config.patch, config.dim, bias=False) if prior_input else None
        self.transformer = Transformer(config.dim, depth, config.heads, config.head_dim, config.mlp_ratio, config.dropout)
        self.to_patch = nn.Linear(config.dim, config.leads * config.patch)

    def mask_token_inputs(self, latents: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
        """[B, patches, dim]: the mask tokens, seeded from the latents when configured."""
        batch = latents.shape[0]
        if self.seed_projection is not None:
            sources = latents[:, latents.shape[1] - self.patches // self.per_query :]  # (B, patches / per, D)
            return self.mask_tokens + self.seed_projection(sources).reshape(batch, self.patches, -1)
        if self.config.seeded_mask_tokens and self.role == "reconstruction":
            # Mask tokens start from the latent of the stretch they lie in (nearest upsampling).
            return self.mask_tokens + F.interpolate(projected.transpose(1, 2), size=self.patches, mode="nearest").transpose(1, 2)
        return self.mask_tokens.expand(batch, -1, -1)  # the paper: position embeddings alone

    def forward(self, latents: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """latents [B, queries, dim] (and, for a prior-input head, prior [B, leads, patches * patch])."""
        batch = latents.shape[0]
        projected = latents if self.latent_projection is None else self.latent_projection(latents)  # (B, Q, D)
        masks = self.mask_token_inputs(latents, projected)
        leads, size = self.config.leads, self.config.patch
        if self.prior_embedding is not None:
            if prior is None:
                raise ValueError("this head was built to read a prior; pass prior=[B, leads, samples]")
            patched = prior.reshape(batch, leads, self.patches, size).transpose(1, 2).reshape(batch, self.patches, -1)
            masks = masks + self.prior_embedding(patched)
        hidden = self.transformer(torch.cat([masks, projected + self.query_positions], dim=1))
        patches = self.to_patch(hidden[:, : self.patches])  # (B, P, L * patch)
        return patches.reshape(batch, self.patches, leads, size).transpose(1, 2).reshape(batch, leads, -1)


def build_decoder(config: BeatConfig) -> PatchDecoder:
    """Reconstructs the context window from quantised latents."""
    return PatchDecoder(config, "reconstruction", config.decoder_depth)


def build_prediction_head(config: BeatConfig) -> PatchDecoder:
    """Forecasts the next `horizon` samples from the unquantised latents."""
    return PatchDecoder(config, "prediction", config.prediction_depth, config.prediction_prior == "periodic")
