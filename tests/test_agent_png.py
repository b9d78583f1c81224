import io

import numpy as np
import pytest
from PIL import Image

from heartcare.agent.png import encode_png
from heartcare.errors import HeartcareError


@pytest.mark.parametrize("shape", [(37, 53, 3), (20, 31), (9, 7, 4)])
def test_png_decodes_to_the_same_pixels_and_is_deterministic(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    image[5:9] = 250  # flat rows, like paper background
    data = encode_png(image)
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == image.shape and np.array_equal(decoded, image)
    assert encode_png(image.copy()) == data


def test_png_rejects_what_it_cannot_write():
    with pytest.raises(HeartcareError):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(HeartcareError):
        encode_png(np.zeros((4, 4, 2), np.uint8))


def test_png_without_isal_decodes_the_same(monkeypatch):
    import sys

    image = np.random.default_rng(1).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    monkeypatch.setitem(sys.modules, "isal", None)  # import fails: the zlib path
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(image))))
    assert np.array_equal(decoded, image)
