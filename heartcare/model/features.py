"""What the frozen encoders make of one ECG: Beat latents of the signal, pooled features of the picture.

Used twice with the same code: once per record by the feature cache (training and
the bench read the cache), and per request at inference on a file a user brings.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from heartcare.ecg.record import Ecg


def signal_latents(beat, ecg: Ecg) -> np.ndarray:
    """[windows * queries, dim] float32: the summed quantised Beat latents of the whole record, windows in time order."""
    from heartcare.beat.files import prepare_record

    prepared = prepare_record(ecg, beat.config)
    codes = beat.encode(prepared.signal[None], prepared.lead_mask[None])
    return codes.latents[0].float().numpy()


def context_latents(beat, ecg: Ecg):
    """(latents [queries, dim] of the last 4-s window, its PreparedContext): what a forecast continues."""
    from heartcare.beat.files import prepare_context

    prepared = prepare_context(ecg, beat.config)
    codes = beat.encode(prepared.window[None], prepared.lead_mask[None])
    return codes.latents[0].float().numpy(), prepared


def forecast(beat, prepared) -> Ecg:
    """Beat's prediction head on a PreparedContext: the next `horizon` samples in mV at Beat's rate."""
    import torch

    from heartcare.beat.files import forecast_of

    predicted = beat.predict(torch.from_numpy(prepared.window[None]), torch.from_numpy(prepared.lead_mask[None]))
    return forecast_of(prepared, predicted[0].numpy(), beat.config).prediction


def image_views(image: np.ndarray, parameters: dict[str, Any] | str | None, view: str) -> list[np.ndarray]:
    """The picture as the image stream reads it: 12 lead crops (sheets heartcare drew, whose render
    parameters are known) or the whole picture as one view (photos and scans users bring)."""
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    render = (parameters or {}).get("render")
    if view == "whole" or not render:
        return [np.asarray(image)[..., :3]]
    from heartcare.render.crops import lead_crops
    from heartcare.render.paper import PaperSpec

    return lead_crops(np.asarray(image), PaperSpec.from_dict(render["spec"]), render["layout"])


def drawn_views(ecg: Ecg, view: str) -> list[np.ndarray]:
    """An ECG drawn on clean paper in the 6 x 2 layout, as views (what `ask` shows the image stream for a signal file)."""
    from heartcare.render.crops import lead_crops
    from heartcare.render.paper import PaperSpec

    if view == "whole":
        return [drawn_page(ecg)]
    return lead_crops(ecg, PaperSpec(), "6x2")


def drawn_page(ecg: Ecg, layout: str = "6x2") -> np.ndarray:
    """[H, W, 3] uint8: the ECG on clean paper (in the 6 x 2 layout, as `drawn_views` draws it)."""
    from heartcare.render.output import render
    from heartcare.render.paper import PaperSpec

    return render(ecg, layout, PaperSpec(), format="array")


def read_picture(path) -> np.ndarray:
    """[H, W, 3] uint8 of a PNG/JPEG file."""
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))
