"""The training loop: learning happens, checkpoints are complete, resume is exact."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.errors import ConfigError, UnreadableFileError  # noqa: E402
from heartcare.train.checkpoint import load_checkpoint  # noqa: E402
from heartcare.train.config import StageConfig  # noqa: E402
from heartcare.train.loop import evaluate_logs, train  # noqa: E402
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


# ---- the accelerate loop: accumulation, Datasets, parts, exact resume -------------------

import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402

import numpy as np  # noqa: E402
from torch import nn  # noqa: E402

from heartcare.train.schedule import linear_with_warmup  # noqa: E402


class Regressor(nn.Module):
    """A small model drawing on every RNG the loop checkpoints (torch dropout, numpy, random)."""

    def __init__(self, dropout: float = 0.2, noise: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(dropout))
        self.head = nn.Linear(16, 1)
        self.noise = noise
        self.calls = 0  # training forward calls
        self.fail_at: int | None = None  # raise on this training call (1-based) to simulate a crash

    def forward(self, batch: dict):
        self.calls += self.training
        if self.training and self.calls == self.fail_at:
            raise RuntimeError("interrupted")
        x = batch["x"]  # [B, 4] (or [B, T, 4] padded with batch["mask"] [B, T])
        if x.ndim == 3:
            x = (x * batch["mask"][..., None]).sum(1) / batch["mask"].sum(1, keepdim=True)
        prediction = self.head(self.encoder(x)).squeeze(-1)  # [B]
        target = batch["y"]
        if self.noise and self.training:  # label noise from numpy and random, so their RNG matters too
            jitter = torch.from_numpy(np.random.standard_normal(len(target))).float() * 0.01
            target = target + jitter + 0.01 * random.random()
        loss = ((prediction - target) ** 2).mean()
        return loss, {"loss": float(loss.detach())}


def _regression(count: int = 20) -> dict:
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(count, 4, generator=generator)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1}


class Sequences(torch.utils.data.Dataset):
    """Variable-length items, as an LLM dataset yields them."""

    def __init__(self, count: int = 14) -> None:
        generator = torch.Generator().manual_seed(4)
        self.items = []
        for index in range(count):
            x = torch.randn(2 + index % 5, 4, generator=generator)
            self.items.append({"x": x, "y": x.mean(0).sum()})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def pad_collate(items: list[dict]) -> dict:
    """Right-pad to the longest item: {"x": [B, T, 4], "mask": [B, T], "y": [B]}."""
    length = max(len(item["x"]) for item in items)
    x = torch.zeros(len(items), length, 4)
    mask = torch.zeros(len(items), length)
    for row, item in enumerate(items):
        x[row, : len(item["x"])] = item["x"]
        mask[row, : len(item["x"])] = 1
    return {"x": x, "mask": mask, "y": torch.stack([item["y"] for item in items])}


def _regressor(**kwargs) -> Regressor:
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    return Regressor(**kwargs)


def _small_stage(**changes) -> StageConfig:
    values = {"name": "regression", "epochs": 3, "batch_size": 4, "learning_rate": 1e-2, "warmup_steps": 2,
              "progress": False, "log_every_steps": 1}
    return StageConfig(**{**values, **changes})


def _assert_same(first: nn.Module, second: nn.Module, exact: bool = True) -> None:
    for name, tensor in first.state_dict().items():
        other = second.state_dict()[name]
        assert torch.equal(tensor, other) if exact else torch.allclose(tensor, other, atol=1e-6, rtol=0), name


def _interrupted_then_resumed(tmp_path, data, stage: StageConfig, fail_at: int, **kwargs) -> Regressor:
    crashed = _regressor()
    crashed.fail_at = fail_at
    with pytest.raises(RuntimeError, match="interrupted"):
        train(crashed, data, stage, tmp_path, **kwargs)
    saved = json.loads((tmp_path / "training" / "trainer.json").read_text())
    assert saved["step"] > stage.warmup_steps and saved["batch"] > 0  # past warm-up, mid-epoch
    np.random.seed(99)  # the process that resumes starts with other random states
    random.seed(99)
    torch.manual_seed(99)
    resumed = Regressor()
    train(resumed, data, stage, tmp_path, resume=True, **kwargs)
    return resumed


def test_resume_mid_epoch_with_accumulation_equals_straight_run(tmp_path) -> None:
    data = _regression(20)  # 5 micro-batches of 4 per epoch: optimiser steps of 2, 2 and 1 micro-batches
    stage = _small_stage(gradient_accumulation_steps=2, checkpoint_every_steps=1)
    straight = _regressor()
    result = train(straight, data, stage, tmp_path / "straight", valid_data=data)
    assert result.steps == 9
    # call 14 is the 4th micro-batch of epoch 3: the 3rd, the first half of its step, is lost with the crash
    resumed = _interrupted_then_resumed(tmp_path / "resumed", data, stage, fail_at=14, valid_data=data)
    _assert_same(straight, resumed)
    rows = list(csv.DictReader((tmp_path / "resumed" / "logs" / "train_log.csv").open()))
    assert [int(row["step"]) for row in rows] == list(range(1, 10))


def test_resume_with_a_dataset_and_collate_fn_equals_straight_run(tmp_path) -> None:
    data = Sequences(14)  # 4 batches of 4, 4, 4, 2
    stage = _small_stage(checkpoint_every_steps=1, warmup_steps=3)
    straight = _regressor()
    train(straight, data, stage, tmp_path / "straight", valid_data=data, collate_fn=pad_collate)
    resumed = _interrupted_then_resumed(tmp_path / "resumed", data, stage, fail_at=7, valid_data=data,
                                        collate_fn=pad_collate)
    _assert_same(straight, resumed)
    valid = list(csv.DictReader((tmp_path / "resumed" / "logs" / "valid_log.csv").open()))
    assert len(valid) == 3


def test_accumulating_two_batches_of_four_equals_one_batch_of_eight(tmp_path) -> None:
    data = _regression(16)
    accumulated, whole = _regressor(dropout=0.0, noise=False), _regressor(dropout=0.0, noise=False)
    train(accumulated, data, _small_stage(batch_size=4, gradient_accumulation_steps=2, grad_clip=0.5), tmp_path / "a")
    result = train(whole, data, _small_stage(batch_size=8, grad_clip=0.5), tmp_path / "b")
    assert result.steps == 6
    _assert_same(accumulated, whole, exact=False)  # sums in another order: equal up to rounding
    # Adam and clipping hide a gradient's scale from the weights; the logged norm shows it.
    norms = [[float(row["grad_norm"]) for row in csv.DictReader((tmp_path / run / "logs" / "train_log.csv").open())]
             for run in ("a", "b")]
    assert norms[0] == pytest.approx(norms[1], rel=1e-5)


def test_parameters_outside_the_trainable_parts_stay_put(tmp_path) -> None:
    model = _regressor()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    train(model, _regression(), _small_stage(epochs=1, trainable={"head": 5e-3}), tmp_path)
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before if name.startswith("encoder."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    row = next(csv.DictReader((tmp_path / "logs" / "train_log.csv").open()))
    assert float(row["lr/head"]) == pytest.approx(5e-3 / 2)  # first warm-up step
    with pytest.raises(ConfigError, match="not a sub-module"):
        train(_regressor(), _regression(), _small_stage(trainable={"decoder": 1e-3}), tmp_path / "bad")


def test_the_models_own_parameter_groups_set_parts_and_rates(tmp_path) -> None:
    class Grouped(Regressor):
        def parameter_groups(self, stage):
            self.encoder.requires_grad_(False)
            return [{"name": "head", "params": list(self.head.parameters()), "lr": stage.trainable["head"]}]

    torch.manual_seed(0)
    model = Grouped()
    encoder = model.encoder[0].weight.clone()
    train(model, _regression(), _small_stage(epochs=1, warmup_steps=0, trainable={"head": 0.5}), tmp_path)
    assert torch.equal(model.encoder[0].weight, encoder)
    rows = list(csv.DictReader((tmp_path / "logs" / "train_log.csv").open()))
    assert float(rows[0]["lr/head"]) == pytest.approx(0.5) and "lr/all" not in rows[0]


def test_resume_refuses_another_stage_or_preset(tmp_path) -> None:
    data = _regression()
    stage = _small_stage(preset="tiny")
    train(_regressor(), data, stage, tmp_path)
    for other in (StageConfig.from_dict({**stage.to_dict(), "learning_rate": 2e-2}),
                  StageConfig.from_dict({**stage.to_dict(), "preset": "paper"}),
                  StageConfig.from_dict({**stage.to_dict(), "gradient_accumulation_steps": 2})):
        with pytest.raises(ConfigError, match="another stage"):
            train(_regressor(), data, other, tmp_path, resume=True)
    longer = StageConfig.from_dict({**stage.to_dict(), "epochs": 4})  # going on for longer is allowed
    assert train(_regressor(), data, longer, tmp_path, resume=True).steps == 20


def test_checkpoint_layout_is_safetensors_and_json(tmp_path) -> None:
    train(_regressor(), _regression(), _small_stage(epochs=1), tmp_path)
    names = sorted(path.name for path in (tmp_path / "training").iterdir())
    assert names == ["model.safetensors", "optimizer.safetensors", "rng.0.safetensors", "trainer.json"]
    document = json.loads((tmp_path / "training" / "trainer.json").read_text())
    assert document["world_size"] == 1 and document["stage"]["name"] == "regression"


def test_linear_schedule_warms_up_then_falls_to_zero() -> None:
    values = [linear_with_warmup(step, 10, 2) for step in range(11)]
    assert values[:3] == [0.5, 1.0, 1.0]
    assert values[6] == pytest.approx(0.5) and values[10] == 0.0
    assert linear_with_warmup(6, 10, 2, min_ratio=0.2) == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="schedule"):
        StageConfig(schedule="step")
    with pytest.raises(ConfigError, match="gradient_accumulation_steps"):
        StageConfig(gradient_accumulation_steps=0)
    with pytest.raises(ConfigError, match="mixed_precision"):
        StageConfig(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="trainable"):
        StageConfig(trainable={"head": -1.0})


def test_linear_stage_logs_its_schedule(tmp_path) -> None:
    train(_regressor(), _regression(), _small_stage(epochs=2, schedule="linear", warmup_steps=2), tmp_path)
    rates = [float(row["lr"]) for row in csv.DictReader((tmp_path / "logs" / "train_log.csv").open())]
    expected = [1e-2 * linear_with_warmup(step, 10, 2) for step in range(10)]
    assert rates == pytest.approx(expected)


def test_unavailable_mixed_precision_falls_back_and_says_so(tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="heartcare.train"):
        train(_regressor(), _regression(), _small_stage(epochs=1, mixed_precision="fp16"), tmp_path)
    assert "fp16 needs a GPU" in caplog.text
    assert json.loads((tmp_path / "training" / "trainer.json").read_text())["mixed_precision_used"] == "no"


def test_learning_curve_plot(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from heartcare.train.plot import plot_learning_curve

    train(_regressor(), _regression(), _small_stage(epochs=2), tmp_path, valid_data=_regression())
    png = plot_learning_curve(tmp_path / "logs", tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_consecutive_runs_are_drawn_end_to_end(tmp_path) -> None:
    from heartcare.train.plot import chain_runs, plot_learning_curves

    def run(name: str, train_rows: list[tuple[int, float]], valid_rows: list[tuple[int, float]]) -> Path:
        logs = tmp_path / name / "logs"
        logs.mkdir(parents=True)
        for split, rows in (("train", train_rows), ("valid", valid_rows)):
            lines = ["step,epoch,loss"] + [f"{step},0,{loss}" for step, loss in rows]
            (logs / f"{split}_log.csv").write_text("\n".join(lines) + "\n")
        return logs

    warmup = run("warmup", [(10, 2.0), (50, 1.5)], [(50, 1.6)])
    joint = run("joint", [(10, 1.2), (150, 0.8)], [(50, 1.1), (150, 0.9)])
    more = run("more", [(10, 0.7), (20, 0.6)], [])
    chained = chain_runs([warmup, joint, more])
    assert [offset for offset, _ in chained] == [0, 50, 200]
    assert chained[1][1]["train"] == ([60, 200], [1.2, 0.8])
    assert chained[1][1]["valid"] == ([100, 200], [1.1, 0.9])
    assert "valid" not in chained[2][1] and chained[2][1]["train"][0] == [210, 220]
    if importlib.util.find_spec("matplotlib"):
        assert plot_learning_curves([warmup, joint, more], tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_codebook_statistics_are_summed_over_processes(tmp_path) -> None:
    import torch.distributed as dist

    from heartcare.beat.quantizer import EmaCodebook

    flat = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    codes = torch.arange(32) % 8
    single = EmaCodebook(8, 4, 0.9, 0.0, kmeans_init=False)
    grouped = EmaCodebook(8, 4, 0.9, 0.0, kmeans_init=False)
    grouped.load_state_dict(single.state_dict())
    single.ema_update(flat, codes)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        grouped.ema_update(flat, codes)  # one process: the all-reduce must leave the numbers as they are
    finally:
        dist.destroy_process_group()
    assert torch.equal(single.embedding, grouped.embedding)


def test_valid_every_steps_logs_a_curve_inside_the_epoch_and_resume_stays_exact(tmp_path) -> None:
    data = Sequences(14)  # 4 batches per epoch
    stage = _small_stage(checkpoint_every_steps=1, warmup_steps=3, valid_every_steps=2)
    straight = _regressor()
    train(straight, data, stage, tmp_path / "straight", valid_data=data, collate_fn=pad_collate)
    rows = list(csv.DictReader((tmp_path / "straight" / "logs" / "valid_log.csv").open()))
    steps = [int(row["step"]) for row in rows]
    assert {2, 4, 6} <= set(steps) and len(rows) > 3  # mid-epoch points beside the epoch-end ones
    resumed = _interrupted_then_resumed(tmp_path / "resumed", data, stage, fail_at=7, valid_data=data,
                                        collate_fn=pad_collate)
    _assert_same(straight, resumed)


def test_a_run_stopped_by_max_steps_inside_an_epoch_is_validated_at_its_last_step(tmp_path) -> None:
    data = Sequences(14)  # 4 batches per epoch: step 5 is inside the second epoch, off the valid_every grid
    stage = _small_stage(valid_every_steps=2, max_steps=5)
    model = _regressor()
    result = train(model, data, stage, tmp_path, valid_data=data, collate_fn=pad_collate)
    rows = list(csv.DictReader((tmp_path / "logs" / "valid_log.csv").open()))
    steps = [int(row["step"]) for row in rows]
    assert steps[-1] == 5 and steps.count(5) == 1
    expected = evaluate_logs(model, data, stage.batch_size, pad_collate)
    assert float(rows[-1]["loss"]) == pytest.approx(expected["loss"]) == pytest.approx(result.valid_logs["loss"])
    # resuming the finished run trains nothing and validates nothing again
    train(model, data, stage, tmp_path, valid_data=data, collate_fn=pad_collate, resume=True)
    assert [int(row["step"]) for row in csv.DictReader((tmp_path / "logs" / "valid_log.csv").open())] == steps


class _PoisonedAfter(torch.nn.Module):
    """Returns a NaN loss from forward call `limit + 1` on (a blow-up in the middle of a run)."""

    def __init__(self, inner, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, 0

    def forward(self, batch):
        loss, logs = self.inner(batch)
        self.calls += 1
        return (loss * float("nan") if self.calls > self.limit else loss), logs


@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_a_non_finite_step_stops_the_run_before_it_touches_the_weights(tmp_path, grad_clip) -> None:
    import json

    from heartcare.errors import TrainingDivergedError

    model = _PoisonedAfter(_model(), limit=2)
    with pytest.raises(TrainingDivergedError, match="step 3"):
        train(model, _data(), _stage(max_steps=4, checkpoint_every_steps=1, grad_clip=grad_clip), tmp_path)
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())
    assert json.loads((tmp_path / "training" / "trainer.json").read_text())["step"] == 2


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_cudnn_attention_is_switched_off_on_a_gpu_only(monkeypatch, device) -> None:
    """pytorch/pytorch#196678: cuDNN attention's backward gives NaN for left-padded rows on H100/H200."""
    import accelerate

    from heartcare.train.hardware import make_accelerator

    class FakeAccelerator:
        def __init__(self, **_settings) -> None:
            self.device = torch.device(device)
            self.is_main_process = True

    calls = []
    monkeypatch.setattr(accelerate, "Accelerator", FakeAccelerator)
    monkeypatch.setattr(torch.backends.cuda, "enable_cudnn_sdp", lambda enabled: calls.append(enabled))
    make_accelerator(_small_stage())
    assert calls == ([False] if device == "cuda" else [])
