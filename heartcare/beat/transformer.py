"""Pre-norm Transformer blocks shared by Beat's encoder, decoder and prediction head.

Built for CPU inference speed: one fused QKV projection, PyTorch's fused
`scaled_dot_product_attention`, batch-first contiguous tensors throughout so
every projection is a single large GEMM over [B * T, D], and bias-free
projections (as in PaLM / nanoGPT): a bias makes `addmm` first copy it into the
output, which costs ~15% of encoder time at this width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention: x [B, T, D] -> [B, T, D]; heads x head_dim may differ from D."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.out = nn.Linear(heads * head_dim, dim, bias=False)

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, D], or only the last `last` positions' outputs [B, last, D]."""
        batch, tokens, _ = x.shape
        # (B, T, 3, H, Dh) -> (3, B, H, T, Dh): one GEMM, then views for SDPA.
        qkv = self.qkv(x).view(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query = qkv[0] if last is None else qkv[0][:, :, -last:]
        attended = F.scaled_dot_product_attention(
            query, qkv[1], qkv[2], dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T or last, Dh)
        return self.out(attended.transpose(1, 2).reshape(batch, query.shape[2], self.heads * self.head_dim))


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x)) (pre-norm, GELU)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, head_dim, dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim, bias=False), nn.GELU(), nn.Linear(mlp_ratio * dim, dim, bias=False),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, D]; with `last`, only the last `last` positions are computed
        after attention (keys and values still cover every position)."""
        attended = self.attention(self.attention_norm(x), last)
        if last is not None:
            x = x[:, -last:]
        if torch.is_inference_mode_enabled():  # in place saves a [B, T, D] allocation per add
            x = x.add_(attended) if last is None else x + attended
            return x.add_(self.mlp(self.mlp_norm(x)))
        x = x + attended
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    """A stack of `depth` blocks and a final LayerNorm: [B, T, D] -> [B, T, D]."""

    def __init__(self, dim: int, depth: int, heads: int, head_dim: int, mlp_ratio: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, head_dim, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, last: int | None = None) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, D], or [B, last, D] when only the last positions are wanted:
        then the final block skips the other positions' queries and MLP (same result, less work)."""
        for index, block in enumerate(self.blocks):
            x = block(x, last if index == len(self.blocks) - 1 else None)
        return self.norm(x)


def sinusoidal_positions(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos embeddings [N, dim] of (possibly fractional) positions [N] (Vaswani et al. 2017).

    Used to initialise Beat's learned positions: patch p at p, query q at the centre
    of the stretch of patches it summarises, so each query starts out attending
    to its own stretch (a locality prior that lets the bottleneck learn quickly).
    """
    frequencies = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) * (torch.log(torch.tensor(100.0)) / dim))
    angles = positions.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)[:, :dim]


def query_centres(queries: int, patches: int) -> torch.Tensor:
    """[queries] positions, in patch units, of the middle of each query's stretch."""
    return (torch.arange(queries, dtype=torch.float32) + 0.5) * patches / queries - 0.5


def transformer_flops(tokens: int, dim: int, depth: int, heads: int, head_dim: int, mlp_ratio: int,
                      last: int | None = None) -> int:
    """Multiply-add FLOPs (2 per MAC) of one sequence through `depth` blocks.

    Counts the GEMMs (QKV, output, MLP) and the two attention products
    (QK^T and AV); norms, softmax and activations are not counted. With `last`,
    the final block computes queries, output projection and MLP for `last`
    positions only (as `Transformer.forward(x, last)` does).
    """
    inner = heads * head_dim

    def block(queries: int) -> int:
        keys_values = 2 * tokens * dim * 2 * inner
        per_query = 2 * queries * dim * (inner + inner + 2 * mlp_ratio * dim)
        attention = 2 * 2 * queries * tokens * inner
        return keys_values + per_query + attention

    return (depth - 1) * block(tokens) + block(last or tokens)
