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

from heartcare.render.augment_filters import blur, gaussian_noise
from heartcare.render.augment_geometry import (
    HOMOGRAPHIES,
    sample_perspective,
    sample_rotation,
    sample_scale_crop,
    warp,
)
from heartcare.render.augment_shading import FIELDS, sample_creases, sample_shadow, shade
from heartcare.render.paper import PaperColours

Params = dict[str, Any]


def _pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))


@dataclass(frozen=True)
class Step:
    """sample(rng, shape, **ranges) -> params; picture(PIL RGB image, **params) -> PIL RGB image."""

    sample: Callable[..., Params]
    picture: Callable[..., Any]
    kind: str = "pixel"  # "geometry" and "shading" runs are fused by `augment.replay`

    def apply(self, image: np.ndarray, **params) -> np.ndarray:
        """[H, W, 3] uint8 -> [H, W, 3] uint8."""
        return np.array(self.picture(_pil(image), **params))


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


def recolour(
    picture, paper, grid, ink, show_grid=True, greyscale=False,
    source_paper=PaperColours.paper, source_grid=PaperColours.major_grid, source_ink=PaperColours.ink,
):
    """Write each pixel as paper + a (grid - paper) + b (ink - paper) in the new colours.

    (a, b) come from a least-squares fit against the source sheet's colours; the whole
    map is affine, so it runs as one Pillow colour matrix (rounded, clipped to 0..255).
    Exact on a clean render (every pixel a blend of paper, grid and ink), approximate
    after other steps.
    """
    old_paper = np.asarray(source_paper, np.float64)
    basis = np.stack([np.asarray(source_grid, np.float64) - old_paper, np.asarray(source_ink, np.float64) - old_paper], 1)
    solve = np.linalg.pinv(basis)  # [2, 3]: pixel offset from paper -> (grid amount, ink amount)
    new_paper = np.asarray(paper, np.float64)
    new_basis = np.stack([np.asarray(grid, np.float64) - new_paper, np.asarray(ink, np.float64) - new_paper], 1)
    if not show_grid:
        new_basis[:, 0] = 0.0
    linear = new_basis @ solve  # [3, 3]
    offset = new_paper - linear @ old_paper
    if greyscale:  # fold the luma weights in: one pass straight to grey
        luma = np.array([0.299, 0.587, 0.114])
        matrix = (*(luma @ linear), float(luma @ offset))
        return picture.convert("L", matrix=tuple(float(v) for v in matrix)).convert("RGB")
    matrix = np.concatenate([linear, offset[:, None]], axis=1).reshape(-1)
    return picture.convert("RGB", matrix=tuple(float(v) for v in matrix))


# ---- optics and sensor ----------------------------------------------------------
def sample_blur(rng, shape, radius=(0.3, 1.2)) -> Params:
    return {"radius": _uniform(rng, radius)}


def sample_noise(rng, shape, sigma=(2.0, 8.0)) -> Params:
    return {"sigma": _uniform(rng, sigma), "seed": int(rng.integers(2**31))}


def sample_jpeg(rng, shape, quality=(60, 90)) -> Params:
    return {"quality": int(rng.integers(quality[0], quality[1] + 1))}


def jpeg(picture, quality):
    """Encode and decode as JPEG at `quality` (block and ringing artefacts)."""
    from PIL import Image

    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return decoded if decoded.mode == "RGB" else decoded.convert("RGB")


def sample_brightness_contrast(rng, shape, brightness=(-20.0, 20.0), contrast=(0.85, 1.15)) -> Params:
    return {"brightness": _uniform(rng, brightness), "contrast": _uniform(rng, contrast)}


def brightness_contrast(picture, brightness, contrast):
    """(value - 128) * contrast + 128 + brightness, as a 256-entry table per channel."""
    table = np.clip((np.arange(256, dtype=np.float32) - 128.0) * np.float32(contrast) + np.float32(128.0 + brightness) + 0.5, 0, 255)
    return picture.point(table.astype(np.uint8).tolist() * 3)


# ---- paper handling: hands and pens ------------------------------------------------
def sample_occlusion(rng, shape, count=(1, 2)) -> Params:
    height, width = shape[:2]
    boxes = []
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        box_w, box_h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.2) * height
        left, top = rng.uniform(0, width - box_w), rng.uniform(0, height - box_h)
        boxes.append({"box": [round(left), round(top), round(left + box_w), round(top + box_h)],
                      "colour": [int(c) for c in rng.integers(120, 256, 3)]})
    return {"patches": boxes}


def occlusion(picture, patches):
    """Opaque patches (sticky notes, a thumb) hiding part of the sheet; box = [left, top, right, bottom)."""
    result = picture.copy()
    for patch in patches:
        left, top, right, bottom = (int(value) for value in patch["box"])
        if right > left and bottom > top:
            result.paste(tuple(int(c) for c in patch["colour"]), (left, top, right, bottom))
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


def pen_marks(picture, strokes):
    """Stray ballpoint strokes and scribbles on the printout."""
    from PIL import ImageDraw

    result = picture.copy()
    draw = ImageDraw.Draw(result)
    for stroke in strokes:
        draw.line([tuple(point) for point in stroke["points"]], fill=tuple(stroke["colour"]), width=stroke["width"], joint="curve")
    return result


def _geometry(name: str) -> Callable[..., Any]:
    return lambda picture, **params: warp(picture, [{"step": name, **params}])


def _shading(name: str) -> Callable[..., Any]:
    return lambda picture, **params: shade(picture, [{"step": name, **params}])


STEPS: dict[str, Step] = {
    "recolour": Step(sample_recolour, recolour),
    "rotation": Step(sample_rotation, _geometry("rotation"), "geometry"),
    "perspective": Step(sample_perspective, _geometry("perspective"), "geometry"),
    "scale_crop": Step(sample_scale_crop, _geometry("scale_crop"), "geometry"),
    "blur": Step(sample_blur, blur),
    "noise": Step(sample_noise, gaussian_noise),
    "jpeg": Step(sample_jpeg, jpeg),
    "brightness_contrast": Step(sample_brightness_contrast, brightness_contrast),
    "shadow": Step(sample_shadow, _shading("shadow"), "shading"),
    "creases": Step(sample_creases, _shading("creases"), "shading"),
    "occlusion": Step(sample_occlusion, occlusion),
    "pen_marks": Step(sample_pen_marks, pen_marks),
}
assert set(HOMOGRAPHIES) == {name for name, step in STEPS.items() if step.kind == "geometry"}
assert set(FIELDS) == {name for name, step in STEPS.items() if step.kind == "shading"}
