"""Geometric augmentations (rotation, perspective skew, scale/crop) as homographies.

Each step is a 3x3 matrix H mapping continuous output coordinates (x, y, 1) to input
coordinates, Pillow's convention for `Image.transform(PERSPECTIVE)`. A run of
consecutive geometric steps g1, g2, ... is composed as H1 @ H2 @ ... and resampled
once (one bilinear pass instead of one per step: faster, and sharper, because the
sheet is interpolated once). The surface around the sheet takes the first step's fill.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Params = dict[str, Any]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


# ---- sampling: the drawn parameters are the record ------------------------------
def sample_rotation(rng, shape, degrees=(-2.0, 2.0)) -> Params:
    return {"degrees": _uniform(rng, degrees), "fill": [int(rng.uniform(90, 200))] * 3}


def sample_perspective(rng, shape, shift=(0.0, 0.05)) -> Params:
    height, width = shape[:2]
    corners = rng.uniform(shift[0], shift[1], size=(4, 2)) * np.array([width, height])
    return {"corner_shift_px": corners.round(2).tolist(), "fill": [int(rng.uniform(60, 180))] * 3}


def sample_scale_crop(rng, shape, zoom=(1.0, 1.1)) -> Params:
    factor = _uniform(rng, zoom)
    return {"zoom": factor, "x": float(rng.random()), "y": float(rng.random())}


# ---- homographies: output (x, y) -> input (u, v) ----------------------------------
def rotation_homography(shape, degrees, fill=None) -> np.ndarray:
    """Counter-clockwise rotation by `degrees` about the image centre (as `Image.rotate`)."""
    height, width = shape[:2]
    angle = -math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    centre_x, centre_y = width / 2.0, height / 2.0
    return np.array([
        [cos, sin, centre_x - cos * centre_x - sin * centre_y],
        [-sin, cos, centre_y + sin * centre_x - cos * centre_y],
        [0.0, 0.0, 1.0],
    ])


def perspective_homography(shape, corner_shift_px, fill=None) -> np.ndarray:
    """Each corner moved inwards by its (dx, dy): a photo taken slightly off-axis."""
    height, width = shape[:2]
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    direction = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float64)
    source = target + direction * np.asarray(corner_shift_px, np.float64)
    # solve u = (a x + b y + c) / (g x + h y + 1), v = (d x + e y + f) / (g x + h y + 1) at the corners
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coefficients = np.linalg.solve(np.array(rows), source.reshape(-1))
    return np.append(coefficients, 1.0).reshape(3, 3)


def scale_crop_homography(shape, zoom, x, y) -> np.ndarray:
    """Zoom in by `zoom` around a point (x, y in 0..1 of the free margin), same output size."""
    height, width = shape[:2]
    crop_width, crop_height = width / zoom, height / zoom
    left, top = x * (width - crop_width), y * (height - crop_height)
    return np.array([[crop_width / width, 0.0, left], [0.0, crop_height / height, top], [0.0, 0.0, 1.0]])


HOMOGRAPHIES = {
    "rotation": rotation_homography,
    "perspective": perspective_homography,
    "scale_crop": scale_crop_homography,
}


def warp(picture, steps: list[Params]):
    """Apply recorded geometric steps (in order) to a PIL image with one bilinear resampling.

    picture: PIL RGB image [H, W]; steps: records like {"step": "rotation", "degrees": ...}.
    """
    from PIL import Image

    shape = (picture.height, picture.width)
    matrix = np.eye(3)
    fill = None
    for record in steps:
        params = {key: value for key, value in record.items() if key != "step"}
        matrix = matrix @ HOMOGRAPHIES[record["step"]](shape, **params)
        if fill is None and "fill" in params:
            fill = tuple(int(value) for value in params["fill"])
    matrix = matrix / matrix[2, 2]
    width, height = picture.size
    box = (matrix[0, 2], matrix[1, 2], matrix[0, 2] + matrix[0, 0] * width, matrix[1, 2] + matrix[1, 1] * height)
    axis_aligned = not matrix[0, 1] and not matrix[1, 0] and not matrix[2, 0] and not matrix[2, 1]
    if axis_aligned and box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height and box[2] > box[0] and box[3] > box[1]:
        # a zoom/crop alone (inside the sheet): Pillow's separable resize, ~3x faster than transform
        return picture.resize(picture.size, Image.Resampling.BILINEAR, box=tuple(float(v) for v in box))
    warped = _warp_with_opencv(picture, matrix, fill or (128, 128, 128))
    if warped is not None:
        return warped
    coefficients = tuple(float(value) for value in matrix.reshape(-1)[:8])
    return picture.transform(picture.size, Image.Transform.PERSPECTIVE, coefficients,
                             Image.Resampling.BILINEAR, fillcolor=fill or (128, 128, 128))


def _warp_with_opencv(picture, matrix: np.ndarray, fill: tuple[int, int, int]):
    """The same bilinear inverse-mapped warp through OpenCV (~4x faster than Pillow), if installed.

    The `fast` extra installs it; without it Pillow does the work. The two differ by
    rounding only (about 1 grey level), so a replay is pixel-exact on the same install.
    """
    try:
        import cv2
    except ImportError:
        return None
    from PIL import Image

    # Data-engine workers are separate processes: OpenCV's own thread pool would only contend.
    cv2.setNumThreads(1)
    # Pillow samples at pixel centres, OpenCV at pixel corners: shift by half a pixel.
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    centred = np.linalg.inv(half) @ matrix @ half
    # Warped as RGBA: OpenCV's vectorised 4-channel path is ~2x faster than its 3-channel
    # one, and each channel gets the same fixed-point weights, so RGB is bit-identical.
    rgba = cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2RGBA)
    array = cv2.warpPerspective(
        rgba, centred, picture.size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(*(int(v) for v in fill), 255),
    )
    return Image.fromarray(cv2.cvtColor(array, cv2.COLOR_RGBA2RGB))
