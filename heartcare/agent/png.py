"""A fast, deterministic PNG writer for augmented (RGB, noisy) sheets.

Pillow's PNG encoder tries all five row filters per row (adaptive filtering), which
on an 1100 x 850 photo/scan sheet costs about twice the deflate itself. Paper images
compress nearly as well with the single "Up" filter (rows repeat the grid), computed
here in one numpy subtraction, then deflated at level 1 by ISA-L (`isal`, the
`agent` extra: 4-6x faster than zlib on these noisy sheets at the same size) or by
zlib when it is missing. The output is a standard 8-bit PNG; the same array in the
same environment always gives the same bytes (with and without `isal` the bytes
differ, the pixels do not).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from heartcare.errors import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMPRESS_LEVEL = 1  # like the renderer's indexed PNGs: near level-6 size on paper, several times faster
_FILTER_UP = 2
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_INDEXED = 3  # PNG colour type of palette images


def _deflate(data: bytes) -> bytes:
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.compress(data, COMPRESS_LEVEL)
    return isal_zlib.compress(data, COMPRESS_LEVEL)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(
    image: np.ndarray | tuple[np.ndarray, np.ndarray], text: dict[str, str] | None = None
) -> bytes:
    """PNG bytes of a uint8 [H, W] grey, [H, W, 3] RGB or [H, W, 4] RGBA array, or of an
    (index [H, W] uint8, palette [N <= 256, 3] uint8) pair (the renderer's indexed
    sheets); `text`: tEXt chunks (keyword -> Latin-1 text), e.g. render parameters."""
    palette = None
    if isinstance(image, tuple):
        image, palette = np.asarray(image[0]), np.asarray(image[1], np.uint8).reshape(-1, 3)
        if image.ndim != 2 or not 1 <= len(palette) <= 256:
            raise ConfigError(None, f"an indexed PNG needs a [H, W] index and 1-256 palette colours, got {image.shape}, {palette.shape}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ConfigError(None, f"encode_png needs a non-empty uint8 [H, W(, C)] array, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in _COLOUR_TYPES:
        raise ConfigError(None, f"encode_png handles 1, 3 or 4 channels, got {channels}")
    rows = np.ascontiguousarray(image).reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 wraps modulo 256, as PNG wants
    colour_type = _COLOUR_TYPES[channels] if palette is None else _INDEXED
    chunks = [PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    if palette is not None:
        chunks.append(_chunk(b"PLTE", palette.tobytes()))
    for keyword, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")))
    chunks += [_chunk(b"IDAT", _deflate(filtered.tobytes())), _chunk(b"IEND", b"")]
    return b"".join(chunks)
