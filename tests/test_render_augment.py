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


# ---- the fast paths: fused runs, homographies, filters ----------------------------
def _interior_difference(first: np.ndarray, second: np.ndarray, margin: int = 40) -> float:
    """Mean absolute difference away from the borders (where fills differ by design)."""
    return float(np.abs(first[margin:-margin, margin:-margin].astype(int) - second[margin:-margin, margin:-margin]).mean())


def test_rotation_homography_matches_pillow_rotate(sheet):
    from PIL import Image

    out = STEPS["rotation"].apply(sheet, degrees=3.0, fill=[120, 120, 120])
    expected = np.asarray(Image.fromarray(sheet).rotate(3.0, resample=Image.Resampling.BILINEAR, fillcolor=(120, 120, 120)))
    difference = np.abs(out.astype(int) - expected)[40:-40, 40:-40]
    # Same geometry; OpenCV (when installed) rounds sub-pixel positions to 1/32 px at sharp ink edges.
    assert difference.mean() < 0.5
    assert np.percentile(difference, 99.9) <= 8


def test_scale_crop_homography_matches_pillow_resize(sheet):
    from PIL import Image

    height, width = sheet.shape[:2]
    out = STEPS["scale_crop"].apply(sheet, zoom=1.1, x=0.3, y=0.7)
    crop_w, crop_h = width / 1.1, height / 1.1
    left, top = 0.3 * (width - crop_w), 0.7 * (height - crop_h)
    expected = np.asarray(Image.fromarray(sheet).resize((width, height), Image.Resampling.BILINEAR,
                                                         box=(left, top, left + crop_w, top + crop_h)))
    assert _interior_difference(out, expected, margin=2) < 1.0


def test_geometric_run_is_one_warp_equal_to_steps_in_order(sheet):
    """perspective -> rotation -> scale_crop composed once ~ the same steps applied one by one."""
    steps = [
        {"step": "perspective", "corner_shift_px": [[20, 10], [5, 15], [25, 5], [10, 20]], "fill": [120, 120, 120]},
        {"step": "rotation", "degrees": 4.0, "fill": [120, 120, 120]},
        {"step": "scale_crop", "zoom": 1.1, "x": 0.2, "y": 0.8},
    ]
    fused = replay(sheet, steps)
    sequential = sheet
    for record in steps:
        sequential = STEPS[record["step"]].apply(sequential, **{k: v for k, v in record.items() if k != "step"})
    reversed_order = replay(sheet, steps[::-1])

    def soft(image):  # compare geometry, not the extra softening of two more bilinear passes
        return STEPS["blur"].apply(image, radius=2.0)

    in_order = _interior_difference(soft(fused), soft(sequential))
    assert in_order < 2.0
    assert _interior_difference(soft(reversed_order), soft(sequential)) > 3 * in_order


def test_shading_run_equals_steps_in_order(sheet):
    rng = np.random.default_rng(3)
    creases = {"step": "creases", **STEPS["creases"].sample(rng, sheet.shape, wrinkle=(0.05, 0.1))}
    shadow = {"step": "shadow", **STEPS["shadow"].sample(rng, sheet.shape)}
    fused = replay(sheet, [creases, shadow])
    sequential = STEPS["shadow"].apply(STEPS["creases"].apply(sheet, **{k: v for k, v in creases.items() if k != "step"}),
                                       **{k: v for k, v in shadow.items() if k != "step"})
    assert _interior_difference(fused, sequential, margin=1) < 1.5
    assert not np.array_equal(fused, sheet)


def test_blur_is_a_normalised_gaussian_of_the_recorded_radius():
    from heartcare.render.augment_filters import gaussian_taps

    for sigma in (0.3, 0.7, 1.0, 1.6):
        taps = gaussian_taps(sigma)
        assert taps[0] + 2 * sum(taps[1:]) == 256 and all(t >= 0 for t in taps)
    flat = np.full((40, 50, 3), 173, np.uint8)
    assert np.array_equal(STEPS["blur"].apply(flat, radius=1.3), flat)  # edges replicated, sums exact
    dot = np.zeros((41, 41, 3), np.uint8)
    dot[20, 20] = 255
    for sigma in (0.7, 1.2):
        spread = STEPS["blur"].apply(dot, radius=sigma)[..., 0].astype(float)
        offsets = np.arange(41) - 20
        variance = (spread.sum(axis=0) * offsets**2).sum() / spread.sum()
        assert abs(variance - sigma**2) < 0.25 * sigma**2 + 0.05, (sigma, variance)


def test_noise_has_the_recorded_sigma_and_is_seeded():
    grey = np.full((200, 300, 3), 128, np.uint8)
    noisy = STEPS["noise"].apply(grey, sigma=6.0, seed=11)
    difference = noisy.astype(float) - 128
    assert abs(difference.std() - 6.0) < 0.3 and abs(difference.mean()) < 0.1
    assert np.array_equal(noisy, STEPS["noise"].apply(grey, sigma=6.0, seed=11))
    assert not np.array_equal(noisy, STEPS["noise"].apply(grey, sigma=6.0, seed=12))
    channels = difference.reshape(-1, 3).T
    assert abs(np.corrcoef(channels)[0, 1]) < 0.05  # independent per channel


def test_brightness_contrast_table_and_occlusion_box(sheet):
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    out = STEPS["brightness_contrast"].apply(ramp, brightness=10.0, contrast=0.5)
    expected = np.clip((np.arange(256) - 128.0) * 0.5 + 138.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(out[0, :, 1], expected)
    patched = STEPS["occlusion"].apply(sheet, patches=[{"box": [10, 20, 30, 25], "colour": [1, 2, 3]}])
    assert (patched[20:25, 10:30] == [1, 2, 3]).all()
    assert np.array_equal(np.delete(patched, np.s_[20:25], axis=0), np.delete(sheet, np.s_[20:25], axis=0))


def test_recolour_greyscale_equals_luma_of_the_colour_result(sheet):
    colours = {"paper": [250, 240, 220], "grid": [120, 190, 140], "ink": [20, 20, 60]}
    colour = STEPS["recolour"].apply(sheet, **colours).astype(float)
    grey = STEPS["recolour"].apply(sheet, **colours, greyscale=True)
    luma = colour @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[..., 0] - luma).max() <= 1.0


def test_replay_returns_a_new_writable_array(sheet):
    for steps in ([], [{"step": "blur", "radius": 0.8}]):
        out = replay(sheet, steps)
        assert out is not sheet and out.flags.writeable
        out[0, 0] = 0  # must not touch the caller's sheet
    assert sheet.flags.writeable


def test_noise_bytes_are_the_generators_raw_output_in_little_endian_order():
    from heartcare.render.augment_filters import random_bytes

    words = np.random.PCG64(5).random_raw(2)
    expected = b"".join(int(word).to_bytes(8, "little") for word in words)
    assert random_bytes(5, 13) == expected[:13]
    assert random_bytes(5, 13) != random_bytes(6, 13)
