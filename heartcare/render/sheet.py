"""Draw an `Ecg` onto ECG paper as an RGB array.

The static part of a sheet (paper, grid, calibration pulses, lead labels,
column markers) depends only on (PaperSpec, layout, rhythm lead), so it is
drawn once and cached; each record then costs one array copy, its traces
(`raster.polyline_coverage`) and a small header strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.render.layout import Panel, get_layout, panels
from heartcare.render.paper import PaperSpec
from heartcare.render.raster import composite, line_profile, polyline_coverage, polylines_coverage

# Non-identifying header fields, in order; names and IDs are never printed by default.
DEFAULT_HEADER_FIELDS: tuple[str, ...] = ("age", "sex", "hr_bpm")


@lru_cache(maxsize=8)
def _font(size_px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size_px)


def trace_polyline(panel: Panel, signal: np.ndarray, fs: float, spec: PaperSpec):
    """(x, y, box) in pixels of one lead's trace within its panel (for `polylines_coverage`).

    signal: [samples] mV of the whole record; only [start_s, stop_s) of the panel is drawn,
    plus one sample either side so successive columns join up.
    """
    scale = spec.px_per_mm
    first = max(int(np.floor(panel.start_s * fs)) - 1, 0)
    last = min(int(np.ceil(panel.stop_s * fs)) + 2, len(signal))
    times = np.arange(first, max(last, first), dtype=np.float64) / fs
    x = (panel.left_mm + (times - panel.start_s) * spec.speed_mm_s) * scale
    y = (panel.baseline_mm - signal[first:last].astype(np.float64) * spec.gain_mm_mv) * scale
    return x, y, panel.box_px(spec)


def calibration_polyline(panel: Panel, spec: PaperSpec) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in mm of the 1 mV pulse left of a row: 1 mm of baseline, the pulse, 1 mm of baseline."""
    start = spec.grid_origin_mm[0] + 1.0
    width = spec.calibration_s * spec.speed_mm_s
    height = spec.calibration_mv * spec.gain_mm_mv
    tiny = 1e-4  # vertical edges as near-vertical segments, so x stays increasing
    x = np.array([start, start + 1, start + 1 + tiny, start + 1 + width, start + 1 + width + tiny, start + 2 + width])
    base = panel.baseline_mm
    y = np.array([base, base, base - height, base - height, base, base])
    return x, y


def column_mark(panel: Panel, spec: PaperSpec) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) mm of the short bar marking where a later column's time window starts, as printouts do."""
    half = 2.0 * spec.gain_mm_mv / 10.0
    return (np.array([panel.left_mm, panel.left_mm + 1e-4]),
            np.array([panel.baseline_mm - half, panel.baseline_mm + half]))


def _draw_mm_polyline(image: np.ndarray, x_mm, y_mm, spec: PaperSpec, box, colour) -> None:
    scale = spec.px_per_mm
    rows, columns, coverage = polyline_coverage(
        np.asarray(x_mm) * scale, np.asarray(y_mm) * scale, box, spec.trace_line_mm * scale
    )
    composite(image, rows, columns, coverage, colour)


