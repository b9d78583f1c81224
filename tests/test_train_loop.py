"""The training loop: learning happens, checkpoints are complete, resume is exact."""

from __future__ import annotations

import csv

import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.errors import ConfigError, UnreadableFileError  # noqa: E402
from heartcare.train.checkpoint import load_checkpoint  # noqa: E402
from heartcare.train.config import StageConfig  # noqa: E402
from heartcare.train.loop import train  # noqa: E402
from heartcare.train.schedule import cosine_with_warmup  # noqa: E402


def _data(count: int = 24) -> dict:
    config = preset("tiny")
    generator = torch.Generator().manual_seed(1)
    time = torch.arange(config.context + config.horizon) / config.fs
    phase = torch.rand(count, 12, 1, generator=generator) * 6.28
    signal = torch.sin(2 * torch.pi * 1.2 * time + phase) + 0.05 * torch.randn(count, 12, time.numel(), generator=generator)
    return {"signal": signal.float(), "lead_mask": torch.ones(count, 12, dtype=torch.bool)}


def _model():
    torch.manual_seed(0)
    return build_beat(preset("tiny").with_changes(dropout=0.1))


def _stage(**changes) -> StageConfig:
    values = {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 2, "progress": False, "log_every_steps": 1}
    return StageConfig(**{**values, **changes})


def test_schedule_warms_up_then_decays() -> None:
    values = [cosine_with_warmup(step, 10, 2) for step in range(10)]
    assert values[0] == 0.5 and values[1] == 1.0
    assert all(a >= b for a, b in zip(values[1:], values[2:], strict=False))
    assert values[-1] < 0.05


def test_stage_config_validation() -> None:
    with pytest.raises(ConfigError):
        StageConfig(batch_size=0)
    assert StageConfig.from_dict(StageConfig().to_dict()) == StageConfig()


def test_training_reduces_loss_and_logs(tmp_path) -> None:
    data = _data()
    model = _model()
    _, before = model({"signal": data["signal"][:8]})
    result = train(model, data, _stage(epochs=6), tmp_path, valid_data=data)
    assert result.steps == 18
    assert result.valid_logs["recon/mse"] < before["recon/mse"]
    rows = list(csv.DictReader((tmp_path / "logs" / "train_log.csv").open()))
    assert len(rows) == 18 and "recon/mse" in rows[0] and "lr" in rows[0]
    assert (tmp_path / "training" / "trainer.json").is_file()


def test_a_fresh_run_into_a_used_folder_starts_its_logs_clean(tmp_path) -> None:
    data = _data()
    for _ in range(2):
        train(_model(), data, _stage(), tmp_path)
    steps = [int(row["step"]) for row in csv.DictReader((tmp_path / "logs" / "train_log.csv").open())]
    assert steps == sorted(set(steps)) and len(steps) == 6


def test_resume_equals_straight_run(tmp_path) -> None:
    data = _data()
    straight = _model()
    train(straight, data, _stage(max_steps=4), tmp_path / "straight")
    interrupted = _model()
    train(interrupted, data, _stage(max_steps=2, checkpoint_every_steps=1), tmp_path / "resumed")
    resumed = _model()  # fresh weights: everything must come from the checkpoint
    result = train(resumed, data, _stage(max_steps=4), tmp_path / "resumed", resume=True)
    assert result.steps == 4
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_resume_across_epoch_boundary(tmp_path) -> None:
    data = _data(20)  # 3 batches per epoch (8, 8, 4)
    straight = _model()
    train(straight, data, _stage(max_steps=5), tmp_path / "a")
    first = _model()
    train(first, data, _stage(max_steps=3), tmp_path / "b")
    second = _model()
    train(second, data, _stage(max_steps=5), tmp_path / "b", resume=True)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_missing_checkpoint_files_raise(tmp_path) -> None:
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters())
    (tmp_path / "training").mkdir()
    with pytest.raises(UnreadableFileError, match="trainer.json"):
        load_checkpoint(tmp_path / "training", model, optimizer)
