"""Beat's defining properties, each checked so that breaking it in one line fails a test:
the prediction head reads unquantised latents, losses follow the lead mask and the
weights, gradients cross the quantiser by the rotation trick, the diversity loss is the
configured entropy term, codebooks move at the configured EMA decay, and codes are
looked up before the EMA update."""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.errors import ConfigError  # noqa: E402
from heartcare.train.config import StageConfig  # noqa: E402
from heartcare.train.loop import train  # noqa: E402


def _tiny(**changes):
    torch.manual_seed(0)
    return build_beat(preset("tiny").with_changes(**changes))


def _batch(config, batch: int = 4, seed: int = 1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"signal": torch.randn(batch, 12, config.context + config.horizon, generator=generator)}


def test_prediction_reads_the_unquantised_latents() -> None:
    """Other codebooks change the reconstruction but not the forecast."""
    model = _tiny(prediction_prior="periodic").eval()  # eval: no EMA between the calls
    batch = _batch(model.config)
    before = model.loss_terms(batch)
    with torch.no_grad():
        for codebook in model.quantizer.codebooks:
            codebook.embedding.mul_(-2.0).add_(0.5)
    after = model.loss_terms(batch)
    assert not torch.allclose(after["recon/mse"], before["recon/mse"])
    assert torch.equal(after["pred/mse"], before["pred/mse"])


def test_losses_average_over_present_leads_and_real_samples() -> None:
    model = _tiny().eval()
    config = model.config
    batch = _batch(config)
    mask = torch.ones(4, 12, dtype=torch.bool)
    mask[0, 3], mask[2, 7:] = False, False
    padding = torch.tensor([0, 30, 0, 99])
    terms = model.loss_terms({**batch, "lead_mask": mask, "padding": padding})
    lead = mask[:, :, None].float()
    signal = batch["signal"] * lead
    context, future = signal[:, :, : config.context], signal[:, :, config.context :]
    with torch.no_grad():
        latents = model.encoder(context)
        reconstruction = model.decoder(model.quantizer(latents).quantized)
        prediction = model.forecast(context, latents)
    real = (torch.arange(config.context)[None, None, :] >= padding[:, None, None]).float()
    weights = lead * real
    expected_recon = ((reconstruction - context) ** 2 * weights).sum() / weights.sum()
    expected_pred = ((prediction - future) ** 2 * lead).sum() / (lead.sum() * config.horizon)
    assert torch.allclose(terms["recon/mse"], expected_recon, rtol=1e-5)
    assert torch.allclose(terms["pred/mse"], expected_pred, rtol=1e-5)
    # A masked lead's (or padding's) error would change these: the reconstruction of a
    # zeroed lead is not zero, so counting it gives another value.
    assert not torch.allclose(((reconstruction - context) ** 2).mean(), expected_recon, rtol=1e-3)
    assert not torch.allclose(((prediction - future) ** 2).mean(), expected_pred, rtol=1e-3)


def test_loss_is_the_configured_weighted_sum() -> None:
    model = _tiny(loss_weights={"recon": 2.0, "pred": 3.0, "vq": 5.0}).eval()
    terms = model.loss_terms(_batch(model.config))
    vq = terms["vq/commit"] + terms["vq/diversity"]
    assert float(terms["vq/diversity"].detach()) > 0 and float(terms["vq/commit"].detach()) > 0
    expected = 2.0 * terms["recon/mse"] + 3.0 * terms["pred/mse"] + 5.0 * vq
    assert torch.allclose(terms["loss"], expected, rtol=1e-6)
    loss, logs = model(_batch(model.config))
    loss, expected = float(loss.detach()), float(expected.detach())
    assert math.isclose(logs["loss"], loss) and math.isclose(loss, expected, rel_tol=1e-6)


