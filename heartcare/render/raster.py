"""Fast anti-aliased drawing in numpy: ECG polylines and the paper grid.

Traces use supersampled column spans: each pixel column is split into
`SUBCOLUMNS` slices; for each slice the polyline's vertical extent (the
interpolated values at the slice edges plus every sample inside) is widened by
the pen's half-width horizontally (a running min/max over neighbouring slices)
and vertically, and a pixel's coverage is the mean over its slices of the
exact vertical overlap. Only the covered pixels are touched, so a 12-lead sheet
costs a few tens of thousands of pixel updates instead of a full-frame pass.
"""

from __future__ import annotations

import numpy as np

SUBCOLUMNS = 4


def _dilate(values: np.ndarray, radius: int, reduce: np.ufunc) -> np.ndarray:
    """Running min/max over 2*radius+1 slices: the pen's width along x (reduce: np.minimum/np.maximum)."""
    result = values.copy()
    for shift in range(1, radius + 1):
        reduce(result[:-shift], values[shift:], out=result[:-shift])
        reduce(result[shift:], values[:-shift], out=result[shift:])
    return result


Polyline = tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]


def polylines_coverage(lines: list[Polyline], width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels covered by a pen of `width` px along each polyline, each clipped to its own box.

    lines: (x [n] increasing pixel columns (pixel i spans [i, i+1)), y [n] pixel rows,
    box (left, top, right, bottom) right/bottom exclusive). All lines are processed in
    one vectorised pass (a sheet's 13 panels cost the numpy calls of one).
    Returns rows [m] int, columns [m] int and coverage [m] float32 in (0, 1].
    """
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
    lines = [
        (np.asarray(x, np.float64), np.asarray(y, np.float64), box) for x, y, box in lines
        if len(x) >= 2 and box[2] > box[0] and box[3] > box[1] and x[-1] > box[0] and x[0] < box[2]
    ]
    if not lines:
        return empty
    count = len(lines)
    half = width / 2.0
    radius = int(round(half * SUBCOLUMNS))
    # undrawn pad columns around every box keep the pen dilation from reaching into the next line
    pad = max(-(-radius // SUBCOLUMNS), 1)
    left = np.array([box[0] - pad for _, _, box in lines], np.float64)
    top = np.array([box[1] for _, _, box in lines], np.float64)
    bottom = np.array([box[3] for _, _, box in lines], np.float64)
    columns = np.array([box[2] - box[0] + 2 * pad for _, _, box in lines], np.int64)
    first_x = np.array([x[0] for x, _, _ in lines])
    last_x = np.array([x[-1] for x, _, _ in lines])
    lengths = np.array([len(x) for x, _, _ in lines], np.int64)
    # one monotone polyline: line k shifted right by k * spacing, so a single interp serves all
    spacing = float(max(last_x.max(), left.max() + columns.max()) - min(first_x.min(), left.min()) + 10.0)
    shift = np.arange(count) * spacing
    all_x = np.concatenate([x for x, _, _ in lines]) + np.repeat(shift, lengths)
    all_y = np.concatenate([y for _, y, _ in lines])
    # slice edges: line k has columns_k * SUBCOLUMNS slices and one more edge than slices
    slices_per_line = columns * SUBCOLUMNS
    edges_per_line = slices_per_line + 1
    edge_line = np.repeat(np.arange(count), edges_per_line)
    edge_start = np.cumsum(edges_per_line) - edges_per_line
    edge_x = left[edge_line] + (np.arange(int(edges_per_line.sum())) - edge_start[edge_line]) / SUBCOLUMNS
    edge_y = np.interp(np.clip(edge_x, first_x[edge_line], last_x[edge_line]) + shift[edge_line], all_x, all_y)
    segment = np.repeat(np.arange(count), slices_per_line)
    slice_start = np.cumsum(slices_per_line) - slices_per_line
    left_edge = np.arange(int(slices_per_line.sum())) + segment  # index of each slice's left edge
    low = np.minimum(edge_y[left_edge], edge_y[left_edge + 1])
    high = np.maximum(edge_y[left_edge], edge_y[left_edge + 1])
    # every sample inside a slice widens it (peaks between slice edges are kept)
    sample_line = np.repeat(np.arange(count), lengths)
    sample_slice = np.floor((all_x - shift[sample_line] - left[sample_line]) * SUBCOLUMNS).astype(np.int64)
    inside = (sample_slice >= 0) & (sample_slice < slices_per_line[sample_line])
    target = sample_slice[inside] + slice_start[sample_line[inside]]
    np.minimum.at(low, target, all_y[inside])  # numpy >= 1.25 runs these unbuffered ufuncs fast
    np.maximum.at(high, target, all_y[inside])
    slice_left, slice_right = edge_x[left_edge], edge_x[left_edge + 1]
    drawn = (slice_right > first_x[segment]) & (slice_left < last_x[segment])
    low[~drawn], high[~drawn] = np.inf, -np.inf
    low, high = _dilate(low, radius, np.minimum), _dilate(high, radius, np.maximum)
    slice_top, slice_bottom = top[segment], bottom[segment]
    span_top = np.clip(low - half, slice_top, slice_bottom).astype(np.float32).reshape(-1, SUBCOLUMNS)
    span_bottom = np.clip(high + half, slice_top, slice_bottom).astype(np.float32).reshape(-1, SUBCOLUMNS)
    span_bottom = np.maximum(span_bottom, span_top)  # undrawn slices become empty spans
    tops = [np.ascontiguousarray(span_top[:, part]) for part in range(SUBCOLUMNS)]
    bottoms = [np.ascontiguousarray(span_bottom[:, part]) for part in range(SUBCOLUMNS)]
    column_top, column_bottom = tops[0].copy(), bottoms[0].copy()
    for part in range(1, SUBCOLUMNS):  # pairwise beats an axis-1 reduction over 4 values
        np.minimum(column_top, tops[part], out=column_top)
        np.maximum(column_bottom, bottoms[part], out=column_bottom)
    column_line = np.repeat(np.arange(count), columns)
    column_local = np.arange(int(columns.sum())) - np.repeat(np.cumsum(columns) - columns, columns)
    in_box = (column_local >= pad) & (column_local < columns[column_line] - pad)
    column_bottom[~in_box] = column_top[~in_box]  # pad columns draw nothing
    first_row = np.floor(column_top).astype(np.int64)
    counts = np.where(column_bottom > column_top, np.ceil(column_bottom).astype(np.int64) - first_row, 0)
    total = int(counts.sum())
    if total == 0:
        return empty
    column_pixel = left.astype(np.int64)[column_line] + column_local
    column_of = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rows = first_row[column_of] + (np.arange(total) - starts[column_of])
    row_top = rows.astype(np.float32)
    row_bottom = row_top + 1
    coverage = np.zeros(total, np.float32)
    for part in range(SUBCOLUMNS):  # 1-D gathers per slice are several times faster than one 2-D gather
        overlap = np.minimum(row_bottom, bottoms[part][column_of])
        overlap -= np.maximum(row_top, tops[part][column_of])
        coverage += np.clip(overlap, 0.0, 1.0, out=overlap)
    coverage *= 1.0 / SUBCOLUMNS
    keep = coverage > 1e-3
    return rows[keep], column_pixel[column_of[keep]], coverage[keep]


def polyline_coverage(
    x: np.ndarray, y: np.ndarray, box: tuple[int, int, int, int], width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`polylines_coverage` for a single polyline."""
    return polylines_coverage([(x, y, box)], width)


def composite(image: np.ndarray, rows: np.ndarray, columns: np.ndarray, coverage: np.ndarray, colour) -> None:
    """Blend `colour` into image [H, W, 3] uint8 in place at the given pixels."""
    if len(rows) == 0:
        return
    height, width, _ = image.shape
    flat = image.reshape(-1, 3)
    index = rows * width + columns
    alpha = coverage[:, None]
    current = flat[index].astype(np.float32)
    flat[index] = (current + (np.asarray(colour, np.float32) - current) * alpha + 0.5).astype(np.uint8)


def line_profile(length_px: int, start_px: float, stop_px: float, pitch_px: float, thickness_px: float) -> np.ndarray:
    """[length_px] coverage of evenly spaced lines along one axis (anti-aliased, 8x supersampled)."""
    samples = 8
    thickness_px = max(thickness_px, 1.0)  # thinner lines would vanish; a print keeps them visible
    position = (np.arange(length_px * samples) + 0.5) / samples
    offset = np.mod(position - start_px + pitch_px / 2, pitch_px) - pitch_px / 2
    hit = (np.abs(offset) <= thickness_px / 2) & (position >= start_px - thickness_px) & (
        position <= stop_px + thickness_px
    )
    return hit.reshape(length_px, samples).mean(axis=1).astype(np.float32)
