"""`render()`: one entry point from an `Ecg` to an array, PNG/JPEG bytes, SVG or PDF.

PNGs of clean sheets are written as indexed images (a 256-colour palette: 32
background colours x 8 anti-aliasing steps of ink), which Pillow encodes about
5x faster than RGB at the same compression level and which decode to within a
few grey levels of the in-memory array. Every written file carries the render
parameters (PNG text chunk `heartcare`, SVG/PDF metadata) so it can be
redrawn or inverted.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError
from heartcare.render.paper import PaperSpec
from heartcare.render.sheet import DEFAULT_HEADER_FIELDS, render_parameters, sheet_layers

Format = Literal["array", "png", "jpg", "svg", "pdf"]
FORMATS: tuple[str, ...] = ("array", "png", "jpg", "svg", "pdf")
SUFFIX_FORMATS: dict[str, str] = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".svg": "svg", ".pdf": "pdf"}
PNG_COMPRESS_LEVEL = 1  # zlib level 1: nearly the size of level 6 on paper images, several times faster


def encode_image(
    image: np.ndarray | tuple[np.ndarray, np.ndarray], format: str = "png", parameters: dict[str, Any] | None = None,
    jpeg_quality: int = 90,
) -> bytes:
    """PNG or JPEG bytes of an RGB [H, W, 3] / grey [H, W] array or an (index, palette) pair."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    if isinstance(image, tuple):
        index, palette = image
        picture = Image.frombuffer("P", (index.shape[1], index.shape[0]), np.ascontiguousarray(index), "raw", "P", 0, 1)
        picture.putpalette(palette.reshape(-1).tobytes())
    else:
        picture = Image.fromarray(np.ascontiguousarray(image))
    buffer = io.BytesIO()
    if format == "png":
        info = PngInfo()
        if parameters is not None:
            info.add_text("heartcare", json.dumps(parameters))
        picture.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)
    elif format == "jpg":
        picture.convert("RGB").save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        raise ConfigError(None, f"cannot encode an image as {format!r}; use png or jpg")
    return buffer.getvalue()


def render(
    ecg: Ecg,
    layout: str = "3x4+II",
    spec: PaperSpec | None = None,
    *,
    rhythm_lead: str = "II",
    format: Format | None = None,
    path: str | Path | None = None,
    header_fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS,
) -> np.ndarray | bytes | str | Path:
    """Draw an ECG as paper.

    format "array" (default without a path): [H, W, 3] uint8 RGB; "png"/"jpg": bytes;
    "svg": str; "pdf": bytes. With `path`, the format follows its suffix unless given,
    the file is written atomically and its Path returned.
    """
    spec = spec or PaperSpec()
    if format is None:
        format = SUFFIX_FORMATS.get(Path(path).suffix.lower(), "png") if path is not None else "array"
    if format not in FORMATS:
        raise ConfigError(path, f"unknown output format {format!r}; known: {', '.join(FORMATS)}")
    if format == "array" and path is not None:
        raise ConfigError(path, "format 'array' cannot be written to a file; use png, jpg, svg or pdf")
    parameters = render_parameters(ecg, layout, spec, rhythm_lead)
    data: Any
    if format in ("svg", "pdf"):
        from heartcare.render import vector

        writer = vector.render_svg if format == "svg" else vector.render_pdf
        data = writer(ecg, layout, spec, rhythm_lead=rhythm_lead, header_fields=header_fields)
    else:
        layers = sheet_layers(ecg, layout, spec, rhythm_lead, header_fields)
        if format == "array":
            return layers.to_rgb()
        source = layers.to_indexed() if format == "png" else layers.to_rgb()
        data = encode_image(source, format, parameters)
    if path is None:
        return data
    return write_atomic(path, data)
