"""Sheet layouts: which lead goes where, over which time window.

A layout is data (`LayoutSpec`: rows of lead names plus optional full-width
rhythm strips); `panels(layout, spec)` turns it into exact `Panel` rectangles
in mm. Columns show successive time windows (column c of a 4-column row covers
[c, c+1) x 2.5 s at 25 mm/s), the way clinical 12-lead printouts do.
"""

from __future__ import annotations

from dataclasses import dataclass

from heartcare.errors import ConfigError
from heartcare.render.paper import PaperSpec


@dataclass(frozen=True)
class LayoutSpec:
    """rows: lead names per row (equal-width columns); rhythm rows span the full width."""

    name: str
    rows: tuple[tuple[str, ...], ...]
    rhythm_rows: int = 0  # number of full-width rhythm strips appended below

    def __post_init__(self) -> None:
        if not self.rows or any(len(row) != len(self.rows[0]) for row in self.rows):
            raise ConfigError(None, f"layout {self.name!r}: every row needs the same number of columns")

    @property
    def columns(self) -> int:
        return len(self.rows[0])

    @property
    def row_count(self) -> int:
        return len(self.rows) + self.rhythm_rows


LAYOUTS: dict[str, LayoutSpec] = {
    "3x4+II": LayoutSpec(
        "3x4+II",
        (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
        rhythm_rows=1,
    ),
    "3x4": LayoutSpec(
        "3x4", (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
    ),
    "6x2": LayoutSpec(
        "6x2",
        (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")),
    ),
    "12x1": LayoutSpec(
        "12x1", tuple((lead,) for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"))
    ),
}


@dataclass(frozen=True)
class Panel:
    """One lead's rectangle on the sheet, in mm from the page's top-left corner.

    A sample at time t (s) with value v (mV) is drawn at
    x = left_mm + (t - start_s) * speed, y = baseline_mm - v * gain.
    """

    lead: str
    row: int
    column: int
    start_s: float
    stop_s: float
    left_mm: float
    top_mm: float
    width_mm: float
    height_mm: float
    baseline_mm: float
    rhythm: bool = False

    def box_px(self, spec: PaperSpec) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) pixel bounds, right/bottom exclusive."""
        scale = spec.px_per_mm
        left, top = round(self.left_mm * scale), round(self.top_mm * scale)
        # sizes rounded once, so every panel of a layout has the same pixel size
        return (left, top, left + round(self.width_mm * scale), top + round(self.height_mm * scale))


def get_layout(name: str) -> LayoutSpec:
    """A registered layout by name; `3x4+V1` style names pick another rhythm lead."""
    if name in LAYOUTS:
        return LAYOUTS[name]
    raise ConfigError(None, f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")


def panels(
    layout: LayoutSpec | str, spec: PaperSpec, rhythm_lead: str = "II", baseline_fraction: float = 0.58
) -> list[Panel]:
    """Exact panel rectangles for a layout on a sheet.

    baseline_fraction: where the 0 mV line sits within a row, from its top
    (below the middle, because R waves rise more than S waves fall).
    """
    layout = get_layout(layout) if isinstance(layout, str) else layout
    grid_left, grid_top = spec.grid_origin_mm
    area_left = grid_left + spec.calibration_width_mm
    area_width = spec.grid_width_mm - spec.calibration_width_mm
    row_height = spec.grid_height_mm / layout.row_count
    column_width = area_width / layout.columns
    column_seconds = column_width / spec.speed_mm_s
    result: list[Panel] = []
    for row_index in range(layout.row_count):
        top = grid_top + row_index * row_height
        baseline = top + baseline_fraction * row_height
        if row_index < len(layout.rows):
            for column, lead in enumerate(layout.rows[row_index]):
                result.append(
                    Panel(
                        lead, row_index, column, column * column_seconds, (column + 1) * column_seconds,
                        area_left + column * column_width, top, column_width, row_height, baseline,
                    )
                )
        else:
            result.append(
                Panel(
                    rhythm_lead, row_index, 0, 0.0, area_width / spec.speed_mm_s,
                    area_left, top, area_width, row_height, baseline, rhythm=True,
                )
            )
    return result
