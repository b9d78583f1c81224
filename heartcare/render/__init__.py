"""ECG paper images: exact sheets, lead crops, augmentation, vector output.

    from heartcare.render import render, PaperSpec, lead_crops, augment
    image = render(ecg)                                   # [1275, 1650, 3] uint8, 3x4+II
    render(ecg, "6x2", PaperSpec(speed_mm_s=50), path="ecg.pdf")
"""

from heartcare.render.augment import PRESETS, AugmentResult, augment
from heartcare.render.crops import lead_crops, tile_crops
from heartcare.render.layout import LAYOUTS, LayoutSpec, Panel, panels
from heartcare.render.output import render
from heartcare.render.paper import PaperColours, PaperSpec

__all__ = [
    "LAYOUTS", "PRESETS", "AugmentResult", "LayoutSpec", "PaperColours", "PaperSpec", "Panel",
    "augment", "lead_crops", "panels", "render", "tile_crops",
]
