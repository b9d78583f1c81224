"""Residual quantiser: codes, rotation trick gradients, EMA learning, dead-code restart."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.quantizer import EmaCodebook, ResidualQuantizer, rotate_to  # noqa: E402


def test_rotation_trick_value_and_gradient() -> None:
    torch.manual_seed(0)
    vectors = torch.randn(5, 8, requires_grad=True)
    targets = torch.randn(5, 8)
    rotated = rotate_to(vectors, targets)
    assert torch.allclose(rotated, targets, atol=1e-5)
    rotated.sum().backward()
    assert vectors.grad is not None and vectors.grad.abs().sum() > 0
    # Unlike the straight-through estimator, the gradient is not the identity.
    assert not torch.allclose(vectors.grad, torch.ones_like(vectors.grad))


def test_residual_levels_reduce_error() -> None:
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(dim=8, codebook_size=32, levels=2)
    quantizer.train()
    data = torch.randn(4, 64, 8)
    for _ in range(30):
        quantizer(data)
    quantizer.eval()
    codes, quantized = quantizer.encode(data)
    first_only = torch.nn.functional.embedding(codes[..., 0], quantizer.codebook(0).embedding)
    assert ((data - quantized) ** 2).mean() < ((data - first_only) ** 2).mean()
    assert torch.allclose(quantizer.lookup(codes), quantized, atol=1e-5)
    output = quantizer(data)
    assert torch.equal(output.codes, codes)
    assert output.perplexity.shape == (2,)


def test_ema_moves_codes_towards_data() -> None:
    torch.manual_seed(0)
    codebook = EmaCodebook(size=4, dim=2, decay=0.5, dead_code_threshold=0.0, kmeans_init=False)
    data = torch.tensor([[5.0, 5.0]]).repeat(16, 1)
    codes = codebook.distances(data).argmin(1)
    before = codebook.embedding[codes[0]].clone()
    for _ in range(10):
        codebook.ema_update(data, codes)
    assert (codebook.embedding[codes[0]] - data[0]).norm() < (before - data[0]).norm() * 0.1


def test_dead_codes_are_restarted_on_live_vectors() -> None:
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(dim=4, codebook_size=16, levels=1, decay=0.5, dead_code_threshold=0.05)
    quantizer.train()
    # Every vector sits near one point far from all codes: without restarts one code
    # would take everything and the others would stay dead.
    data = 10.0 + 0.5 * torch.randn(2, 32, 4)
    for _ in range(20):
        quantizer(data)
    codebook = quantizer.codebook(0)
    assert int(codebook.restarts) > 0
    assert (codebook.embedding - 10.0).abs().max() < 3.0  # all codes moved into the data
    codes, _ = quantizer.encode(data)
    assert codes.unique().numel() > 4


def test_kmeans_init_spreads_codes() -> None:
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(dim=2, codebook_size=4, levels=1, kmeans_init=True, dead_code_threshold=0.0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    data = (centres.repeat(64, 1) + 0.1 * torch.randn(256, 2)).unsqueeze(0)
    quantizer.train()
    quantizer(data)
    assert int(quantizer.codebook(0).initialised) == 1
    codes, _ = quantizer.encode(data)
    assert codes.unique().numel() >= 3


def test_shared_codebook_trains() -> None:
    torch.manual_seed(0)
    quantizer = ResidualQuantizer(dim=8, codebook_size=16, levels=2, shared_codebook=True)
    quantizer.train()
    latents = torch.randn(2, 10, 8, requires_grad=True)
    output = quantizer(latents)
    (output.quantized.sum() + output.commit_loss + output.diversity_loss).backward()
    assert latents.grad is not None and len(quantizer.codebooks) == 1


def test_rarely_used_codes_are_restarted_into_the_data() -> None:
    # Codes far from the data are never chosen; with the fast threshold off (0.0) only the
    # long-run usage share can notice them, and restarts move them onto batch vectors.
    data = 10.0 + 0.3 * torch.randn(1, 256, 4, generator=torch.Generator().manual_seed(0))

    def run(share: float) -> tuple[int, float, int]:
        torch.manual_seed(1)
        quantizer = ResidualQuantizer(dim=4, codebook_size=8, levels=1, dead_code_threshold=0.0, rare_code_share=share)
        codebook = quantizer.codebook(0)
        codebook.embedding[0] = 10.0
        codebook.embedding[1:] -= 50.0  # seven codes the data never reaches
        codebook.embedding_sum.copy_(codebook.embedding)
        quantizer.train()
        for _ in range(200):
            quantizer(data)
        quantizer.eval()
        codes, _ = quantizer.encode(data)
        return int(codes.unique().numel()), float(codebook.embedding.norm(dim=1).max()), int(codebook.restarts)

    used, farthest, restarts = run(0.3)
    assert used >= 6 and 15.0 < farthest < 25.0 and restarts >= 7  # all codes sit in the data (norm ~20)
    used, farthest, restarts = run(0.0)
    assert used <= 2 and restarts == 0
