"""Beat model: shapes, segmentation, masks, determinism, checkpoints, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import BeatConfig, preset  # noqa: E402
from heartcare.beat.continuation import periodic_continuation  # noqa: E402
from heartcare.beat.model import Beat, build_beat, segment_windows  # noqa: E402
from heartcare.errors import ConfigError, InvalidSignalError, UnreadableFileError  # noqa: E402


@pytest.fixture()
def tiny() -> Beat:
    torch.manual_seed(0)
    return build_beat(preset("tiny")).eval()


def test_config_defaults_match_paper() -> None:
    config = preset("paper")
    assert (config.context, config.horizon, config.patch, config.dim, config.queries) == (1000, 500, 25, 128, 20)
    assert (config.codebook_size, config.levels, config.ema_decay) == (512, 2, 0.8)
    assert config.loss_weights == {"recon": 1.0, "pred": 0.5, "vq": 0.25}
    assert config.bits_per_window == 20 * 2 * 9
    assert BeatConfig.from_dict(json.loads(config.to_json())) == config
    assert config.with_changes(context=1500).queries == 30


@pytest.mark.parametrize("changes", [{"context": 1010}, {"dim": 0}, {"ema_decay": 1.0}, {"loss_weights": {"bogus": 1.0}}])
def test_config_rejects_bad_values(changes: dict) -> None:
    with pytest.raises(ConfigError):
        BeatConfig(**changes)


def test_encode_decode_shapes(tiny: Beat) -> None:
    config = tiny.config
    x = torch.randn(3, 12, config.context)
    codes = tiny.encode(x)
    assert codes.codes.shape == (3, config.queries, config.levels)
    assert codes.latents.shape == (3, config.queries, config.dim)
    assert codes.codes.dtype == torch.long and int(codes.codes.max()) < config.codebook_size
    assert tiny.decode(codes).shape == (3, 12, config.context)
    assert tiny.decode(codes.codes).shape == (3, 12, config.context)
    assert tiny.predict(x).shape == (3, 12, config.horizon)


def test_any_length_is_segmented_right_to_left(tiny: Beat) -> None:
    context = tiny.config.context
    x = torch.randn(2, 12, 2 * context + 30)
    codes = tiny.encode(x)
    assert codes.windows == 3 and codes.padding == context - 30
    assert tiny.decode(codes).shape == (2, 12, 2 * context + 30)
    # The newest window is a whole, unpadded window: its codes equal encoding it alone.
    last = tiny.encode(x[:, :, -context:])
    assert torch.equal(codes.codes[:, -tiny.config.queries :], last.codes)
    pieces, count, padding = segment_windows(torch.arange(7.0).reshape(1, 1, 7), 3)
    assert count == 3 and padding == 2
    assert pieces[:, 0].tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]


def test_fewer_leads_are_zero_padded_and_masked(tiny: Beat) -> None:
    x = torch.randn(12, tiny.config.context)
    eight = tiny.encode(x[:8])
    zeroed = x.clone()
    zeroed[8:] = 0
    assert torch.equal(eight.codes, tiny.encode(zeroed).codes)
    mask = torch.ones(12, dtype=torch.bool)
    mask[3] = False
    noisy = x.clone()
    noisy[3] = 100.0  # a masked lead must not influence the tokens
    assert torch.equal(tiny.encode(noisy, mask).codes, tiny.encode(x, mask).codes)


def test_forward_loss_ignores_masked_leads() -> None:
    torch.manual_seed(0)
    model = build_beat(preset("tiny")).eval()  # eval: no EMA updates between the two calls
    config = model.config
    signal = torch.randn(4, 12, config.context + config.horizon)
    mask = torch.ones(4, 12, dtype=torch.bool)
    mask[:, 5] = False
    loss, logs = model({"signal": signal, "lead_mask": mask})
    changed = signal.clone()
    changed[:, 5] = 50.0
    loss2, _ = model({"signal": changed, "lead_mask": mask})
    assert torch.allclose(loss, loss2)
    assert {"recon/mse", "pred/mse", "vq/commit", "vq/diversity", "loss"} <= set(logs)


def test_encode_is_deterministic(tiny: Beat) -> None:
    x = torch.randn(2, 12, tiny.config.context)
    assert torch.equal(tiny.encode(x).codes, tiny.encode(x).codes)
    torch.manual_seed(0)
    again = build_beat(preset("tiny")).eval()
    assert torch.equal(again.encode(x).codes, tiny.encode(x).codes)


def test_save_load_roundtrip(tiny: Beat, tmp_path) -> None:
    x = torch.randn(2, 12, tiny.config.context)
    tiny.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = Beat.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == tiny.config
    for name, tensor in tiny.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert torch.equal(loaded.encode(x).codes, tiny.encode(x).codes)
    assert torch.equal(loaded.predict(x), tiny.predict(x))


def test_periodic_prior_is_added_to_the_head_and_saved(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_beat(preset("tiny").with_changes(prediction_prior="periodic")).eval()
    config = model.config
    time = torch.arange(config.context) / config.fs
    x = torch.exp(-(((time % 0.32) - 0.16) ** 2) / 2e-4).expand(2, 12, -1).contiguous()  # 80 samples per beat
    prior = periodic_continuation(x, config.horizon, config.fs)
    head_only = model.prediction_head(model.encoder(x), prior)
    with torch.no_grad():
        model.prior_gain.fill_(0.7)
    forecast = model.predict(x)
    assert torch.allclose(forecast - head_only, 0.7 * prior, atol=1e-6)
    # The head reads the prior: a different prior changes its output.
    assert not torch.allclose(model.prediction_head(model.encoder(x), prior.roll(40, dims=2)), head_only)
    with pytest.raises(ValueError, match="prior"):
        model.prediction_head(model.encoder(x))
    # Training reaches the gain; checkpoints keep it and reload with the prior switched on.
    batch = {"signal": torch.randn(4, 12, config.context + config.horizon)}
    model.train()(batch)[0].backward()
    assert model.prior_gain.grad is not None and model.prior_gain.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "ckpt")
    loaded = Beat.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.config.prediction_prior == "periodic"
    assert torch.equal(loaded.predict(x), model.eval().predict(x))
    # A checkpoint written before the field existed loads as the head alone (as it was trained).
    values = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    values.pop("prediction_prior")
    assert BeatConfig.from_dict(values).prediction_prior == "none"
    assert build_beat(preset("tiny")).prior_gain is None
    with pytest.raises(ConfigError, match="prediction_prior"):
        preset("tiny").with_changes(prediction_prior="linear")
    with pytest.raises(ConfigError, match="too short"):  # 75 samples at 250 Hz hold no 0.3-s period
        preset("tiny").with_changes(context=75, queries=3, prediction_prior="periodic")


def test_shared_codebook_option() -> None:
    model = build_beat(preset("tiny").with_changes(shared_codebook=True))
    assert len(model.quantizer.codebooks) == 1
    assert len(build_beat(preset("tiny")).quantizer.codebooks) == 2


def test_bad_input_errors(tiny: Beat, tmp_path) -> None:
    with pytest.raises(InvalidSignalError, match="leads"):
        tiny.encode(torch.randn(2, 13, 100))
    with pytest.raises(InvalidSignalError, match="NaN"):
        tiny.encode(torch.full((12, 100), float("nan")))
    with pytest.raises(InvalidSignalError, match="codes"):
        tiny.decode(torch.full((1, tiny.config.queries, 2), tiny.config.codebook_size))
    with pytest.raises(UnreadableFileError, match="config.json"):
        Beat.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(preset("tiny").to_json())
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(UnreadableFileError, match="safetensors"):
        Beat.from_pretrained(tmp_path)


def test_checkpoint_that_does_not_match_its_config_is_named(tiny: Beat, tmp_path) -> None:
    import json

    tiny.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "dim": 2 * config["dim"]}))
    with pytest.raises(UnreadableFileError, match=r"model\.safetensors: weights do not match config\.json.*other shapes"):
        Beat.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "from_the_future": 1}))
    with pytest.raises(UnreadableFileError, match=r"config\.json: unknown field"):
        Beat.from_pretrained(tmp_path)


def test_numpy_input_accepted(tiny: Beat) -> None:
    x = np.random.default_rng(0).standard_normal((12, tiny.config.context)).astype(np.float32)
    assert tiny.encode(x).codes.shape == (1, tiny.config.queries, 2)


def test_last_positions_shortcut_equals_full_computation() -> None:
    from heartcare.beat.transformer import Transformer

    torch.manual_seed(0)
    transformer = Transformer(dim=16, depth=2, heads=2, head_dim=8, mlp_ratio=2).eval()
    x = torch.randn(3, 10, 16)
    full = transformer(x.clone())[:, -4:]
    with torch.inference_mode():
        assert torch.allclose(transformer(x.clone(), last=4), full, atol=1e-5)
    assert torch.allclose(transformer(x.clone(), last=4), full, atol=1e-5)


def test_bfloat16_encode_keeps_shapes_and_mostly_codes(tiny: Beat) -> None:
    x = torch.randn(4, 12, tiny.config.context)
    reference = tiny.encode(x)
    fast = tiny.encode(x, bfloat16=True)
    assert fast.codes.shape == reference.codes.shape and fast.latents.dtype == torch.float32
    assert (fast.codes == reference.codes).float().mean() > 0.5


def test_window_parallel_encode_equals_one_thread(tiny: Beat) -> None:
    """Many windows with 2 torch threads run in chunks on pool threads: same latents and
    codes as one thread, windows kept in order, and the thread setting restored."""
    x = torch.randn(3, 12, tiny.config.context * 50)  # 150 windows: several chunks per thread
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        reference = tiny.encode(x)
        torch.set_num_threads(2)
        parallel = tiny.encode(x)
        assert torch.get_num_threads() == 2
        with torch.inference_mode():
            direct = tiny.encoder(segment_windows(x, tiny.config.context)[0])
    finally:
        torch.set_num_threads(threads)
    assert torch.allclose(parallel.latents, reference.latents, atol=1e-5)
    assert torch.equal(parallel.codes, reference.codes)
    assert torch.allclose(reference.latents.reshape(direct.shape[0], -1, direct.shape[-1]),
                          tiny.quantizer.encode(direct)[1], atol=1e-5)


def test_window_parallel_predict_and_decode_equal_one_thread(tiny: Beat) -> None:
    """Forecasts of many records and the decoding of many windows also run in chunks on
    pool threads: the same as one thread, in order."""
    x = torch.randn(70, 12, tiny.config.context)
    codes = tiny.encode(x.reshape(1, 70, 12, -1).permute(0, 2, 1, 3).reshape(1, 12, -1)).codes
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        forecast, decoded = tiny.predict(x), tiny.decode(codes)
        torch.set_num_threads(2)
        assert torch.allclose(tiny.predict(x), forecast, atol=1e-5)
        assert torch.allclose(tiny.decode(codes), decoded, atol=1e-5)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_inference_block_equals_autograd_block() -> None:
    """The inference-mode block (in-place adds and GELU, contiguous q/k/v) computes the same."""
    from heartcare.beat.transformer import Transformer

    torch.manual_seed(0)
    transformer = Transformer(dim=16, depth=3, heads=2, head_dim=8, mlp_ratio=4).eval()
    x = torch.randn(5, 12, 16)
    reference = transformer(x.clone())
    with torch.inference_mode():
        assert torch.allclose(transformer(x.clone()), reference, atol=1e-5)
