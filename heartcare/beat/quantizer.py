"""Residual vector quantisation with EMA codebooks (Beat's dual-level VQ).

Each level quantises what the previous levels left over (SoundStream/EnCodec RVQ).
Codebooks learn by exponential moving averages of the vectors assigned to them
(VQ-VAE-2), gradients reach the encoder through the rotation trick (Fifty et al.
2024, "Restructuring Vector Quantization with the Rotation Trick"), an entropy
term keeps the average code distribution wide, and codes whose usage decays are
restarted on live encoder outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizerOutput:
    """quantized: [B, N, D] (straight-through / rotated); codes: [B, N, levels] long;
    commit_loss and diversity_loss: scalars summed over levels; perplexity: [levels]."""

    quantized: torch.Tensor
    codes: torch.Tensor
    commit_loss: torch.Tensor
    diversity_loss: torch.Tensor
    perplexity: torch.Tensor


def rotate_to(vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Move `vectors` onto `targets` by a (detached) rotation and rescaling.

    Forward value equals `targets`; the gradient to `vectors` passes through the
    rotation R (with r = norm(e_hat + q_hat), R = I - 2 r r^T + 2 q_hat e_hat^T), so
    the angle between a vector and its code is preserved in backprop.
    vectors, targets: [M, D].
    """
    eps = 1e-6
    vector_norm = vectors.norm(dim=-1, keepdim=True).clamp_min(eps)
    target_norm = targets.norm(dim=-1, keepdim=True)
    e_hat = (vectors / vector_norm).detach()
    q_hat = (targets / target_norm.clamp_min(eps)).detach()
    r = F.normalize(e_hat + q_hat, dim=-1, eps=eps).detach()
    rotated = (
        vectors
        - 2 * r * (vectors * r).sum(-1, keepdim=True)
        + 2 * q_hat * (vectors * e_hat).sum(-1, keepdim=True)
    )
    return rotated * (target_norm / vector_norm).detach()