@lru_cache(maxsize=16)
def background(spec: PaperSpec, layout: str, rhythm_lead: str = "II") -> np.ndarray:
    """[H, W, 3] uint8 paper with grid, calibration pulses, labels and column marks (read-only)."""
    from PIL import Image, ImageDraw

    width, height = spec.size_px
    colours = spec.colours
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colours.paper
    scale = spec.px_per_mm
    left, top = spec.grid_origin_mm
    right, bottom = left + spec.grid_width_mm, top + spec.grid_height_mm
    if colours.show_grid:
        for pitch_mm, line_mm, colour in (
            (spec.minor_mm, spec.minor_line_mm, colours.minor_grid),
            (spec.major_mm, spec.major_line_mm, colours.major_grid),
        ):
            along_x = line_profile(width, left * scale, right * scale, pitch_mm * scale, line_mm * scale)
            along_y = line_profile(height, top * scale, bottom * scale, pitch_mm * scale, line_mm * scale)
            inside_x = np.zeros(width, np.float32)
            inside_y = np.zeros(height, np.float32)
            x0, x1, y0, y1 = (round(v * scale) for v in (left, right, top, bottom))
            inside_x[max(x0 - 1, 0) : x1 + 1] = 1
            inside_y[max(y0 - 1, 0) : y1 + 1] = 1
            alpha = np.maximum(along_x[None, :] * inside_y[:, None], along_y[:, None] * inside_x[None, :])
            blended = image + (np.asarray(colour, np.float32) - image) * alpha[..., None]
            image = (blended + 0.5).astype(np.uint8)
    sheet_panels = panels(layout, spec, rhythm_lead)
    full_box = (0, 0, width, height)
    for panel in sheet_panels:
        if panel.column == 0:
            x, y = calibration_polyline(panel, spec)
            _draw_mm_polyline(image, x, y, spec, full_box, colours.ink)
        else:
            mark_x, mark_y = column_mark(panel, spec)
            _draw_mm_polyline(image, mark_x, mark_y, spec, full_box, colours.ink)
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = _font(max(int(round(spec.label_size_mm * scale)), 6))
    for panel in sheet_panels:
        label_x = (panel.left_mm + 1.0) * scale
        label_y = (panel.top_mm + 1.0) * scale
        draw.text((label_x, label_y), panel.lead, fill=colours.ink, font=font)
    result = np.asarray(picture).copy()
    result.flags.writeable = False
    return result


def header_text(ecg: Ecg, spec: PaperSpec, fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS) -> str:
    """Speed, gain, fs and the requested non-identifying fields present in `ecg.meta`."""
    parts = [f"{spec.speed_mm_s:g} mm/s", f"{spec.gain_mm_mv:g} mm/mV", f"{ecg.fs:g} Hz"]
    names = {"age": "Age", "sex": "Sex", "hr_bpm": "HR"}
    for field_name in fields:
        value = ecg.meta.get(field_name)
        if value is None or value == "":
            continue
        if field_name == "hr_bpm":
            parts.append(f"HR {float(value):.0f} bpm")
        else:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            parts.append(f"{names.get(field_name, field_name)} {value}")
    return "   ".join(parts)


INK_LEVELS = 8  # anti-aliasing steps kept in the indexed (palette) PNG
BACKGROUND_COLOURS = 256 // INK_LEVELS


