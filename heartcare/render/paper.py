"""`PaperSpec`: the exact geometry and colours of an ECG paper sheet.

All positions are in millimetres from the page's top-left corner; pixels follow
from the DPI (`px = mm * dpi / 25.4`, pixel centres at `px + 0.5`). The grid
origin is the top-left corner of the grid area, so time `t` seconds after a
panel's start lies `t * speed_mm_s` mm right of the panel's left edge and a
voltage `v` mV lies `v * gain_mm_mv` mm above its baseline: every trace maps
back to (lead, time, mV) exactly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from heartcare.errors import ConfigError

MM_PER_INCH = 25.4

# Page sizes (width, height) in mm, landscape.
PAGE_SIZES_MM: dict[str, tuple[float, float]] = {
    "letter": (279.4, 215.9),
    "a4": (297.0, 210.0),
}

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class PaperColours:
    """Colours of the sheet (RGB 0-255; text is drawn in ink); `show_grid=False` draws blank paper."""

    paper: RGB = (255, 255, 255)
    minor_grid: RGB = (248, 205, 205)  # on the paper-major line, so re-inking is exact
    major_grid: RGB = (235, 120, 120)
    ink: RGB = (0, 0, 0)
    show_grid: bool = True

    def __post_init__(self) -> None:
        for name in ("paper", "minor_grid", "major_grid", "ink"):
            value = getattr(self, name)
            if len(value) != 3 or not all(0 <= int(c) <= 255 for c in value):
                raise ConfigError(None, f"PaperColours.{name} must be 3 integers in 0..255, got {value!r}")
            object.__setattr__(self, name, tuple(int(c) for c in value))


@dataclass(frozen=True)
class PaperSpec:
    """Paper speed, gain, grid, page and resolution of one rendered sheet.

    Defaults: US-letter landscape at 150 DPI = 1650 x 1275 px, 25 mm/s,
    10 mm/mV, 1 mm minor / 5 mm major grid (one large square = 0.2 s x 0.5 mV).
    """

    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    dpi: float = 150.0
    page: str = "letter"
    width_mm: float | None = None  # overrides `page` when both sizes are given
    height_mm: float | None = None
    margin_left_mm: float = 9.7
    margin_right_mm: float = 9.7
    margin_top_mm: float = 17.0  # room for the header line above the grid
    margin_bottom_mm: float = 6.0
    minor_mm: float = 1.0
    major_every: int = 5
    minor_line_mm: float = 0.1
    major_line_mm: float = 0.25
    trace_line_mm: float = 0.26
    calibration_mv: float = 1.0
    calibration_s: float = 0.2
    calibration_zone_mm: float = 10.0  # blank strip left of the panels holding the pulse
    label_size_mm: float = 3.2
    header: bool = True  # speed, gain, fs and non-identifying fields; never names or IDs
    colours: PaperColours = field(default_factory=PaperColours)

    def __post_init__(self) -> None:
        if self.speed_mm_s not in (25.0, 50.0) and not 5 <= self.speed_mm_s <= 200:
            raise ConfigError(None, f"paper speed must be 5..200 mm/s (25 or 50 usual), got {self.speed_mm_s}")
        if not 1 <= self.gain_mm_mv <= 100:
            raise ConfigError(None, f"gain must be 1..100 mm/mV (5, 10, 20 usual), got {self.gain_mm_mv}")
        if not 30 <= self.dpi <= 1200:
            raise ConfigError(None, f"dpi must be 30..1200, got {self.dpi}")
        if (self.width_mm is None) != (self.height_mm is None):
            raise ConfigError(None, "give both width_mm and height_mm, or neither")
        if self.width_mm is None and self.page not in PAGE_SIZES_MM:
            raise ConfigError(None, f"unknown page {self.page!r}; known: {', '.join(PAGE_SIZES_MM)}")
        if self.minor_mm <= 0 or self.major_every < 1:
            raise ConfigError(None, "minor_mm must be > 0 and major_every >= 1")
        if self.grid_width_mm <= 20 or self.grid_height_mm <= 20:
            raise ConfigError(None, "margins leave no room for the grid")
        if isinstance(self.colours, dict):
            object.__setattr__(self, "colours", PaperColours(**self.colours))

    # ---- sizes -------------------------------------------------------------
    @property
    def page_mm(self) -> tuple[float, float]:
        if self.width_mm is not None and self.height_mm is not None:
            return (float(self.width_mm), float(self.height_mm))
        return PAGE_SIZES_MM[self.page]

    @property
    def px_per_mm(self) -> float:
        return self.dpi / MM_PER_INCH

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        width, height = self.page_mm
        return (round(width * self.px_per_mm), round(height * self.px_per_mm))

    @property
    def grid_origin_mm(self) -> tuple[float, float]:
        return (self.margin_left_mm, self.margin_top_mm)

    @property
    def grid_width_mm(self) -> float:
        return self.page_mm[0] - self.margin_left_mm - self.margin_right_mm

    @property
    def grid_height_mm(self) -> float:
        return self.page_mm[1] - self.margin_top_mm - self.margin_bottom_mm

    @property
    def calibration_width_mm(self) -> float:
        """Width of the strip left of the panels that holds the pulse (wider at 50 mm/s)."""
        return max(self.calibration_zone_mm, self.calibration_s * self.speed_mm_s + 4.0)

    @property
    def major_mm(self) -> float:
        return self.minor_mm * self.major_every

    def mm_to_px(self, mm: float) -> float:
        return mm * self.px_per_mm

    # ---- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaperSpec:
        data = dict(data)
        if isinstance(data.get("colours"), dict):
            data["colours"] = PaperColours(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["colours"].items()})
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def with_changes(self, **changes: Any) -> PaperSpec:
        return replace(self, **changes)
