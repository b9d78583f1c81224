"""Sharpen a finding reader's belief before it becomes a token: belief ** (1 / T), renormalised.

Why: a finding token is the belief-weighted blend of its answers' embedding rows, and the language
model learned to copy those tokens on train records, where the fitted readers are nearly certain
(train accuracy 0.92-1.0 per kind, every picture kind 1.0). On unseen ECGs the same readers spread
their belief (valid accuracy 0.25-0.9), so the LLM meets blends it never saw and copies a
neighbouring answer: Mc's LLM gave its readers' option on 89% of the closed test items, on waveform
items 68% (signal) and 50% (pictures). A temperature below 1 moves test tokens back towards what training showed; the order of
the answers, and so what the reader believes most, never changes.
"""

from __future__ import annotations

import torch


def sharpened(belief: torch.Tensor, temperature: float) -> torch.Tensor:
    """belief [..., answers] (rows summing to 1) -> belief ** (1 / temperature), renormalised per row;
    temperature 1 returns it as it is, 0 the most believed answer alone (ties: the first)."""
    if temperature == 1.0:
        return belief
    if temperature == 0.0:
        return torch.nn.functional.one_hot(belief.argmax(dim=-1), belief.shape[-1]).to(belief.dtype)
    log_belief = belief.float().clamp_min(torch.finfo(torch.float32).tiny).log()
    # from the row's maximum: the favourite stays at 0 however small the temperature, never -inf
    logits = (log_belief - log_belief.amax(dim=-1, keepdim=True)) / temperature
    sharp = logits.softmax(dim=-1)
    return torch.where(belief > 0, sharp, torch.zeros_like(sharp)).to(belief.dtype)
