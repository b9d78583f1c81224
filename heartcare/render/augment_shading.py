"""Light on the paper: shadows, creases and wrinkle shading as multiplicative fields.

Every shading step is a smooth gain field computed on a coarse grid (every
`FINE`-th pixel; wrinkles and shadows on an even coarser one), because light varies
slowly: only the fold lines need a few pixels of resolution. A run of consecutive
shading steps multiplies its fields and applies the product once, resized to full
size by Pillow (bilinear) and multiplied in C.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Params = dict[str, Any]

FINE = 2  # grid step (pixels) of fold-line fields: a fold stays a few pixels wide at half resolution
SMOOTH = 8  # grid step of shadows and wrinkles (periods of 100+ pixels)
MAX_GAIN = 2.0  # gains are stored as uint8 in units of MAX_GAIN / 255


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _coordinates(shape, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(y [h, 1], x [1, w]) cell centres in units of the longer side, one per `factor` pixels."""
    height, width = shape[:2]
    scale = float(max(height, width))
    rows = (np.arange(0, height, factor, dtype=np.float32) + factor / 2) / np.float32(scale)
    columns = (np.arange(0, width, factor, dtype=np.float32) + factor / 2) / np.float32(scale)
    return rows[:, None], columns[None, :]


def _grid_size(shape, factor: int) -> tuple[int, int]:
    """(width, height) of the coarse grid, as Pillow sizes go."""
    height, width = shape[:2]
    return -(-width // factor), -(-height // factor)


def _resize_field(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 field to (width, height)."""
    from PIL import Image

    if field.shape == (size[1], size[0]):
        return field
    return np.asarray(Image.fromarray(np.ascontiguousarray(field, np.float32)).resize(size, Image.Resampling.BILINEAR))


# ---- shadow --------------------------------------------------------------------------
def sample_shadow(rng, shape, strength=(0.2, 0.5)) -> Params:
    return {"angle": _uniform(rng, (0, 2 * np.pi)), "offset": _uniform(rng, (-0.3, 0.3)),
            "softness": _uniform(rng, (0.05, 0.3)), "strength": _uniform(rng, strength)}


def shadow_field(shape, angle, offset, softness, strength) -> np.ndarray:
    """A soft-edged shadow over one side of the sheet (a hand or phone above it); fine grid."""
    y, x = _coordinates(shape, SMOOTH)
    distance = (x - 0.5) * np.float32(np.cos(angle)) + (y - 0.4) * np.float32(np.sin(angle)) - np.float32(offset)
    field = 1.0 - strength / (1.0 + np.exp(-distance / np.float32(softness)))
    return _resize_field(field.astype(np.float32), _grid_size(shape, FINE))


# ---- creases and wrinkles ------------------------------------------------------------
def sample_creases(rng, shape, count=(1, 3), strength=(0.1, 0.3), wrinkle=(0.0, 0.12)) -> Params:
    number = int(rng.integers(count[0], count[1] + 1))
    return {"lines": [{"x": float(rng.random()), "y": float(rng.random()), "angle": _uniform(rng, (0, np.pi)),
                       "width": _uniform(rng, (0.002, 0.008)), "strength": _uniform(rng, strength)}
                      for _ in range(number)],
            "wrinkle_strength": _uniform(rng, wrinkle), "wrinkle_seed": int(rng.integers(2**31))}


def creases_field(shape, lines, wrinkle_strength, wrinkle_seed) -> np.ndarray:
    """Fold lines (dark line with a lit edge beside it) plus low-frequency wrinkle shading; fine grid."""
    field = np.ones(_grid_size(shape, FINE)[::-1], np.float32)
    if wrinkle_strength > 0:
        y, x = _coordinates(shape, SMOOTH)
        waves = np.random.default_rng(wrinkle_seed)
        wrinkles = np.zeros((y.shape[0], x.shape[1]), np.float32)
        for _ in range(6):
            fx, fy, phase = waves.uniform(2, 12), waves.uniform(2, 12), waves.uniform(0, 2 * np.pi)
            wrinkles += np.float32(wrinkle_strength / 6) * np.sin(np.float32(2 * np.pi) * (np.float32(fx) * x + np.float32(fy) * y) + np.float32(phase))
        field += _resize_field(wrinkles, _grid_size(shape, FINE))
    y, x = _coordinates(shape, FINE)
    for line in lines:
        width, strength = np.float32(line["width"]), np.float32(line["strength"])
        distance = (x - np.float32(line["x"])) * np.float32(np.sin(line["angle"])) - (y - np.float32(line["y"])) * np.float32(np.cos(line["angle"]))
        # both profiles are < 1e-4 of their peak beyond 8 widths: evaluate only that band
        near = np.abs(distance - np.float32(1.25) * width) < 8 * width
        local = distance[near]
        field[near] += strength * (0.5 * np.exp(-(((local - 2.5 * width) / (2 * width)) ** 2)) - np.exp(-((local / width) ** 2)))
    return field


FIELDS = {"shadow": shadow_field, "creases": creases_field}


def shade(picture, steps: list[Params]):
    """Multiply a PIL RGB image by the product of the recorded shading steps' gain fields."""
    from PIL import Image, ImageChops

    shape = (picture.height, picture.width)
    field = None
    for record in steps:
        params = {key: value for key, value in record.items() if key != "step"}
        step_field = FIELDS[record["step"]](shape, **params)
        field = step_field if field is None else field * step_field
    assert field is not None, "shade() needs at least one step"
    # Pillow multiplies a * b / 255, so store gain / peak in 0..255 and scale by the peak afterwards
    peak = float(min(max(field.max(), 1.0), MAX_GAIN))  # 1.0 when only darkening: no second pass
    coarse = Image.fromarray(np.clip(field * np.float32(255.0 / peak) + 0.5, 0, 255).astype(np.uint8))
    gain = coarse.resize(picture.size, Image.Resampling.BILINEAR)
    shaded = ImageChops.multiply(picture, Image.merge("RGB", (gain, gain, gain)))
    if peak != 1.0:
        table = np.clip(np.arange(256) * peak + 0.5, 0, 255).astype(np.uint8).tolist()
        shaded = shaded.point(table * 3)
    return shaded
