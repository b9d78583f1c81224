"""Optics and sensor: Gaussian blur and Gaussian noise on Pillow RGB images, fast.

Blur is a separable convolution in 16-bit integers (taps in 1/256, kernel cut at
1.5 sigma, edges replicated): a few vectorised passes, no float image (Pillow's
GaussianBlur runs three box passes on four bytes a pixel: several times slower).
With OpenCV installed (the `fast` extra) the same integer sums run in its SIMD
filter, ~1.4x faster and bit-identical, so images never depend on the install. Noise draws
one uniform byte per sample from the step's own seed and maps it through the normal
quantile function with a 256-entry table, then adds it in Pillow's C loop.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

TAP_UNIT = 256  # taps sum to 256: 255 * 256 still fits in uint16


@lru_cache(maxsize=256)
def gaussian_taps(sigma: float) -> tuple[int, ...]:
    """Integer taps (centre, 1, 2, ...) of a Gaussian with std `sigma`, symmetric sum == TAP_UNIT."""
    reach = max(1, math.ceil(1.5 * sigma))
    weights = np.exp(-np.arange(reach + 1) ** 2 / (2.0 * max(sigma, 1e-3) ** 2))
    weights /= weights[0] + 2.0 * weights[1:].sum()
    side = [int(round(value * TAP_UNIT)) for value in weights[1:]]
    return (TAP_UNIT - 2 * sum(side), *side)


def _convolve(values: np.ndarray, taps: tuple[int, ...], axis: int) -> np.ndarray:
    """One separable pass along `axis` (0 rows, 1 columns) of [H, W, 3] values <= 255 (uint8 or uint16).

    Sums go straight into uint16 (numpy's dtype= on the ufunc): no padded copy; the
    few edge pixels take their clamped neighbours (the edge pixel repeated).
    """
    length = values.shape[axis]

    def cut(array: np.ndarray, start: int, stop: int) -> np.ndarray:
        return array[start:stop] if axis == 0 else array[:, start:stop]

    result = np.multiply(values, np.uint16(taps[0]), dtype=np.uint16)
    for offset, weight in enumerate(taps[1:], start=1):
        if weight == 0 or 2 * offset >= length:
            continue
        pair = np.add(cut(values, 0, length - 2 * offset), cut(values, 2 * offset, length), dtype=np.uint16)
        pair *= np.uint16(weight)
        cut(result, offset, length - offset)[...] += pair
        for edge in range(offset):  # the first and last `offset` pixels: neighbours clamped inside
            for index in (edge, length - 1 - edge):
                before, after = max(index - offset, 0), min(index + offset, length - 1)
                neighbours = np.add(cut(values, before, before + 1), cut(values, after, after + 1), dtype=np.uint16)
                cut(result, index, index + 1)[...] += neighbours * np.uint16(weight)
    result += np.uint16(TAP_UNIT // 2)  # round to nearest
    result >>= np.uint16(8)
    return result


def _blur_with_opencv(values: np.ndarray, taps: tuple[int, ...]) -> np.ndarray | None:
    """`_convolve` along columns then rows, through OpenCV's separable filter; None without OpenCV.

    Bit-identical to the numpy passes: a sum of byte x integer tap products stays below
    2**16, so float32 holds every partial sum exactly, and round((sum + 0.5) / 256) ==
    (sum + 128) >> 8 because the halved value is never a rounding tie. Replicated
    borders are the clamped neighbours of `_convolve` (and of the tiny-image padding).
    """
    try:
        import cv2
    except ImportError:
        return None
    # Data-engine workers are separate processes: OpenCV's own thread pool would only contend.
    cv2.setNumThreads(1)
    kernel = np.array([*taps[:0:-1], *taps], np.float32)  # [2 * reach + 1] integer taps
    identity = np.ones(1, np.float32)
    for row_kernel, column_kernel in ((kernel, identity), (identity, kernel)):
        sums = cv2.sepFilter2D(values, cv2.CV_32F, row_kernel, column_kernel, delta=0.5, borderType=cv2.BORDER_REPLICATE)
        values = cv2.convertScaleAbs(sums, alpha=1.0 / TAP_UNIT)  # exact /256 and round: uint8 [H, W, 3]
    return values


def blur(picture, radius):
    """Gaussian blur with standard deviation `radius` pixels (out of focus, motion-free)."""
    from PIL import Image

    taps = gaussian_taps(round(float(radius), 4))
    if taps[0] == TAP_UNIT:
        return picture.copy()
    values = np.asarray(picture)
    blurred = _blur_with_opencv(values, taps)
    return Image.fromarray(blurred if blurred is not None else _blur_with_numpy(values, taps))


def _blur_with_numpy(values: np.ndarray, taps: tuple[int, ...]) -> np.ndarray:
    """`_convolve` along columns then rows of uint8 [H, W, 3]; the definition OpenCV must match."""
    reach = len(taps) - 1
    if min(values.shape[:2]) <= 2 * reach:  # tiny image: pad so every tap lands inside
        padded = np.pad(values, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
        return _convolve(_convolve(padded, taps, axis=1), taps, axis=0)[reach:-reach, reach:-reach].astype(np.uint8)
    return _convolve(_convolve(values, taps, axis=1), taps, axis=0).astype(np.uint8)


@lru_cache(maxsize=256)
def _noise_table(sigma: float) -> tuple[int, ...]:
    """Byte k -> 128 + sigma * (normal quantile of (k + 0.5) / 256), rounded and clipped."""
    normal = NormalDist()
    return tuple(min(255, max(0, round(128 + sigma * normal.inv_cdf((k + 0.5) / 256)))) for k in range(256))


def gaussian_noise(picture, sigma, seed):
    """Add independent Gaussian noise (std `sigma` grey levels) to every channel of every pixel."""
    from PIL import Image, ImageChops

    uniform = np.random.default_rng(seed).bytes(picture.width * picture.height * 3)  # raw bytes: cheapest draw
    noise = Image.frombytes("RGB", picture.size, uniform).point(list(_noise_table(round(float(sigma), 4))) * 3)
    return ImageChops.add(picture, noise, 1.0, -128)  # (image + noise) - 128, clipped to 0..255
