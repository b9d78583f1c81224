"""Optics and sensor: Gaussian blur and Gaussian noise on Pillow RGB images, fast.

Blur is a separable convolution with integer taps (in 1/256, kernel cut at 1.5
sigma, edges replicated), summed exactly over both axes and rounded once (half to
even) from the 2-D sum in 1/65536: a few vectorised integer passes, no float image
(Pillow's GaussianBlur runs three box passes on four bytes a pixel: several times
slower). With OpenCV installed (the `fast` extra) the same exact sums run in its SIMD
filter, ~4x faster and bit-identical, so images never depend on the install. Noise
takes one raw byte per sample from the step's own seed (the bit generator's output,
~5x cheaper than `Generator.bytes`) and maps it through the normal quantile function
with a 256-entry table, then adds it in Pillow's C loop.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

TAP_UNIT = 256  # 1-D taps sum to 256, so a 2-D sum of bytes is at most 255 * 65536 < 2**24
_2D_SHIFT = 16  # the 2-D sum is in units of 1 / (256 * 256)


@lru_cache(maxsize=256)
def gaussian_taps(sigma: float) -> tuple[int, ...]:
    """Integer taps (centre, 1, 2, ...) of a Gaussian with std `sigma`, symmetric sum == TAP_UNIT."""
    reach = max(1, math.ceil(1.5 * sigma))
    weights = np.exp(-np.arange(reach + 1) ** 2 / (2.0 * max(sigma, 1e-3) ** 2))
    weights /= weights[0] + 2.0 * weights[1:].sum()
    side = [int(round(value * TAP_UNIT)) for value in weights[1:]]
    return (TAP_UNIT - 2 * sum(side), *side)


def _convolve(values: np.ndarray, taps: tuple[int, ...], axis: int) -> np.ndarray:
    """One separable pass along `axis` (0 rows, 1 columns) of [H, W, 3] values: exact uint32 sums.

    Sums go straight into uint32 (numpy's dtype= on the ufunc): no padded copy; the
    few edge pixels take their clamped neighbours (the edge pixel repeated).
    """
    length = values.shape[axis]

    def cut(array: np.ndarray, start: int, stop: int) -> np.ndarray:
        return array[start:stop] if axis == 0 else array[:, start:stop]

    result = np.multiply(values, np.uint32(taps[0]), dtype=np.uint32)
    for offset, weight in enumerate(taps[1:], start=1):
        if weight == 0 or 2 * offset >= length:
            continue
        pair = np.add(cut(values, 0, length - 2 * offset), cut(values, 2 * offset, length), dtype=np.uint32)
        pair *= np.uint32(weight)
        cut(result, offset, length - offset)[...] += pair
        for edge in range(offset):  # the first and last `offset` pixels: neighbours clamped inside
            for index in (edge, length - 1 - edge):
                before, after = max(index - offset, 0), min(index + offset, length - 1)
                neighbours = np.add(cut(values, before, before + 1), cut(values, after, after + 1), dtype=np.uint32)
                cut(result, index, index + 1)[...] += neighbours * np.uint32(weight)
    return result


def round_sums(sums: np.ndarray) -> np.ndarray:
    """uint32 2-D sums (units of 1/65536) -> uint8, rounded to nearest with ties to even
    (what OpenCV's float-to-byte conversion does, so both paths agree on every sum)."""
    odd = (sums >> np.uint32(_2D_SHIFT)) & np.uint32(1)
    return ((sums + np.uint32((1 << (_2D_SHIFT - 1)) - 1) + odd) >> np.uint32(_2D_SHIFT)).astype(np.uint8)


def _blur_with_opencv(values: np.ndarray, taps: tuple[int, ...]) -> np.ndarray | None:
    """The 2-D blur of `_blur_with_numpy` through OpenCV's separable filter; None without OpenCV.

    Bit-identical to the numpy passes: every 2-D sum of byte x integer tap products
    is an integer below 2**24, so float32 holds it (and every partial sum) exactly;
    scaling by 2**-16 is exact, and the conversion to bytes rounds half to even like
    `round_sums`. Replicated borders are the clamped neighbours of `_convolve`.
    """
    try:
        import cv2
    except ImportError:
        return None
    # Data-engine workers are separate processes: OpenCV's own thread pool would only contend.
    cv2.setNumThreads(1)
    kernel = np.array([*taps[:0:-1], *taps], np.float32)  # [2 * reach + 1] integer taps
    sums = cv2.sepFilter2D(values, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    return cv2.convertScaleAbs(sums, alpha=1.0 / (1 << _2D_SHIFT))  # exact scaling, round half to even


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
    """`_convolve` along columns then rows of uint8 [H, W, 3], rounded once: the definition OpenCV must match."""
    reach = len(taps) - 1
    if min(values.shape[:2]) <= 2 * reach:  # tiny image: pad so every tap lands inside
        padded = np.pad(values, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
        return round_sums(_convolve(_convolve(padded, taps, axis=1), taps, axis=0)[reach:-reach, reach:-reach])
    return round_sums(_convolve(_convolve(values, taps, axis=1), taps, axis=0))


def random_bytes(seed: int, count: int) -> bytes:
    """`count` uniform bytes from PCG64 seeded with `seed`: its raw 64-bit outputs, little-endian
    on every platform."""
    words = np.random.PCG64(seed).random_raw((count + 7) // 8).astype("<u8", copy=False)
    return words.view(np.uint8)[:count].tobytes()


@lru_cache(maxsize=256)
def _noise_table(sigma: float) -> tuple[int, ...]:
    """Byte k -> 128 + sigma * (normal quantile of (k + 0.5) / 256), rounded and clipped."""
    normal = NormalDist()
    return tuple(min(255, max(0, round(128 + sigma * normal.inv_cdf((k + 0.5) / 256)))) for k in range(256))


def gaussian_noise(picture, sigma, seed):
    """Add independent Gaussian noise (std `sigma` grey levels) to every channel of every pixel."""
    from PIL import Image, ImageChops

    uniform = random_bytes(seed, picture.width * picture.height * 3)
    noise = Image.frombytes("RGB", picture.size, uniform).point(list(_noise_table(round(float(sigma), 4))) * 3)
    return ImageChops.add(picture, noise, 1.0, -128)  # (image + noise) - 128, clipped to 0..255