def _rotation_gradient(vectors: torch.Tensor, targets: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """d<upstream, R s e>/de written out: s R^T g with R = I - 2 r r^T + 2 q_hat e_hat^T,
    s = |q| / |e|, r = normalise(e_hat + q_hat) (Fifty et al. 2024, eq. 4)."""
    e_hat = vectors / vectors.norm(dim=1, keepdim=True)
    q_hat = targets / targets.norm(dim=1, keepdim=True)
    r = torch.nn.functional.normalize(e_hat + q_hat, dim=1)
    eye = torch.eye(vectors.shape[1])
    rotation = eye - 2 * r[:, :, None] * r[:, None, :] + 2 * q_hat[:, :, None] * e_hat[:, None, :]  # (M, D, D)
    scale = targets.norm(dim=1, keepdim=True) / vectors.norm(dim=1, keepdim=True)
    return scale * torch.einsum("mij,mi->mj", rotation, upstream)


@pytest.mark.parametrize("rotation_trick", [True, False])
def test_gradient_through_the_quantiser_is_the_rotation_trick(rotation_trick: bool) -> None:
    model = _tiny(levels=1, rotation_trick=rotation_trick)
    quantizer = model.quantizer.train()
    codebook = quantizer.codebook(0).embedding.clone()  # codes are looked up here (before the EMA step)
    latents = torch.randn(2, 6, model.config.dim, generator=torch.Generator().manual_seed(2), requires_grad=True)
    upstream = torch.randn(2, 6, model.config.dim, generator=torch.Generator().manual_seed(3))
    output = quantizer(latents)
    (output.quantized * upstream).sum().backward()
    flat, gradient = latents.detach().reshape(-1, model.config.dim), upstream.reshape(-1, model.config.dim)
    targets = codebook[output.codes.reshape(-1)]
    assert torch.allclose(output.quantized.detach().reshape(-1, model.config.dim), targets, atol=1e-5)
    if rotation_trick:
        expected = _rotation_gradient(flat, targets, gradient)
        assert not torch.allclose(expected, gradient, atol=1e-3)  # the test tells the two apart
    else:  # straight-through: the identity
        expected = gradient
    assert torch.allclose(latents.grad.reshape(-1, model.config.dim), expected, atol=1e-4)


@pytest.mark.parametrize("weight", [0.3, 0.6])
def test_diversity_loss_is_the_weighted_entropy_gap(weight: float) -> None:
    """diversity x (1 - H(mean soft assignment) / log K), per level, with gradient to the latents."""
    model = _tiny(levels=1, diversity=weight)
    quantizer = model.quantizer.eval()
    codes = quantizer.codebook(0).embedding
    # Latents bunched around one code: a narrow code distribution, far from uniform.
    noise = torch.randn(3, 5, model.config.dim, generator=torch.Generator().manual_seed(4))
    latents = (3 * codes[0] + 0.05 * noise).requires_grad_()
    output = quantizer(latents)
    flat = latents.reshape(-1, model.config.dim)
    probabilities = torch.softmax(-torch.cdist(flat, codes) ** 2, dim=1).mean(0)
    entropy = -(probabilities * probabilities.log()).sum()
    expected = weight * (1 - entropy / math.log(model.config.codebook_size))
    assert float(output.diversity_loss.detach()) > 0.1 * weight
    assert torch.allclose(output.diversity_loss, expected, atol=1e-5)
    output.diversity_loss.backward()
    assert latents.grad.abs().sum() > 0


@pytest.mark.parametrize("decay", [0.5, 0.9])
def test_codebooks_move_at_the_configured_ema_decay(decay: float) -> None:
    model = _tiny(levels=1, ema_decay=decay, dead_code_threshold=0.0)
    quantizer = model.quantizer.train()
    book = quantizer.codebook(0)
    size_before, sum_before = book.cluster_size.clone(), book.embedding_sum.clone()
    latents = torch.randn(2, 8, model.config.dim, generator=torch.Generator().manual_seed(5))
    codes = quantizer(latents).codes.reshape(-1)
    flat = latents.reshape(-1, model.config.dim)
    one_hot = torch.nn.functional.one_hot(codes, model.config.codebook_size).float()
    assert torch.allclose(book.cluster_size, decay * size_before + (1 - decay) * one_hot.sum(0), atol=1e-6)
    assert torch.allclose(book.embedding_sum, decay * sum_before + (1 - decay) * one_hot.t() @ flat, atol=1e-5)
    total = book.cluster_size.sum()
    smoothed = (book.cluster_size + 1e-5) / (total + model.config.codebook_size * 1e-5) * total
    assert torch.allclose(book.embedding, book.embedding_sum / smoothed[:, None], atol=1e-5)


def test_codes_are_looked_up_before_the_ema_update() -> None:
    """A training step quantises with the codebook inference would search (the usual
    order), then moves it: its codes and values equal `encode` on the codebook as it was."""
    model = _tiny(ema_decay=0.5, dead_code_threshold=0.0)
    quantizer = model.quantizer.train()
    before = copy.deepcopy(quantizer).eval()
    latents = torch.randn(2, 10, model.config.dim, generator=torch.Generator().manual_seed(6))
    output = quantizer(latents)
    codes, quantized = before.encode(latents)
    assert not torch.allclose(quantizer.codebook(0).embedding, before.codebook(0).embedding)  # it did move
    assert torch.equal(output.codes, codes)
    assert torch.allclose(output.quantized, quantized, atol=1e-5)


def test_training_refuses_to_resume_another_stage(tmp_path) -> None:
    """Beat trains through heartcare.train's loop, which refuses a resume with another stage."""
    model = _tiny()
    data = _batch(model.config, batch=8)
    stage = StageConfig(epochs=1, batch_size=4, learning_rate=1e-3, warmup_steps=1, progress=False)
    train(model, data, stage, tmp_path)
    other = StageConfig.from_dict({**stage.to_dict(), "learning_rate": 2e-3, "epochs": 2})
    with pytest.raises(ConfigError, match="another stage"):
        train(_tiny(), data, other, tmp_path, resume=True)
    train(_tiny(), data, StageConfig.from_dict({**stage.to_dict(), "epochs": 2}), tmp_path, resume=True)  # same stage: fine
