"""Augmentation: presets, determinism by seed, recorded parameters replay exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError
from heartcare.render import PRESETS, PaperSpec, augment, render
from heartcare.render.augment import StepChoice, replay
from heartcare.render.augment_steps import STEPS


@pytest.fixture(scope="module")
def sheet() -> np.ndarray:
    """A small sheet (60 DPI) with a sine trace in every lead, so steps run fast."""
    t = np.arange(2500) / 250.0
    signal = np.stack([0.5 * np.sin(2 * np.pi * (1 + lead / 12) * t) for lead in range(12)]).astype(np.float32)
    return render(Ecg(signal, 250.0), "3x4+II", PaperSpec(dpi=60.0))


def test_presets_exist_and_clean_is_identity(sheet):
    assert set(PRESETS) == {"clean", "print", "scan", "photo"}
    result = augment(sheet, "clean", seed=1)
    assert np.array_equal(result.image, sheet) and result.steps == []


@pytest.mark.parametrize("preset", ["print", "scan", "photo"])
def test_presets_are_seeded_recorded_and_replayable(sheet, preset):
    first = augment(sheet, preset, seed=7)
    again = augment(sheet, preset, seed=7)
    other = augment(sheet, preset, seed=8)
    assert first.image.shape == sheet.shape and first.image.dtype == np.uint8
    assert np.array_equal(first.image, again.image)
    assert first.steps != other.steps
    assert not np.array_equal(first.image, sheet)
    record = json.loads(json.dumps(first.parameters()))  # every parameter is plain JSON
    assert np.array_equal(replay(sheet, record["steps"]), first.image)


def test_every_step_changes_the_image(sheet):
    rng = np.random.default_rng(0)
    for name, step in STEPS.items():
        params = step.sample(rng, sheet.shape)
        out = step.apply(sheet, **params)
        assert out.shape == sheet.shape and out.dtype == np.uint8, name
        if name == "recolour":
            params = {**params, "paper": [240, 230, 200], "show_grid": True, "greyscale": False}
            out = step.apply(sheet, **params)
        assert not np.array_equal(out, sheet), name


def test_recolour_greyscale_and_grid_dropout(sheet):
    steps = STEPS["recolour"]
    grey = steps.apply(sheet, paper=[255, 255, 255], grid=[235, 120, 120], ink=[0, 0, 0], greyscale=True)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    no_grid = steps.apply(sheet, paper=[255, 255, 255], grid=[235, 120, 120], ink=[0, 0, 0], show_grid=False)
    reddish = (sheet[..., 0].astype(int) - sheet[..., 1]) > 50  # grid pixels of the clean sheet
    assert reddish.sum() > 1000
    assert np.abs(no_grid[reddish].astype(int) - 255).mean() < 12
    same = steps.apply(sheet, paper=[255, 255, 255], grid=[235, 120, 120], ink=[0, 0, 0])
    assert np.abs(same.astype(int) - sheet).mean() < 1.0  # exact decomposition on a clean sheet


def test_custom_step_list_and_errors(sheet):
    result = augment(sheet, [StepChoice("blur", 1.0, {"radius": (1.0, 1.0)})], seed=0)
    assert result.steps == [{"step": "blur", "radius": 1.0}] and result.preset is None
    with pytest.raises(ConfigError, match="preset"):
        augment(sheet, "fax")
    with pytest.raises(ConfigError, match="step"):
        StepChoice("smudge")
    with pytest.raises(ConfigError, match="uint8"):
        augment(sheet.astype(np.float32), "print")
