"""Diversified Image Generator: each ECG drawn as paper, then degraded by a preset.

Presets (clean / print / scan / photo) come from `heartcare.render.augment`; the
drawn parameters are returned so records.parquet can store them next to the path.
Only age and sex reach the sheet header: names, ids and dates never get drawn.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from heartcare.agent.stages import StageClock, timed
from heartcare.ecg.record import Ecg


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
    """`count` PNG images of `ecg` as (bytes, parameters); `clock` times render/augment/encode."""
    from heartcare.agent.png import encode_png
    from heartcare.render import PaperSpec, augment
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
        else:
            with timed(clock, "render"):
                layers = layers or sheet_layers(safe, "3x4+II", spec, "II", DEFAULT_HEADER_FIELDS)
                sheet = layers.to_rgb()  # a fresh array: augment may work in place
            with timed(clock, "augment"):
                result = augment(sheet, preset, seed=seed, colours=spec.colours)
            with timed(clock, "encode_png"):
                data = encode_png(result.image)  # one-filter PNG: about half Pillow's time on noisy sheets
            parameters["augment"] = result.parameters()
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
