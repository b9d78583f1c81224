"""Where the trace ink is on a picture of an ECG page, and how far the page is turned.

A trace is the darkest thin, unsaturated stroke on the sheet: grid lines are coloured or light,
paper is lighter still, pen marks are saturated. Darkness is taken against the local background
(a grey closing, which erases strokes thinner than its window) so that shadows, creases and a
tinted photo do not shift the threshold; the threshold itself is relative to the darkest strokes
found, because scanners and cameras lift black ink to anything between 0 and ~100.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_WINDOW_PX = 9  # wider than a trace line (1-4 px at 100-300 dpi), narrower than a grid square
INK_FRACTION = 0.3  # a pixel is ink at least at this share of the page's deepest darkness (a 1-px line split
# over two pixel columns shows each at half depth)
MAX_INK_CHROMA = 70.0  # ink is near-neutral; red/blue pen marks and grid lines are not
GRID_MAJORITY = 2.0  # paler strokes this many times the darker ones: a grid, not anti-aliased ink edges
SKEW_STEP_DEG = 0.1


def luminance(image: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB (or [H, W] grey) -> [H, W] float luminance 0..255."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        return pixels
    return pixels[..., :3] @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def darkness(image: np.ndarray) -> np.ndarray:
    """[H, W] how much darker each pixel is than its neighbourhood's background (>= 0), with
    saturated pixels (coloured grid, pen marks, stickers) set to zero."""
    from scipy import ndimage

    grey = luminance(image)
    background = ndimage.grey_closing(grey, size=(BACKGROUND_WINDOW_PX, BACKGROUND_WINDOW_PX))
    dark = np.clip(background - grey, 0.0, None)
    pixels = np.asarray(image)
    if pixels.ndim == 3:
        chroma = pixels[..., :3].max(axis=2).astype(np.float32) - pixels[..., :3].min(axis=2)
        dark[chroma > MAX_INK_CHROMA] = 0.0
    return dark


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    """The threshold that best splits `values` into two classes (Otsu 1979: most between-class variance)."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(np.float64)
    total = weight[-1]
    mass = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass / weight
        mean_high = (mass[-1] - mass) / (total - weight)
        between = weight * (total - weight) * (mean_low - mean_high) ** 2
    return float(centres[int(np.nanargmax(between[:-1]))])


def ink_mask(dark: np.ndarray) -> np.ndarray:
    """[H, W] bool trace ink from a `darkness` map: at least INK_FRACTION as dark as the deepest
    strokes (the 99.8th percentile lands in them, since traces cover ~1-2% of a sheet). A grey grid
    dark enough to pass (no colour to tell it by) is a second, paler group of strokes that far
    outnumbers the ink; when Otsu's split of the passing pixels finds such a group, the threshold
    rises to the split."""
    deepest = float(np.percentile(dark, 99.8))
    if deepest <= 0:
        return np.zeros(dark.shape, dtype=bool)
    threshold = INK_FRACTION * deepest
    strokes = np.minimum(dark[dark >= threshold], deepest)
    split = _otsu(strokes)
    if split > threshold and (strokes < split).sum() > GRID_MAJORITY * (strokes >= split).sum():
        threshold = split
    return dark >= threshold


def skew_degrees(mask: np.ndarray, limit_deg: float = 6.0) -> float:
    """The page's rotation (degrees, counter-clockwise positive in image coordinates) that makes
    trace baselines horizontal: the angle whose row histogram of ink is sharpest, since each
    lead's isoelectric line then falls into one pixel row."""
    rows, columns = np.nonzero(mask)
    if rows.size < 100:
        return 0.0
    if rows.size > 60_000:  # the histogram's shape needs far fewer points than a photo's noise gives
        keep = np.random.default_rng(0).choice(rows.size, 60_000, replace=False)
        rows, columns = rows[keep], columns[keep]
    centre_column = mask.shape[1] / 2.0
    best_angle, best_score = 0.0, -1.0
    for angle in np.arange(-limit_deg, limit_deg + SKEW_STEP_DEG / 2, SKEW_STEP_DEG):
        slope = np.tan(np.radians(angle))
        projected = rows - (columns - centre_column) * slope
        counts = np.bincount(np.clip(np.round(projected - projected.min()).astype(np.int64), 0, None))
        score = float((counts.astype(np.float64) ** 2).sum())
        if score > best_score:
            best_angle, best_score = float(angle), score
    return best_angle


def straighten(dark: np.ndarray, angle_deg: float) -> np.ndarray:
    """`dark` rotated so that lines tilted by `angle_deg` (as `skew_degrees` reports) lie level."""
    from scipy import ndimage

    if abs(angle_deg) < SKEW_STEP_DEG / 2:
        return dark
    # rows = columns * tan(angle) is the tilt, and ndimage turns the array's content clockwise on
    # screen for a positive angle (rows point down), which is what levels it
    return ndimage.rotate(dark, angle_deg, reshape=False, order=1, mode="constant", cval=0.0)


def without_grid_columns(mask: np.ndarray, share: float = 0.35) -> np.ndarray:
    """`mask` with every pixel column cleared whose ink runs through more than `share` of the page:
    a vertical grid line dark enough to pass the ink threshold (a blurred red grid on a scan). No
    trace does that (12 leads in 4 rows leave most of any column blank), and clearing the few trace
    pixels in those columns leaves one-pixel gaps the trace follower bridges."""
    dense = mask.mean(axis=0) > share
    if not dense.any():
        return mask
    cleared = mask.copy()
    cleared[:, dense] = False
    return cleared


def without_specks(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """`mask` without connected ink blobs smaller than `min_pixels`: grid crossings that pass the
    threshold where a faint line alone would not, scanner noise, dust. A trace is one long stroke."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]
