"""Diversified Image Generator: each ECG drawn as paper, then degraded by a preset.

Presets (clean / print / scan / photo) come from `heartcare.render.augment`; the
drawn parameters are returned so records.parquet can store them next to the path.
Only age and sex reach the sheet header: names, ids and dates never get drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heartcare.ecg.record import Ecg


def draw_images(
    ecg: Ecg,
    count: int,
    presets: tuple[str, ...],
    rng: np.random.Generator,
    dpi: float = 100.0,
    age: int | None = None,
    sex: str | None = None,
) -> list[tuple[bytes, dict[str, Any]]]:
    """`count` PNG images of `ecg` as (bytes, parameters)."""
    from heartcare.render import PaperSpec, augment, render
    from heartcare.render.output import encode_image
    from heartcare.render.sheet import render_parameters

    spec = PaperSpec(dpi=dpi)
    # A fresh meta dict: whatever identifying keys the source put into ecg.meta stay out.
    safe = Ecg(ecg.signal, ecg.fs, ecg.leads, {"age": age, "sex": sex, "lead_mask": list(map(bool, ecg.lead_mask))})
    images = []
    for _ in range(count):
        preset = presets[int(rng.integers(len(presets)))]
        seed = int(rng.integers(2**31))
        parameters: dict[str, Any] = {"render": render_parameters(safe, "3x4+II", spec, "II")}
        if preset == "clean":
            data = render(safe, "3x4+II", spec, format="png")  # indexed PNG: fast and small
            parameters["augment"] = {"preset": "clean", "seed": seed, "steps": []}
        else:
            result = augment(render(safe, "3x4+II", spec), preset, seed=seed, colours=spec.colours)
            data = encode_image(result.image, "png")
            parameters["augment"] = result.parameters()
        images.append((bytes(data), parameters))  # type: ignore[arg-type]
    return images
