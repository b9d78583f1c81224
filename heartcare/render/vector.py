"""SVG and PDF sheets with every trace a separate vector path.

Both writers share one geometry (`layout.panels`) and one coordinate system:
millimetres from the page's top-left corner, y downwards. Traces keep full
sample resolution (coordinates to 1 micrometre), so signals can be read back.

PDF content stream (uncompressed, PDF 1.4, one page, Helvetica for text):

    q 2.834646 0 0 -2.834646 0 H cm          % from here on: mm, origin top-left, y down
    /Grid <</Kind /minor>> BDC ... S EMC      % grid lines as `x y m x y l` pairs
    /Calibration <</Lead (I) /Row 0 /MV 1 /Seconds 0.2>> BDC  x y m x y l ... S  EMC
    /Trace <</Lead (II) /Row 1 /Column 0 /Start 0 /Stop 2.5 /Left 19.7 /Baseline 45.2
             /Speed 25 /Gain 10>> BDC
      q left top width height re W n  x0 y0 m x1 y1 l ... S Q   % clipped to its panel
    EMC
    /ColumnMark BMC x y0 m x y1 l S EMC       % bar where a later column's window starts
    BT /F1 s Tf 1 0 0 -1 x y Tm (II) Tj ET    % labels and header (un-mirrored text)
    Q

A reader inverts a trace with t = Start + (x - Left) / Speed, mV = (Baseline - y) / Gain,
or, without the marked-content dictionaries, from the calibration pulse (its height is
`MV * Gain` mm, its width `Seconds * Speed` mm). The render parameters are also stored
as JSON in the document information dictionary under /HeartcareRender.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.render.layout import Panel, panels
from heartcare.render.paper import MM_PER_INCH, PaperSpec
from heartcare.render.sheet import (
    DEFAULT_HEADER_FIELDS,
    calibration_polyline,
    column_mark,
    header_text,
    render_parameters,
)

POINTS_PER_MM = 72.0 / MM_PER_INCH


def trace_points_mm(panel: Panel, signal: np.ndarray, fs: float, spec: PaperSpec) -> np.ndarray:
    """[n, 2] (x, y) mm of one panel's samples (one extra sample either side, clipped by the path's clip)."""
    first = max(int(np.floor(panel.start_s * fs)) - 1, 0)
    last = min(int(np.ceil(panel.stop_s * fs)) + 2, len(signal))
    times = np.arange(first, last) / fs
    x = panel.left_mm + (times - panel.start_s) * spec.speed_mm_s
    y = panel.baseline_mm - signal[first:last].astype(np.float64) * spec.gain_mm_mv
    return np.stack([x, y], axis=1)


def _grid_segments(spec: PaperSpec, pitch_mm: float, skip_every: int | None) -> list[tuple[float, float, float, float]]:
    left, top = spec.grid_origin_mm
    right, bottom = left + spec.grid_width_mm, top + spec.grid_height_mm
    segments = []
    for index in range(int(np.floor(spec.grid_width_mm / pitch_mm + 1e-9)) + 1):
        if skip_every and index % skip_every == 0:
            continue  # drawn by the major grid
        x = left + index * pitch_mm
        segments.append((x, top, x, bottom))
    for index in range(int(np.floor(spec.grid_height_mm / pitch_mm + 1e-9)) + 1):
        if skip_every and index % skip_every == 0:
            continue
        y = top + index * pitch_mm
        segments.append((left, y, right, y))
    return segments


def _drawn_panels(ecg: Ecg, layout: str, spec: PaperSpec, rhythm_lead: str):
    for panel in panels(layout, spec, rhythm_lead):
        if panel.lead in ecg.leads and ecg.lead_mask[ecg.leads.index(panel.lead)]:
            yield panel, trace_points_mm(panel, ecg.lead(panel.lead), ecg.fs, spec)


def _hex(colour) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in colour)


def render_svg(
    ecg: Ecg, layout: str = "3x4+II", spec: PaperSpec | None = None, *, rhythm_lead: str = "II",
    header_fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS,
) -> str:
    """The sheet as an SVG document (user units = mm); each trace a <path class="trace"> with data-* geometry."""
    spec = spec or PaperSpec()
    width, height = spec.page_mm
    colours = spec.colours
    parameters = json.dumps(render_parameters(ecg, layout, spec, rhythm_lead))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" viewBox="0 0 {width} {height}">',
        f"<metadata id=\"heartcare-render\">{escape(parameters)}</metadata>",
        f'<rect width="{width}" height="{height}" fill="{_hex(colours.paper)}"/>',
    ]
    if colours.show_grid:
        for kind, pitch, skip, line, colour in (
            ("minor", spec.minor_mm, spec.major_every, spec.minor_line_mm, colours.minor_grid),
            ("major", spec.major_mm, None, spec.major_line_mm, colours.major_grid),
        ):
            path = "".join(f"M{x0:.3f} {y0:.3f}L{x1:.3f} {y1:.3f}" for x0, y0, x1, y1 in _grid_segments(spec, pitch, skip))
            out.append(f'<path class="grid-{kind}" d="{path}" stroke="{_hex(colour)}" stroke-width="{line}" fill="none"/>')
    stroke = f'stroke="{_hex(colours.ink)}" stroke-width="{spec.trace_line_mm}" fill="none" stroke-linejoin="round"'
    font = f'font-family="Helvetica, Arial, sans-serif" font-size="{spec.label_size_mm}" fill="{_hex(colours.ink)}"'
    for panel in panels(layout, spec, rhythm_lead):
        if panel.column == 0:
            x, y = calibration_polyline(panel, spec)
            path = "M" + "L".join(f"{a:.3f} {b:.3f}" for a, b in zip(x, y, strict=True))
            out.append(
                f'<path class="calibration" data-row="{panel.row}" data-mv="{spec.calibration_mv}" '
                f'data-seconds="{spec.calibration_s}" d="{path}" {stroke}/>'
            )
        else:
            x, y = column_mark(panel, spec)
            out.append(f'<path class="column-mark" d="M{x[0]:.3f} {y[0]:.3f}L{x[1]:.3f} {y[1]:.3f}" {stroke}/>')
        out.append(f'<text x="{panel.left_mm + 1:.3f}" y="{panel.top_mm + 1 + spec.label_size_mm:.3f}" {font}>{escape(panel.lead)}</text>')
    out.append("<defs>")
    drawn = list(_drawn_panels(ecg, layout, spec, rhythm_lead))
    for index, (panel, _) in enumerate(drawn):
        out.append(
            f'<clipPath id="panel-{index}"><rect x="{panel.left_mm:.3f}" y="{panel.top_mm:.3f}" '
            f'width="{panel.width_mm:.3f}" height="{panel.height_mm:.3f}"/></clipPath>'
        )
    out.append("</defs>")
    for index, (panel, points) in enumerate(drawn):
        path = "M" + "L".join(f"{a:.3f} {b:.3f}" for a, b in points)
        out.append(
            f'<path class="trace" data-lead={quoteattr(panel.lead)} data-row="{panel.row}" data-column="{panel.column}" '
            f'data-start-s="{panel.start_s:g}" data-stop-s="{panel.stop_s:g}" data-left-mm="{panel.left_mm:.4f}" '
            f'data-baseline-mm="{panel.baseline_mm:.4f}" data-speed-mm-s="{spec.speed_mm_s:g}" '
            f'data-gain-mm-mv="{spec.gain_mm_mv:g}" clip-path="url(#panel-{index})" d="{path}" {stroke}/>'
        )
    if spec.header:
        out.append(
            f'<text class="header" x="{spec.margin_left_mm}" y="{spec.margin_top_mm * 0.3 + spec.label_size_mm * 1.1:.3f}" '
            f'{font}>{escape(header_text(ecg, spec, header_fields))}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _pdf_string(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return "(" + safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _rgb(colour) -> str:
    return " ".join(f"{c / 255:.4f}" for c in colour)


def _polyline(points) -> str:
    head, *rest = points
    return f"{head[0]:.3f} {head[1]:.3f} m\n" + "".join(f"{x:.3f} {y:.3f} l\n" for x, y in rest)


def render_pdf(
    ecg: Ecg, layout: str = "3x4+II", spec: PaperSpec | None = None, *, rhythm_lead: str = "II",
    header_fields: tuple[str, ...] = DEFAULT_HEADER_FIELDS,
) -> bytes:
    """The sheet as a one-page PDF (content stream documented in this module's docstring)."""
    spec = spec or PaperSpec()
    width_mm, height_mm = spec.page_mm
    width_pt, height_pt = width_mm * POINTS_PER_MM, height_mm * POINTS_PER_MM
    colours = spec.colours
    stream = [
        "% heartcare ECG sheet: after the cm below, units are mm, origin top-left, y down",
        f"q {POINTS_PER_MM:.6f} 0 0 {-POINTS_PER_MM:.6f} 0 {height_pt:.4f} cm",
        f"{_rgb(colours.paper)} rg 0 0 {width_mm} {height_mm} re f",
        "1 J 1 j",
    ]
    if colours.show_grid:
        for kind, pitch, skip, line, colour in (
            ("minor", spec.minor_mm, spec.major_every, spec.minor_line_mm, colours.minor_grid),
            ("major", spec.major_mm, None, spec.major_line_mm, colours.major_grid),
        ):
            segments = "".join(f"{x0:.3f} {y0:.3f} m {x1:.3f} {y1:.3f} l\n" for x0, y0, x1, y1 in _grid_segments(spec, pitch, skip))
            stream.append(f"/Grid <</Kind /{kind}>> BDC {line} w {_rgb(colour)} RG\n{segments}S EMC")
    stream.append(f"{spec.trace_line_mm} w {_rgb(colours.ink)} RG {_rgb(colours.ink)} rg")
    sheet_panels = panels(layout, spec, rhythm_lead)
    for panel in sheet_panels:
        if panel.column == 0:
            x, y = calibration_polyline(panel, spec)
            stream.append(
                f"/Calibration <</Lead {_pdf_string(panel.lead)} /Row {panel.row} /MV {spec.calibration_mv:g} "
                f"/Seconds {spec.calibration_s:g}>> BDC\n{_polyline(zip(x, y, strict=True))}S EMC"
            )
        else:
            x, y = column_mark(panel, spec)
            stream.append(f"/ColumnMark BMC {x[0]:.3f} {y[0]:.3f} m {x[1]:.3f} {y[1]:.3f} l S EMC")
    for panel, points in _drawn_panels(ecg, layout, spec, rhythm_lead):
        stream.append(
            f"/Trace <</Lead {_pdf_string(panel.lead)} /Row {panel.row} /Column {panel.column} "
            f"/Start {panel.start_s:g} /Stop {panel.stop_s:g} /Left {panel.left_mm:.4f} /Baseline {panel.baseline_mm:.4f} "
            f"/Speed {spec.speed_mm_s:g} /Gain {spec.gain_mm_mv:g}>> BDC\n"
            f"q {panel.left_mm:.3f} {panel.top_mm:.3f} {panel.width_mm:.3f} {panel.height_mm:.3f} re W n\n"
            f"{_polyline(points)}S Q EMC"
        )
    texts = [(panel.left_mm + 1, panel.top_mm + 1 + spec.label_size_mm, spec.label_size_mm, panel.lead) for panel in sheet_panels]
    if spec.header:
        texts.append((spec.margin_left_mm, spec.margin_top_mm * 0.3 + spec.label_size_mm * 1.1, spec.label_size_mm * 1.1,
                      header_text(ecg, spec, header_fields)))
    for x, y, size, text in texts:
        stream.append(f"BT /F1 {size:.3f} Tf 1 0 0 -1 {x:.3f} {y:.3f} Tm {_pdf_string(text)} Tj ET")
    stream.append("Q")
    content = ("\n".join(stream) + "\n").encode("latin-1")
    parameters = json.dumps(render_parameters(ecg, layout, spec, rhythm_lead))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.4f} {height_pt:.4f}] /Contents 4 0 R "
         f"/Resources << /Font << /F1 5 0 R >> >> >>").encode(),
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Producer (heartcare) /Title (ECG) /HeartcareRender {_pdf_string(parameters)} >>".encode("latin-1"),
    ]
    output = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(output)
    output += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    output += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(output)