def code_counts(codes: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """[size] how often each code occurs in codes [M] (long), on their device. A scatter-add
    rather than `bincount`, whose output size depends on the values (not on `size`)."""
    return torch.zeros(size, dtype=dtype, device=codes.device).index_add_(
        0, codes, torch.ones(codes.shape[0], dtype=dtype, device=codes.device)
    )


USAGE_DECAY = 0.99  # per training step, for the long-run usage share of each code


def _sum_over_processes(*tensors: torch.Tensor) -> None:
    """Add up EMA statistics over data-parallel processes in place, so every replica's
    codebook follows the global batch (a no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        for tensor in tensors:
            dist.all_reduce(tensor)


class EmaCodebook(nn.Module):
    """One codebook of `size` codes of width `dim`, learned by EMA (no gradients)."""

    def __init__(self, size: int, dim: int, decay: float, dead_code_threshold: float, kmeans_init: bool,
                 rare_code_share: float = 0.0) -> None:
        super().__init__()
        self.size, self.dim, self.decay = size, dim, decay
        self.dead_code_threshold = dead_code_threshold
        self.rare_code_share = rare_code_share
        self.register_buffer("embedding", torch.randn(size, dim) * dim**-0.5)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embedding_sum", self.embedding.clone())
        # 1 once initialised (k-means or random); a buffer so checkpoints keep it.
        self.register_buffer("initialised", torch.tensor(0 if kmeans_init else 1, dtype=torch.long))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))
        # Long-run share of assignments per code (slow EMA): the fast codebook EMA is too
        # noisy to tell a rarely used code from an unlucky one.
        self.register_buffer("usage", torch.full((size,), 1.0 / size))

    def distances(self, flat: torch.Tensor) -> torch.Tensor:
        """[M, size] squared distances from flat [M, D] to every code."""
        return (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.embedding.t()
            + self.embedding.pow(2).sum(1)[None, :]
        )

    @torch.no_grad()
    def kmeans_initialise(self, flat: torch.Tensor, iterations: int = 10) -> None:
        """Seed codes with k-means over the first training batch (sampled with replacement)."""
        index = torch.randint(0, flat.shape[0], (self.size,), device=flat.device)
        centroids = flat[index].clone()
        for _ in range(iterations):
            assign = torch.cdist(flat, centroids).argmin(1)
            counts = code_counts(assign, self.size, flat.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, assign, flat)
            filled = counts > 0
            centroids[filled] = sums[filled] / counts[filled, None]
        self.embedding.copy_(centroids)
        self.embedding_sum.copy_(centroids)
        self.cluster_size.fill_(1.0)
        self.initialised.fill_(1)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, codes: torch.Tensor, errors: torch.Tensor | None = None) -> None:
        """Move each used code towards the mean of its assigned vectors; restart dead ones.

        errors: [M] squared distance of each vector to its code (restarts favour badly served vectors).
        """
        counts = code_counts(codes, self.size, flat.dtype)
        sums = torch.zeros_like(self.embedding_sum).index_add_(0, codes, flat)
        _sum_over_processes(counts, sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.usage.mul_(USAGE_DECAY).add_(counts / counts.sum().clamp_min(1.0), alpha=1 - USAGE_DECAY)
        self.embedding_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0.
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + self.size * 1e-5) * total
        self.embedding.copy_(self.embedding_sum / smoothed[:, None])
        self.restart_dead_codes(flat, errors)

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor, errors: torch.Tensor | None = None) -> int:
        """Replace codes whose EMA usage fell below the threshold by batch vectors.

        With `errors` ([M] squared distance to the current code), vectors are drawn with
        probability proportional to it (as in k-means++ seeding): a restarted code lands
        where the codebook serves the data worst, so it is used (and lowers distortion)
        instead of dying again next to a well-served cluster.
        """
        dead = self.cluster_size < self.dead_code_threshold
        if self.rare_code_share > 0:  # also codes taking under rare_code_share of a uniform share
            dead |= self.usage < self.rare_code_share / self.size
        count = int(dead.sum())
        if count == 0:
            return 0
        if errors is not None and float(errors.sum()) > 0:
            index = torch.multinomial(errors.float(), count, replacement=count > errors.shape[0])
        else:
            index = torch.randint(0, flat.shape[0], (count,), device=flat.device)
        # A little noise so several restarts drawn from one vector split apart.
        fresh = flat[index] + 1e-3 * torch.randn_like(flat[index])
        self.embedding[dead] = fresh
        self.embedding_sum[dead] = fresh
        self.cluster_size[dead] = 1.0
        self.usage[dead] = 1.0 / self.size  # a grace period of ~1 / (1 - USAGE_DECAY) steps
        self.restarts.add_(count)
        return count


class ResidualQuantizer(nn.Module):
    """`levels` residual stages; separate codebooks by default, one shared on request."""

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        levels: int,
        shared_codebook: bool = False,
        decay: float = 0.8,
        commitment: float = 1.0,
        diversity: float = 0.3,
        rotation_trick: bool = True,
        kmeans_init: bool = False,
        dead_code_threshold: float = 1e-3,
        rare_code_share: float = 0.0,
    ) -> None:
        super().__init__()
        count = 1 if shared_codebook else levels
        self.codebooks = nn.ModuleList(
            EmaCodebook(codebook_size, dim, decay, dead_code_threshold, kmeans_init, rare_code_share) for _ in range(count)
        )
        self.levels, self.codebook_size = levels, codebook_size
        self.commitment, self.diversity, self.rotation_trick = commitment, diversity, rotation_trick

    def codebook(self, level: int) -> EmaCodebook:
        return self.codebooks[level % len(self.codebooks)]

    def forward(self, latents: torch.Tensor) -> QuantizerOutput:
        """latents: [B, N, D] -> QuantizerOutput; EMA/restart updates only in training."""
        batch, count, dim = latents.shape
        residual = latents.reshape(-1, dim)
        quantized_total = torch.zeros_like(residual)
        codes, commits, diversities, perplexities = [], [], [], []
        for level in range(self.levels):
            codebook = self.codebook(level)
            flat = residual.detach()
            if self.training and not bool(codebook.initialised):
                codebook.kmeans_initialise(flat)
            # Codes are looked up in the codebook as it stands (the one inference searches),
            # before this batch's EMA update moves it. A snapshot, because that update (and a
            # shared codebook's next level) changes the buffer in place.
            embedding = codebook.embedding.clone()
            distances = codebook.distances(flat)
            errors, level_codes = distances.min(1)
            chosen = F.embedding(level_codes, embedding)
            if self.training:
                codebook.ema_update(flat, level_codes, errors.clamp_min(0))
            commits.append(F.mse_loss(residual, chosen.detach()))
            # Entropy of the batch-averaged soft assignment, as a loss in [0, 1]:
            # 0 when codes are used uniformly, 1 when all mass sits on one code.
            distances_for_grad = (
                residual.pow(2).sum(1, keepdim=True) - 2 * residual @ embedding.t() + embedding.pow(2).sum(1)[None, :]
            )
            probabilities = torch.softmax(-distances_for_grad, dim=1).mean(0)
            entropy = -(probabilities * torch.log(probabilities + 1e-10)).sum()
            diversities.append(1.0 - entropy / math.log(self.codebook_size))
            usage = code_counts(level_codes, self.codebook_size, residual.dtype)
            usage = usage / usage.sum()
            perplexities.append(torch.exp(-(usage * torch.log(usage + 1e-10)).sum()))
            if self.training and self.rotation_trick:
                passed = rotate_to(residual, chosen)
            else:
                passed = residual + (chosen - residual).detach()
            quantized_total = quantized_total + passed
            residual = residual - chosen.detach()
            codes.append(level_codes)
        return QuantizerOutput(
            quantized=quantized_total.reshape(batch, count, dim),
            codes=torch.stack(codes, -1).reshape(batch, count, self.levels),
            commit_loss=self.commitment * torch.stack(commits).sum(),
            diversity_loss=self.diversity * torch.stack(diversities).sum(),
            perplexity=torch.stack(perplexities),
        )

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, N, levels] long -> quantised latents [B, N, D] (sum over levels)."""
        return sum(F.embedding(codes[..., level], self.codebook(level).embedding) for level in range(self.levels))

    @torch.no_grad()
    def encode(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference path without losses: latents [B, N, D] -> (codes [B, N, L], quantised [B, N, D])."""
        residual = latents
        quantized = torch.zeros_like(latents)
        codes = []
        for level in range(self.levels):
            embedding = self.codebook(level).embedding
            # argmin ||r - e||^2 = argmax (2 r.e - ||e||^2); ||r||^2 is constant per row.
            scores = torch.addmm((-embedding.pow(2).sum(1)).expand(residual.shape[0] * residual.shape[1], -1),
                                 residual.reshape(-1, residual.shape[-1]), embedding.t(), alpha=2.0)
            level_codes = scores.argmax(1).reshape(residual.shape[:-1])
            chosen = F.embedding(level_codes, embedding)
            quantized = quantized + chosen
            residual = residual - chosen
            codes.append(level_codes)
        return torch.stack(codes, -1), quantized
