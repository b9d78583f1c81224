"""Projector calibration: inputs standardised, ECG tokens at the backbone's text-embedding scale,
record-to-record differences no longer drowned by the features' common mean, kept in checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def offset_features(rows: int, width: int, seed: int = 0) -> torch.Tensor:
    """Features like the cached ones: a large shared mean, a small per-record part."""
    generator = torch.Generator().manual_seed(seed)
    common = 5.0 + 3.0 * torch.rand(width, generator=generator)
    return common + 0.2 * torch.randn(rows, width, generator=generator)


def relative_spread(tokens: torch.Tensor) -> float:
    """How far tokens sit from their mean token, relative to their size (0 = all the same)."""
    return float((tokens - tokens.mean(dim=0)).norm(dim=-1).mean() / tokens.norm(dim=-1).mean())


@pytest.mark.parametrize("kind", ["signal", "image"])
def test_calibrated_tokens_have_the_target_norm_and_standardised_inputs(kind):
    from heartcare.model.projectors import ImageProjector, SignalProjector

    torch.manual_seed(0)
    projector = SignalProjector(24, 48) if kind == "signal" else ImageProjector(40, 48, tokens=2)
    features = offset_features(300, 24 if kind == "signal" else 40)
    projector.calibrate(features, target_norm=3.2)
    standardised = projector.standardise(features)
    assert standardised.mean(dim=0).abs().max() < 1e-4
    assert torch.allclose(standardised.std(dim=0), torch.ones(features.shape[1]), atol=1e-4)
    with torch.no_grad():
        norms = projector(features).norm(dim=-1)
    assert norms.mean().item() == pytest.approx(3.2, rel=0.02)


@pytest.mark.parametrize("kind", ["signal", "image"])
def test_calibration_lets_record_differences_through(kind):
    """Uncalibrated, tokens of different records are nearly one token; calibrated, they differ."""
    from heartcare.model.projectors import ImageProjector, SignalProjector

    width = 24 if kind == "signal" else 40
    features = offset_features(200, width, seed=1)
    torch.manual_seed(0)
    plain = SignalProjector(width, 48) if kind == "signal" else ImageProjector(width, 48, tokens=1)
    torch.manual_seed(0)
    calibrated = SignalProjector(width, 48) if kind == "signal" else ImageProjector(width, 48, tokens=1)
    calibrated.calibrate(features, target_norm=3.2)
    with torch.no_grad():
        before, after = relative_spread(plain(features)), relative_spread(calibrated(features))
    assert before < 0.3 and after > 0.6, (before, after)


def test_a_constant_input_dimension_is_left_unscaled():
    from heartcare.model.projectors import SignalProjector

    features = offset_features(50, 8)
    features[:, 3] = 7.0
    projector = SignalProjector(8, 16)
    projector.calibrate(features, target_norm=1.0)
    assert projector.input_scale[3] == 1.0 and torch.isfinite(projector(features)).all()
    with pytest.raises(ValueError, match="at least 2"):
        projector.calibrate(features[:1], target_norm=1.0)


def test_signal_projector_gain_is_target_over_root_hidden():
    from heartcare.model.projectors import SignalProjector

    projector = SignalProjector(8, 64)
    projector.calibrate(offset_features(20, 8), target_norm=4.0)
    assert torch.allclose(projector.norm.weight, torch.full((64,), 4.0 / math.sqrt(64)))


def test_training_from_scratch_calibrates_and_the_checkpoint_keeps_it(built_dataset, tmp_path):
    """train_gpt fits the projectors to the backbone's text-row norm before step 1; the statistics are saved
    and loaded with the checkpoint; calibrate=False keeps identity statistics."""
    pytest.importorskip("peft")
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.model.backbone import tiny_causal_lm
    from heartcare.model.calibration import text_embedding_norm
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.feature_cache import build_feature_cache
    from heartcare.train.gpt_run import train_gpt

    torch.manual_seed(0)
    beat = build_beat(BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                                 mlp_ratio=2, codebook_size=16)).save_pretrained(tmp_path / "beat")
    features = build_feature_cache(built_dataset, str(beat), "tiny", out=tmp_path / "features", shard_size=8, progress=False)
    changes = {"backbone": str(tiny_causal_lm(tmp_path / "lm")), "signal_dim": 32}
    runs = {}
    for calibrate in (True, False):
        out = tmp_path / f"warmup-{calibrate}"
        train_gpt(built_dataset, features, "warmup", "tiny", out, model_changes=changes, stage_changes={"max_steps": 1},
                  progress=False, calibrate=calibrate)
        runs[calibrate] = out
    calibrated, plain = (from_pretrained(runs[flag], load_encoders=False) for flag in (True, False))
    report = json.loads((runs[True] / "config.json").read_text())["calibration"]
    assert report["text_embedding_norm"] == pytest.approx(text_embedding_norm(calibrated), rel=1e-3)
    assert {"signal_projector", "image_projector"} <= set(report)
    for name in ("signal_projector", "image_projector"):
        assert not torch.equal(getattr(calibrated, name).input_mean, torch.zeros_like(getattr(calibrated, name).input_mean))
        assert torch.equal(getattr(plain, name).input_mean, torch.zeros_like(getattr(plain, name).input_mean))
        assert torch.equal(getattr(plain, name).input_scale, torch.ones_like(getattr(plain, name).input_scale))
    assert "calibration" not in json.loads((runs[False] / "config.json").read_text())


def test_a_checkpoint_from_before_standardisation_loads_with_identity_statistics(tiny_gpt_checkpoint, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from heartcare.model.checkpoint import FILES, from_pretrained

    old = tmp_path / "old"
    shutil.copytree(tiny_gpt_checkpoint, old)
    path = old / FILES["projectors"]
    tensors = {name: tensor for name, tensor in load_file(str(path)).items() if not name.endswith(("input_mean", "input_scale"))}
    save_file(tensors, str(path))
    model = from_pretrained(old, load_encoders=False)
    assert torch.equal(model.signal_projector.input_scale, torch.ones_like(model.signal_projector.input_scale))
    assert torch.equal(model.image_projector.input_mean, torch.zeros_like(model.image_projector.input_mean))
    tensors.pop(next(name for name in tensors if name.endswith("linear.weight")))
    save_file(tensors, str(path))
    with pytest.raises(Exception, match="do not fit"):
        from_pretrained(old, load_encoders=False)


def test_calibrated_statistics_survive_save_and_load(tiny_gpt_checkpoint, tmp_path):
    from heartcare.model.checkpoint import from_pretrained, save_pretrained

    model = from_pretrained(tiny_gpt_checkpoint, load_encoders=False)
    width = model.signal_projector.input_mean.numel()
    model.signal_projector.calibrate(offset_features(40, width), target_norm=2.0)
    saved = save_pretrained(model, Path(tmp_path) / "saved")
    loaded = from_pretrained(saved, load_encoders=False)
    probe = offset_features(5, width, seed=3)
    with torch.no_grad():
        assert torch.equal(loaded.signal_projector(probe), model.signal_projector(probe))


def test_a_rarely_active_dimension_is_not_blown_up():
    """An encoder channel that is almost always 0 keeps a bounded scale, so its rare firing is no outlier token."""
    from heartcare.model.projectors import SPREAD_FLOOR_OF_MEDIAN, ImageProjector

    features = offset_features(400, 16, seed=2)
    features[:, 5] = 0.0
    features[7, 5] = 0.01  # fires once, faintly: its spread is ~5e-4 against ~0.2 elsewhere
    projector = ImageProjector(16, 32, tokens=1)
    projector.calibrate(features, target_norm=1.0)
    median_spread = float(features.std(dim=0).median())
    assert projector.input_scale[5] == pytest.approx(1 / (SPREAD_FLOOR_OF_MEDIAN * median_spread), rel=1e-4)
    assert projector.standardise(features)[7, 5].abs() < 1.0


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-calibration"], False)])
def test_the_train_command_passes_the_calibration_choice(monkeypatch, tmp_path, flag, expected):
    from types import SimpleNamespace

    import heartcare.train.gpt_run as gpt_run
    from heartcare.cli import main

    seen = {}

    def fake_train_gpt(*args, **kwargs):
        seen.update(kwargs)
        result = SimpleNamespace(train_logs={"loss": 1.0}, valid_logs={}, steps=1, seconds=0.1)
        return SimpleNamespace(out=tmp_path, train_items=1, result=result)

    monkeypatch.setattr(gpt_run, "train_gpt", fake_train_gpt)
    assert main(["gpt", "train", "--data", str(tmp_path), "--features", str(tmp_path), "--stage", "warmup",
                 "--out", str(tmp_path / "out"), *flag]) == 0
    assert seen["calibrate"] is expected