@lru_cache(maxsize=16)
def indexed_background(spec: PaperSpec, layout: str, rhythm_lead: str = "II") -> tuple[np.ndarray, np.ndarray]:
    """The cached background as palette indices: ([H, W] uint8 = colour * INK_LEVELS, palette [256, 3] uint8).

    Entry b * INK_LEVELS + k is background colour b blended with ink at k / (INK_LEVELS - 1),
    so a trace pixel is written by adding its quantised coverage to the index.
    """
    from PIL import Image

    rgb = background(spec, layout, rhythm_lead)
    quantised = Image.fromarray(rgb).quantize(
        colors=BACKGROUND_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    base_palette = np.asarray(quantised.getpalette()[: 3 * BACKGROUND_COLOURS], np.float32).reshape(-1, 3)
    base_palette = np.pad(base_palette, ((0, BACKGROUND_COLOURS - len(base_palette)), (0, 0)))
    levels = np.arange(INK_LEVELS, dtype=np.float32) / (INK_LEVELS - 1)
    ink = np.asarray(spec.colours.ink, np.float32)
    palette = base_palette[:, None, :] + (ink - base_palette[:, None, :]) * levels[None, :, None]
    index = (np.asarray(quantised, np.uint8).astype(np.uint16) * INK_LEVELS).astype(np.uint8)
    index.flags.writeable = False
    return index, (palette.reshape(-1, 3) + 0.5).astype(np.uint8)


@dataclass
class SheetLayers:
    """What one sheet is made of: the cached background key plus the record's ink pixels."""

    spec: PaperSpec
    layout: str
    rhythm_lead: str
    rows: np.ndarray  # [m] pixel rows of ink (traces and header text)
    columns: np.ndarray  # [m]
    coverage: np.ndarray  # [m] float32 in (0, 1]

    def to_rgb(self) -> np.ndarray:
        """[H, W, 3] uint8 RGB."""
        image = background(self.spec, self.layout, self.rhythm_lead).copy()
        composite(image, self.rows, self.columns, self.coverage, self.spec.colours.ink)
        return image

    def to_indexed(self) -> tuple[np.ndarray, np.ndarray]:
        """([H, W] uint8 palette indices, [256, 3] palette): 3x less data for a fast PNG."""
        base, palette = indexed_background(self.spec, self.layout, self.rhythm_lead)
        index = base.copy()
        if len(self.rows):
            width = index.shape[1]
            flat = index.reshape(-1)
            position = self.rows * width + self.columns
            level = np.rint(self.coverage * (INK_LEVELS - 1)).astype(np.uint8)
            flat[position] = (flat[position] & np.uint8(256 - INK_LEVELS)) | level
        return index, palette


@lru_cache(maxsize=256)
def _header_pixels(text: str, spec: PaperSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ink pixels of the header line in the top margin (drawn as a coverage mask)."""
    from PIL import Image, ImageDraw

    scale = spec.px_per_mm
    strip_height = max(int(spec.margin_top_mm * scale) - 2, 1)
    mask = Image.new("L", (spec.size_px[0], strip_height), 0)
    font = _font(max(int(round(spec.label_size_mm * 1.1 * scale)), 6))
    ImageDraw.Draw(mask).text((spec.margin_left_mm * scale, spec.margin_top_mm * 0.3 * scale), text, fill=255, font=font)
    values = np.asarray(mask)
    rows, columns = np.nonzero(values)
    return rows.astype(np.int64), columns.astype(np.int64), values[rows, columns].astype(np.float32) / 255.0


def sheet_layers(
    ecg: Ecg,
    layout: str = "3x4+II",
    spec: PaperSpec | None = None,
    rhythm_lead: str = "II",
    header_fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS,
) -> SheetLayers:
    """Compute the ink of one record on a sheet (traces clipped to their panels, header)."""
    spec = spec or PaperSpec()
    get_layout(layout)
    lines = [
        trace_polyline(panel, ecg.lead(panel.lead), ecg.fs, spec)
        for panel in panels(layout, spec, rhythm_lead)
        # a missing lead stays blank rather than drawn as a flat line
        if panel.lead in ecg.leads and ecg.lead_mask[ecg.leads.index(panel.lead)]
    ]
    rows, columns, coverage = polylines_coverage(lines, spec.trace_line_mm * spec.px_per_mm)
    all_rows, all_columns, all_coverage = [rows], [columns], [coverage]
    if spec.header:
        rows, columns, coverage = _header_pixels(header_text(ecg, spec, header_fields), spec)
        all_rows.append(rows)
        all_columns.append(columns)
        all_coverage.append(coverage)
    return SheetLayers(
        spec, layout, rhythm_lead, np.concatenate(all_rows), np.concatenate(all_columns), np.concatenate(all_coverage)
    )


def render_array(
    ecg: Ecg,
    layout: str = "3x4+II",
    spec: PaperSpec | None = None,
    rhythm_lead: str = "II",
    header_fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS,
) -> np.ndarray:
    """The sheet as [H, W, 3] uint8 RGB (H, W = spec.size_px reversed)."""
    return sheet_layers(ecg, layout, spec, rhythm_lead, header_fields).to_rgb()


def render_parameters(ecg: Ecg, layout: str, spec: PaperSpec, rhythm_lead: str) -> dict[str, Any]:
    """Everything needed to redraw or invert the sheet (stored in PNG text chunks)."""
    return {
        "renderer": "heartcare.render",
        "layout": layout,
        "rhythm_lead": rhythm_lead,
        "fs": ecg.fs,
        "seconds": ecg.seconds,
        "spec": spec.to_dict(),
    }
