"""OpenCV fast paths give the pixels of their definitions: blur equals the numpy passes
bit for bit (images never depend on the install), and the RGBA warp equals the plain
3-channel OpenCV warp."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.render.augment_filters import (
    _blur_with_numpy,
    _blur_with_opencv,
    blur,
    gaussian_taps,
)

pytest.importorskip("cv2")


@pytest.mark.parametrize("sigma", [0.2, 0.45, 0.8, 1.2, 1.6, 2.5, 4.0])
def test_opencv_blur_equals_numpy_blur(sigma):
    rng = np.random.default_rng(int(sigma * 100))
    taps = gaussian_taps(sigma)
    # full-size-ish sheets, odd shapes, and tiny images (the numpy path pads those)
    for shape in [(85, 110, 3), (1, 1, 3), (2, 9, 3), (5, 7, 3), (40, 3, 3), (17, 13, 3)]:
        values = rng.integers(0, 256, shape, dtype=np.uint8)
        values[: shape[0] // 2, : shape[1] // 3] = 255  # saturated block: the largest sums
        expected = _blur_with_numpy(values, taps)
        got = _blur_with_opencv(values, taps)
        assert got is not None and got.dtype == np.uint8 and got.shape == shape
        assert np.array_equal(got, expected), (sigma, shape)


def test_opencv_rounding_matches_integer_rounding_for_every_sum():
    import cv2

    from heartcare.render.augment_filters import round_sums

    sums = np.arange(255 * 65536 + 1, dtype=np.uint32)  # every 2-D sum a blur can produce
    rounded = cv2.convertScaleAbs(sums.astype(np.float32)[None, :], alpha=1.0 / 65536)[0]
    assert np.array_equal(rounded, round_sums(sums))
    # ties go to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    assert round_sums(np.array([32768, 98304, 163840], np.uint32)).tolist() == [0, 2, 2]


def test_blur_step_on_a_sheet_sized_image_uses_the_same_pixels():
    from PIL import Image

    values = np.random.default_rng(3).integers(0, 256, (850, 1100, 3), dtype=np.uint8)
    blurred = np.asarray(blur(Image.fromarray(values), 1.1))
    assert np.array_equal(blurred, _blur_with_numpy(values, gaussian_taps(1.1)))


@pytest.mark.parametrize("shape", [(850, 1100), (61, 47), (9, 5)])
def test_rgba_warp_equals_three_channel_warp(shape):
    import cv2
    from PIL import Image

    from heartcare.render.augment_geometry import (
        HOMOGRAPHIES,
        _warp_with_opencv,
        sample_perspective,
        sample_rotation,
        sample_scale_crop,
        warp,
    )

    rng = np.random.default_rng(shape[0])
    values = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    picture = Image.fromarray(values)
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    for _ in range(4):
        steps = [
            {"step": "perspective", **sample_perspective(rng, shape, shift=(0.0, 0.06))},
            {"step": "rotation", **sample_rotation(rng, shape, degrees=(-5.0, 5.0))},
            {"step": "scale_crop", **sample_scale_crop(rng, shape, zoom=(1.0, 1.12))},
        ]
        fill = tuple(steps[0]["fill"])
        matrix = np.eye(3)
        for record in steps:
            params = {key: value for key, value in record.items() if key != "step"}
            matrix = matrix @ HOMOGRAPHIES[record["step"]](shape, **params)
        matrix /= matrix[2, 2]
        expected = cv2.warpPerspective(
            values, np.linalg.inv(half) @ matrix @ half, picture.size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=fill,
        )
        assert np.array_equal(np.asarray(_warp_with_opencv(picture, matrix, fill)), expected)
        assert np.array_equal(np.asarray(warp(picture, steps)), expected)
