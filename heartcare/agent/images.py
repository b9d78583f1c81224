"""Diversified Image Generator: each ECG drawn as paper, then degraded by a preset.

Presets (clean / print / scan / photo) come from `heartcare.render.augment`; the
drawn parameters are returned so records.parquet can store them next to the path.
Only age and sex reach the sheet header: names, ids and dates never get drawn.

Formats: clean and print sheets are PNG (flat colours, lossless). Scanned and
photographed paper is stored as JPEG, as scanners and phones write it: the scan and
photo presets end in a `jpeg` step (encode at a drawn quality, decode), and storing
that step's own bytes instead of re-encoding its decoded pixels skips one decode and
one encode per image, adds no second generation of JPEG loss, and keeps files about
10x smaller than PNG (scan ~175 kB, photo ~110 kB at 100 dpi, against ~1.6 MB; a
PTB-XL-size build holds ~7.5 GB of images instead of ~22 GB).
The stored file decodes to exactly `replay(sheet, steps)`, so the recorded
parameters still define the image; a scan whose `jpeg` step was not drawn is stored
at `JPEG_QUALITY`. `parameters["format"]` says which.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from heartcare.agent.stages import StageClock, timed
from heartcare.ecg.record import Ecg

JPEG_PRESETS = frozenset({"scan", "photo"})  # photographed/scanned paper: stored as a camera would
JPEG_QUALITY = 90
FORMAT_SUFFIX = {"png": "png", "jpeg": "jpg"}


def encode_jpeg(image: Any, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG (Pillow's defaults: 4:2:0, no metadata) of a uint8 [H, W, 3] array or a
    Pillow image, exactly as the renderer's `jpeg` augmentation step encodes it."""
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def sample_steps(shape: tuple[int, ...], preset: str, seed: int, colours: Any) -> list[dict[str, Any]]:
    """The steps `augment(image, preset, seed, colours)` draws for an image of `shape`
    (same generator, same order, skipped steps still drawn), without applying them."""
    from heartcare.render.augment import PRESETS
    from heartcare.render.augment_steps import STEPS

    rng = np.random.default_rng(seed)
    applied: list[dict[str, Any]] = []
    for choice in PRESETS[preset]:
        apply_step = rng.random() < choice.probability
        params = STEPS[choice.name].sample(rng, shape, **choice.ranges)
        if not apply_step:
            continue
        if choice.name == "recolour":
            params.update(source_paper=list(colours.paper), source_grid=list(colours.major_grid), source_ink=list(colours.ink))
        applied.append({"step": choice.name, **params})
    return applied


def augmented_file(
    sheet: np.ndarray, preset: str, seed: int, colours: Any, clock: StageClock | None = None
) -> tuple[bytes, dict[str, Any]]:
    """(file bytes, parameters) of `sheet` [H, W, 3] uint8 degraded by `preset`.

    parameters: the augmentation record ({"preset", "seed", "steps"}, what
    `AugmentResult.parameters()` gives), "format" ("png"/"jpeg") and, for JPEG,
    "jpeg_quality". `clock` times "augment" and "encode_png"/"encode_jpeg".
    """
    from heartcare.agent.png import encode_png
    from heartcare.render.augment import replay_picture

    steps = sample_steps(sheet.shape, preset, seed, colours)
    parameters: dict[str, Any] = {"augment": {"preset": preset, "seed": seed, "steps": steps}}
    if preset not in JPEG_PRESETS:
        with timed(clock, "augment"):
            image = replay_picture(sheet, steps)
        with timed(clock, "encode_png"):
            return encode_png(np.asarray(image)), {**parameters, "format": "png"}  # one-filter PNG, see `png`
    final_jpeg = bool(steps) and steps[-1]["step"] == "jpeg"
    with timed(clock, "augment"):
        kept = steps[:-1] if final_jpeg else steps
        image = replay_picture(sheet, kept)
    quality = int(steps[-1]["quality"]) if final_jpeg else JPEG_QUALITY
    with timed(clock, "encode_jpeg"):
        data = encode_jpeg(image, quality)
    return data, {**parameters, "format": "jpeg", "jpeg_quality": quality}


