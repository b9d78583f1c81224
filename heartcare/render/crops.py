"""`lead_crops`: the 12 lead-wise sub-images HeartcareGPT's image stream reads.

Crops are cut from the known sheet geometry (`layout.panels`), never detected:
given an `Ecg` the sheet is drawn in the paper's 6x2 layout first; given an image
rendered by heartcare, the caller names the spec and layout it was drawn with.
"""

from __future__ import annotations

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError
from heartcare.render.layout import panels
from heartcare.render.paper import PaperSpec

# The 6x2 reading order: left column I-aVF top to bottom, then right column V1-V6.
CROP_ORDER: tuple[str, ...] = STANDARD_LEADS


def lead_crops(
    source: Ecg | np.ndarray,
    spec: PaperSpec | None = None,
    layout: str = "6x2",
    size: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """12 crops [h, w, 3] uint8 in CROP_ORDER, one lead panel each (rhythm strips excluded).

    source: an Ecg (drawn in `layout`, header off) or an image [H, W, 3] drawn with
    (spec, layout); an image of another size is assumed to be the same sheet rescaled.
    size: optional (width, height) every crop is resized to (for a vision tower).
    """
    spec = spec or PaperSpec()
    if isinstance(source, Ecg):
        from heartcare.render.output import render

        image = render(source, layout, spec.with_changes(header=False), format="array")
    else:
        image = np.asarray(source)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ConfigError(None, f"lead_crops needs an [H, W, 3] image, got shape {image.shape}")
        image = image[..., :3]
    width, height = spec.size_px
    scale_x, scale_y = image.shape[1] / width, image.shape[0] / height
    by_lead = {}
    for panel in panels(layout, spec):
        if panel.rhythm or panel.lead in by_lead:
            continue
        left, top, right, bottom = panel.box_px(spec)
        by_lead[panel.lead] = image[
            round(top * scale_y) : round(bottom * scale_y), round(left * scale_x) : round(right * scale_x)
        ]
    missing = [lead for lead in CROP_ORDER if lead not in by_lead]
    if missing:
        raise ConfigError(None, f"layout {layout!r} has no panel for lead(s) {', '.join(missing)}")
    crops = [np.ascontiguousarray(by_lead[lead]) for lead in CROP_ORDER]
    if size is not None:
        from PIL import Image

        crops = [np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR)) for crop in crops]
    return crops


def tile_crops(crops: list[np.ndarray]) -> np.ndarray:
    """Arrange 12 equal-size crops as the 6x2 grid the model sees: [6h, 2w, 3]."""
    if len(crops) != 12 or len({crop.shape for crop in crops}) != 1:
        raise ConfigError(None, "tile_crops needs 12 crops of one shape (pass size= to lead_crops)")
    left = np.concatenate(crops[:6], axis=0)
    right = np.concatenate(crops[6:], axis=0)
    return np.concatenate([left, right], axis=1)
