"""Pre-norm Transformer blocks shared by Beat's encoder, decoder and prediction head.

Built for CPU inference speed: one fused QKV projection, PyTorch's fused
`scaled_dot_product_attention`, and batch-first contiguous tensors throughout so
every projection is a single large GEMM over [B * T, D].
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
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.out = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        # (B, T, 3, H, Dh) -> (3, B, H, T, Dh): one GEMM, then views for SDPA.
        qkv = self.qkv(x).view(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, Dh)
        return self.out(attended.transpose(1, 2).reshape(batch, tokens, self.heads * self.head_dim))


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x)) (pre-norm, GELU)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, head_dim, dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    """A stack of `depth` blocks and a final LayerNorm: [B, T, D] -> [B, T, D]."""

    def __init__(self, dim: int, depth: int, heads: int, head_dim: int, mlp_ratio: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, head_dim, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def transformer_flops(tokens: int, dim: int, depth: int, heads: int, head_dim: int, mlp_ratio: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one sequence through `depth` blocks.

    Counts the GEMMs (QKV, output, MLP) and the two attention products
    (QK^T and AV); norms, softmax and activations are not counted.
    """
    inner = heads * head_dim
    projections = 2 * tokens * dim * (3 * inner + inner + 2 * mlp_ratio * dim)
    attention = 2 * 2 * tokens * tokens * inner
    return depth * (projections + attention)
