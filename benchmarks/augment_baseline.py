"""The individual image augmentations: each is `sample(rng, shape, **ranges) -> params`
plus `apply(image, **params) -> image`, so every drawn parameter can be recorded
and replayed exactly. Images are [H, W, 3] uint8 RGB arrays at the `apply` surface.

Inside, every step works on a Pillow image (`Step.picture`), so a whole recipe is
converted once and runs in Pillow's C loops: colour changes are one colour matrix
or one 256-entry table, geometric steps are homographies resampled once
(augment_geometry), light is a coarse gain field (augment_shading).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from heartcare.render.paper import PaperColours

Params = dict[str, Any]


@dataclass(frozen=True)
class Step:
    sample: Callable[..., Params]
    apply: Callable[..., np.ndarray]


def _pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(image)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


# ---- colours: re-ink a clean heartcare sheet (paper/grid/ink decomposition) ----
def sample_recolour(rng, shape, greyscale_p=0.0, no_grid_p=0.0, tint=0.0) -> Params:
    paper = [int(255 - rng.uniform(0, 25) * tint * (1.0 if c < 2 else 2.0)) for c in range(3)]
    hue = rng.choice([0, 1, 2])  # red (classic), green or blue-grey printer grids
    grid = [[235, 120, 120], [120, 190, 140], [120, 150, 210]][hue] if tint > 0 else [235, 120, 120]
    ink = [int(rng.uniform(0, 60 * tint))] * 2 + [int(rng.uniform(0, 90 * tint))]
    return {
        "paper": paper, "grid": grid, "ink": ink,
        "show_grid": bool(rng.random() >= no_grid_p), "greyscale": bool(rng.random() < greyscale_p),
    }


def apply_recolour(
    image, paper, grid, ink, show_grid=True, greyscale=False,
    source_paper=PaperColours.paper, source_grid=PaperColours.major_grid, source_ink=PaperColours.ink,
):
    """Write each pixel as paper + a (grid - paper) + b (ink - paper) in the new colours.

    (a, b) come from a least-squares fit against the source sheet's colours, so this
    is exact on a clean render and only approximate after other steps.
    """
    old_paper = np.asarray(source_paper, np.float32)
    basis = np.stack([np.asarray(source_grid, np.float32) - old_paper, np.asarray(source_ink, np.float32) - old_paper], 1)
    weights = (image.reshape(-1, 3).astype(np.float32) - old_paper) @ np.linalg.pinv(basis).T  # [N, 2]
    weights = np.clip(weights, 0.0, 1.0)
    if not show_grid:
        weights[:, 0] = 0.0
    new_paper = np.asarray(paper, np.float32)
    new_basis = np.stack([np.asarray(grid, np.float32) - new_paper, np.asarray(ink, np.float32) - new_paper], 1)
    result = new_paper + weights @ new_basis.T
    result = np.clip(result + 0.5, 0, 255).astype(np.uint8).reshape(image.shape)
    if greyscale:
        grey = (result.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
        result = np.repeat(grey[..., None], 3, axis=2)
    return result


# ---- geometry -----------------------------------------------------------------
def sample_rotation(rng, shape, degrees=(-2.0, 2.0)) -> Params:
    return {"degrees": _uniform(rng, degrees), "fill": [int(rng.uniform(90, 200))] * 3}


def apply_rotation(image, degrees, fill):
    from PIL import Image

    return np.asarray(_pil(image).rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=tuple(fill)))


def sample_perspective(rng, shape, shift=(0.0, 0.05)) -> Params:
    height, width = shape[:2]
    corners = rng.uniform(shift[0], shift[1], size=(4, 2)) * np.array([width, height])
    return {"corner_shift_px": corners.round(2).tolist(), "fill": [int(rng.uniform(60, 180))] * 3}


def apply_perspective(image, corner_shift_px, fill):
    """Move each corner inwards by the given (dx, dy): a photo taken slightly off-axis."""
    from PIL import Image

    height, width = image.shape[:2]
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    direction = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float64)
    source = target + direction * np.asarray(corner_shift_px, np.float64)
    # PIL maps output pixel (x, y) to input ((a x + b y + c) / (g x + h y + 1), ...)
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coefficients = np.linalg.solve(np.array(rows), source.reshape(-1))
    return np.asarray(
        _pil(image).transform((width, height), Image.Transform.PERSPECTIVE, tuple(coefficients),
                              Image.Resampling.BILINEAR, fillcolor=tuple(fill))
    )


def sample_scale_crop(rng, shape, zoom=(1.0, 1.1)) -> Params:
    factor = _uniform(rng, zoom)
    return {"zoom": factor, "x": float(rng.random()), "y": float(rng.random())}


def apply_scale_crop(image, zoom, x, y):
    """Zoom in by `zoom` around a random point and resize back to the original size."""
    from PIL import Image

    height, width = image.shape[:2]
    crop_w, crop_h = width / zoom, height / zoom
    left, top = x * (width - crop_w), y * (height - crop_h)
    box = (left, top, left + crop_w, top + crop_h)
    return np.asarray(_pil(image).resize((width, height), Image.Resampling.BILINEAR, box=box))


# ---- optics and sensor ----------------------------------------------------------
def sample_blur(rng, shape, radius=(0.3, 1.2)) -> Params:
    return {"radius": _uniform(rng, radius)}


def apply_blur(image, radius):
    from PIL import ImageFilter

    return np.asarray(_pil(image).filter(ImageFilter.GaussianBlur(radius)))


def sample_noise(rng, shape, sigma=(2.0, 8.0)) -> Params:
    return {"sigma": _uniform(rng, sigma), "seed": int(rng.integers(2**31))}


def apply_noise(image, sigma, seed):
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)


def sample_jpeg(rng, shape, quality=(60, 90)) -> Params:
    return {"quality": int(rng.integers(quality[0], quality[1] + 1))}


def apply_jpeg(image, quality):
    from PIL import Image

    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def sample_brightness_contrast(rng, shape, brightness=(-20.0, 20.0), contrast=(0.85, 1.15)) -> Params:
    return {"brightness": _uniform(rng, brightness), "contrast": _uniform(rng, contrast)}


def apply_brightness_contrast(image, brightness, contrast):
    values = (image.astype(np.float32) - 128.0) * contrast + 128.0 + brightness
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


# ---- paper handling: light, folds, hands --------------------------------------
def _coordinates(shape) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape[:2]
    return np.mgrid[0:height, 0:width].astype(np.float32) / np.float32(max(height, width))


def sample_shadow(rng, shape, strength=(0.2, 0.5)) -> Params:
    return {"angle": _uniform(rng, (0, 2 * np.pi)), "offset": _uniform(rng, (-0.3, 0.3)),
            "softness": _uniform(rng, (0.05, 0.3)), "strength": _uniform(rng, strength)}


def apply_shadow(image, angle, offset, softness, strength):
    """A soft-edged shadow over one side of the sheet (a hand or phone above it)."""
    y, x = _coordinates(image.shape)
    distance = (x - 0.5) * np.cos(angle) + (y - 0.4) * np.sin(angle) - offset
    shade = 1.0 - strength / (1.0 + np.exp(-distance / softness))
    return np.clip(image.astype(np.float32) * shade[..., None] + 0.5, 0, 255).astype(np.uint8)


def sample_creases(rng, shape, count=(1, 3), strength=(0.1, 0.3), wrinkle=(0.0, 0.12)) -> Params:
    number = int(rng.integers(count[0], count[1] + 1))
    return {"lines": [{"x": float(rng.random()), "y": float(rng.random()), "angle": _uniform(rng, (0, np.pi)),
                       "width": _uniform(rng, (0.002, 0.008)), "strength": _uniform(rng, strength)}
                      for _ in range(number)],
            "wrinkle_strength": _uniform(rng, wrinkle), "wrinkle_seed": int(rng.integers(2**31))}


def apply_creases(image, lines, wrinkle_strength, wrinkle_seed):
    """Fold lines (dark line with a lit edge beside it) plus low-frequency wrinkle shading."""
    y, x = _coordinates(image.shape)
    shade = np.ones(image.shape[:2], np.float32)
    for line in lines:
        distance = (x - line["x"]) * np.sin(line["angle"]) - (y - line["y"]) * np.cos(line["angle"])
        shade -= line["strength"] * np.exp(-((distance / line["width"]) ** 2))
        shade += 0.5 * line["strength"] * np.exp(-(((distance - 2.5 * line["width"]) / (2 * line["width"])) ** 2))
    if wrinkle_strength > 0:
        waves = np.random.default_rng(wrinkle_seed)
        for _ in range(6):
            fx, fy, phase = waves.uniform(2, 12), waves.uniform(2, 12), waves.uniform(0, 2 * np.pi)
            shade += wrinkle_strength / 6 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    return np.clip(image.astype(np.float32) * shade[..., None] + 0.5, 0, 255).astype(np.uint8)


def sample_occlusion(rng, shape, count=(1, 2)) -> Params:
    height, width = shape[:2]
    boxes = []
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        box_w, box_h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.2) * height
        left, top = rng.uniform(0, width - box_w), rng.uniform(0, height - box_h)
        boxes.append({"box": [round(left), round(top), round(left + box_w), round(top + box_h)],
                      "colour": [int(c) for c in rng.integers(120, 256, 3)]})
    return {"patches": boxes}


def apply_occlusion(image, patches):
    """Opaque patches (sticky notes, a thumb) hiding part of the sheet."""
    result = image.copy()
    for patch in patches:
        left, top, right, bottom = patch["box"]
        result[top:bottom, left:right] = patch["colour"]
    return result


def sample_pen_marks(rng, shape, count=(1, 3)) -> Params:
    height, width = shape[:2]
    strokes = []
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        start = rng.uniform([0, 0], [width, height])
        steps = rng.normal(0, 0.03 * width, size=(int(rng.integers(3, 9)), 2)).cumsum(axis=0)
        strokes.append({"points": (start + steps).round(1).tolist(), "width": int(rng.integers(2, 6)),
                        "colour": [[20, 40, 160], [10, 10, 10], [170, 20, 30]][int(rng.integers(3))]})
    return {"strokes": strokes}


def apply_pen_marks(image, strokes):
    """Stray ballpoint strokes and scribbles on the printout."""
    from PIL import ImageDraw

    picture = _pil(image.copy())
    draw = ImageDraw.Draw(picture)
    for stroke in strokes:
        draw.line([tuple(point) for point in stroke["points"]], fill=tuple(stroke["colour"]), width=stroke["width"], joint="curve")
    return np.asarray(picture)


STEPS: dict[str, Step] = {
    "recolour": Step(sample_recolour, apply_recolour),
    "rotation": Step(sample_rotation, apply_rotation),
    "perspective": Step(sample_perspective, apply_perspective),
    "scale_crop": Step(sample_scale_crop, apply_scale_crop),
    "blur": Step(sample_blur, apply_blur),
    "noise": Step(sample_noise, apply_noise),
    "jpeg": Step(sample_jpeg, apply_jpeg),
    "brightness_contrast": Step(sample_brightness_contrast, apply_brightness_contrast),
    "shadow": Step(sample_shadow, apply_shadow),
    "creases": Step(sample_creases, apply_creases),
    "occlusion": Step(sample_occlusion, apply_occlusion),
    "pen_marks": Step(sample_pen_marks, apply_pen_marks),
}


# ---- the previous presets and recipe loop (heartcare/render/augment.py at 8544fd9) ----
PRESETS: dict[str, tuple] = {
    "clean": (),
    "print": (
        ("recolour", 1.0, {"greyscale_p": 0.3, "tint": 0.4}),
        ("pen_marks", 0.3, {"count": (1, 2)}),
        ("brightness_contrast", 0.5, {"brightness": (-8, 8), "contrast": (0.92, 1.05)}),
        ("blur", 0.6, {"radius": (0.2, 0.6)}),
        ("noise", 0.5, {"sigma": (1.0, 3.0)}),
    ),
    "scan": (
        ("recolour", 1.0, {"greyscale_p": 0.5, "no_grid_p": 0.2, "tint": 0.6}),
        ("creases", 0.3, {"count": (1, 2), "strength": (0.05, 0.15), "wrinkle": (0.0, 0.03)}),
        ("pen_marks", 0.3),
        ("rotation", 1.0, {"degrees": (-2.0, 2.0)}),
        ("scale_crop", 0.5, {"zoom": (1.0, 1.05)}),
        ("brightness_contrast", 1.0, {"brightness": (-15, 15), "contrast": (0.85, 1.1)}),
        ("blur", 0.8, {"radius": (0.4, 1.0)}),
        ("noise", 1.0, {"sigma": (2.0, 5.0)}),
        ("jpeg", 0.8, {"quality": (70, 92)}),
    ),
    "photo": (
        ("recolour", 1.0, {"greyscale_p": 0.1, "no_grid_p": 0.05, "tint": 1.0}),
        ("creases", 0.8, {"count": (1, 4), "strength": (0.1, 0.3)}),
        ("pen_marks", 0.4),
        ("occlusion", 0.3),
        ("shadow", 0.7),
        ("perspective", 1.0, {"shift": (0.0, 0.06)}),
        ("rotation", 1.0, {"degrees": (-5.0, 5.0)}),
        ("scale_crop", 0.7, {"zoom": (1.0, 1.12)}),
        ("brightness_contrast", 1.0, {"brightness": (-30, 20), "contrast": (0.75, 1.1)}),
        ("blur", 1.0, {"radius": (0.5, 1.6)}),
        ("noise", 1.0, {"sigma": (3.0, 9.0)}),
        ("jpeg", 1.0, {"quality": (45, 85)}),
    ),
}


def augment(image: np.ndarray, preset: str, seed: int) -> np.ndarray:
    """The previous `augment`: draw every step's coin and parameters, then apply one by one."""
    rng = np.random.default_rng(seed)
    applied = []
    for name, probability, *ranges in PRESETS[preset]:
        ranges = ranges[0] if ranges else {}
        apply_step = rng.random() < probability
        params = STEPS[name].sample(rng, image.shape, **ranges)
        if apply_step:
            applied.append((name, params))
    for name, params in applied:
        image = STEPS[name].apply(image, **params)
    return image