def draw_images(
    ecg: Ecg,
    count: int,
    presets: tuple[str, ...],
    rng: np.random.Generator,
    dpi: float = 100.0,
    age: int | None = None,
    sex: str | None = None,
    clock: StageClock | None = None,
) -> list[tuple[bytes, dict[str, Any]]]:
    """`count` images of `ecg` as (PNG or JPEG bytes, parameters with "format");
    `clock` times render/augment/encode."""
    from heartcare.agent.png import encode_png
    from heartcare.render import PaperSpec
    from heartcare.render.sheet import DEFAULT_HEADER_FIELDS, render_parameters, sheet_layers

    spec = PaperSpec(dpi=dpi)
    # A fresh meta dict: whatever identifying keys the source put into ecg.meta stay out.
    safe = Ecg(ecg.signal, ecg.fs, ecg.leads, {"age": age, "sex": sex, "lead_mask": list(map(bool, ecg.lead_mask))})
    drawn = render_parameters(safe, "3x4+II", spec, "II")  # the same for every image of this ECG
    layers = None  # the drawn sheet, shared by this ECG's images (what `render` would redraw each time)
    images = []
    for _ in range(count):
        preset = presets[int(rng.integers(len(presets)))]
        seed = int(rng.integers(2**31))
        parameters: dict[str, Any] = {"render": drawn}
        if preset == "clean":
            with timed(clock, "render_clean_png"):
                layers = layers or sheet_layers(safe, "3x4+II", spec, "II", DEFAULT_HEADER_FIELDS)
                data = encode_png(layers.to_indexed(), {"heartcare": json.dumps(drawn)})
            parameters["augment"] = {"preset": "clean", "seed": seed, "steps": []}
            parameters["format"] = "png"
        else:
            with timed(clock, "render"):
                layers = layers or sheet_layers(safe, "3x4+II", spec, "II", DEFAULT_HEADER_FIELDS)
                sheet = layers.to_rgb()  # a fresh array: augment may work in place
            data, stored = augmented_file(sheet, preset, seed, spec.colours, clock)
            parameters.update(stored)
        images.append((bytes(data), parameters))  # type: ignore[arg-type]
    return images


def context_spec(seconds: float, leads: int, dpi: float) -> Any:
    """A sheet just wide enough for `seconds` at 25 mm/s with one 20-mm row per lead."""
    from heartcare.render import PaperSpec

    base = PaperSpec(dpi=dpi)
    width = base.margin_left_mm + base.margin_right_mm + base.calibration_width_mm + seconds * base.speed_mm_s
    height = base.margin_top_mm + base.margin_bottom_mm + 20.0 * leads
    return PaperSpec(dpi=dpi, width_mm=round(width, 3), height_mm=round(height, 3))


def draw_context(
    ecg: Ecg, layout: str, dpi: float = 100.0, age: int | None = None, sex: str | None = None
) -> tuple[bytes, dict[str, Any]]:
    """The prediction context (e.g. 4 s) drawn clean as one sheet: (indexed PNG, parameters)."""
    from heartcare.render.sheet import render_parameters

    spec = context_spec(ecg.samples / ecg.fs, len(ecg.leads), dpi)
    safe = Ecg(ecg.signal, ecg.fs, ecg.leads, {"age": age, "sex": sex, "lead_mask": list(map(bool, ecg.lead_mask))})
    drawn = render_parameters(safe, layout, spec, "II")
    return indexed_png(safe, layout, spec, drawn), {"render": drawn, "augment": {"preset": "clean", "steps": []}}


def indexed_png(ecg: Ecg, layout: str, spec: Any, parameters: dict[str, Any]) -> bytes:
    """What `render(ecg, layout, spec, format="png")` writes (indexed sheet + parameters
    text chunk), encoded by `encode_png`: about 5x faster than Pillow's encoder."""
    from heartcare.agent.png import encode_png
    from heartcare.render.sheet import DEFAULT_HEADER_FIELDS, sheet_layers

    layers = sheet_layers(ecg, layout, spec, "II", DEFAULT_HEADER_FIELDS)
    return encode_png(layers.to_indexed(), {"heartcare": json.dumps(parameters)})
