"""How the traces of an ECG page are drawn, row by row, read straight from the ink.

Why: a picture's noise (baseline wander, muscle tremor, static) and its recording quality are in
how the line looks, not in which waveform it draws. The image encoder's pooled lead crops
(ImageNet EfficientNet, heartcare.model.image_encoders) keep little of that, and reading the page
back into millivolts first (heartcare.render.digitize) fails on a third of the noisy pages it is
needed for, because a tremor-thickened trace breaks the calibration-pulse and trace-following
steps. Texture needs neither: it finds the trace rows (the ink's row histogram: the four strongest,
top first; on heartcare's standard 3 x 4 + II sheet its three lead rows and the rhythm strip, so a
page of another layout is read through its four clearest rows) and, within each row's band,
measures the stroke column by column.

Per trace row, 19 numbers, lengths in units of the row spacing so that resolution and zoom
mostly cancel (thickness, spread and share agree within a few thousandths of a row between 100
and 200 dpi; the range, an extreme, less well):
- the stroke: median and 90th-percentile ink thickness (tremor and static thicken it), their logs'
  median and 75th percentile, and the largest one-tenth-of-a-row run of thickness over its median
  (bursts);
- the centre line (the ink's mean height per column, gaps bridged): its spectrum's log power in five
  bands of cycles per row (0-7, 7-30, 30-100, 100-250, 250+; on a 10-s row 0-0.7, 0.7-3, 3-10,
  10-25, 25+ Hz: wander, beats, waves, tremor, static);
- its slow part (a running median over a tenth of the row: slower than any QRS): spread, range,
  log spread, log steepest step, share of the row more than a tenth of a row off its mean;
- what is left above the slow part: median column-to-column jump (jitter), log median and 95th
  percentile of its size;
- the share of columns with ink.
Then one flag: 1 when the rows were found, else 0 with every number 0 (a page too faint or too
cluttered to split into rows; the flag lets a classifier tell that apart). Which of these a reader
needs was measured, not assumed: benchmarks/texture_readability.py.
"""

from __future__ import annotations

import numpy as np

ROW_MEASURES = (
    "median thickness", "thick strokes", "log median thickness", "log thick strokes", "thickness bursts",
    "wander power", "beat power", "wave power", "tremor power", "static power",
    "wander", "wander range", "log wander", "log steepest wander", "off-baseline share",
    "jitter", "log residual", "log large residual", "inked share",
)
CYCLES_PER_ROW = (0.0, 7.0, 30.0, 100.0, 250.0, float("inf"))  # the five spectrum bands
BAND_ABOVE, BAND_BELOW = 0.55, 0.45  # a row's band around its baseline, in row spacings: QRS peaks rise higher than they fall
MIN_INKED_COLUMNS = 20  # fewer and the row's measures are noise
DEFAULT_ROWS = 4  # the renderer's standard 3 x 4 + rhythm strip


def texture_width(rows: int = DEFAULT_ROWS) -> int:
    """Length of `trace_texture`'s vector for a page of `rows` trace rows."""
    return rows * len(ROW_MEASURES) + 1


def trace_texture(image: np.ndarray, rows: int = DEFAULT_ROWS) -> np.ndarray:
    """[H, W, 3] uint8 page picture (or [H, W] grey) -> [rows * 19 + 1] float32 texture, top row first (module docstring)."""
    from heartcare.render.digitize import SPECK_PIXELS, DigitizeError, _row_baselines
    from heartcare.render.ink import (
        darkness,
        ink_mask,
        skew_degrees,
        straighten,
        without_grid_columns,
        without_specks,
    )

    dark = darkness(np.asarray(image))
    level = straighten(dark, skew_degrees(ink_mask(dark)))
    mask = without_specks(without_grid_columns(ink_mask(level)), SPECK_PIXELS)
    try:
        baselines = _row_baselines(mask, rows)
    except DigitizeError:
        return np.zeros(texture_width(rows), dtype=np.float32)
    spacing = float(np.median(np.diff(baselines))) if rows > 1 else float(mask.shape[0])
    measures = [row_measures(_band(mask, int(baseline), spacing), spacing) for baseline in baselines]
    return np.concatenate([np.concatenate(measures), [1.0]]).astype(np.float32)


def _band(mask: np.ndarray, baseline: int, spacing: float) -> np.ndarray:
    top = int(max(0, baseline - BAND_ABOVE * spacing))
    bottom = int(min(mask.shape[0], baseline + BAND_BELOW * spacing))
    return mask[top:bottom]


def row_measures(band: np.ndarray, spacing: float) -> np.ndarray:
    """[h, W] bool ink of one trace row's band, and the row spacing in pixels -> [len(ROW_MEASURES)] (module docstring)."""
    from scipy.ndimage import median_filter

    band = np.asarray(band, dtype=np.float64)
    thickness = band.sum(axis=0)
    inked = thickness > 0
    if inked.sum() < MIN_INKED_COLUMNS:
        return np.zeros(len(ROW_MEASURES))
    heights = np.arange(band.shape[0], dtype=np.float64)[:, None]
    centre = (band * heights).sum(axis=0)[inked] / thickness[inked]
    strokes = thickness[inked]
    window = max(5, int(inked.sum() / 10)) | 1  # a tenth of the row: slower than any QRS, faster than wander
    slow = median_filter(centre, window)
    runs = np.convolve(strokes, np.ones(window) / window, mode="valid") if strokes.size >= window else strokes
    columns = np.arange(band.shape[1])
    line = np.interp(columns, columns[inked], (band * heights).sum(axis=0)[inked] / thickness[inked]) / spacing
    line -= line.mean()
    power = np.abs(np.fft.rfft(line * np.hanning(line.size))) ** 2
    cycles = np.arange(power.size)  # rfft bin k is k cycles per row
    bands = [np.log(power[(cycles >= low) & (cycles < high)].sum() + 1e-9) for low, high in zip(CYCLES_PER_ROW, CYCLES_PER_ROW[1:], strict=False)]
    line_window = max(5, line.size // 40) | 1
    slow_line = median_filter(line, line_window)
    residual = np.abs(line - slow_line)
    relative = strokes / spacing
    return np.array([
        np.median(strokes) / spacing,
        np.percentile(strokes, 90) / spacing,
        np.log(np.median(relative) + 1e-6),
        np.log(np.percentile(relative, 75) + 1e-6),
        runs.max() / (np.median(runs) + 1e-6),
        *bands,
        np.std(slow) / spacing,
        (slow.max() - slow.min()) / spacing,
        np.log(np.std(slow_line) + 1e-6),
        np.log(np.abs(np.diff(slow_line)).max() + 1e-6),
        float(np.mean(np.abs(slow_line) > 0.1)),
        np.median(np.abs(np.diff(centre))) / spacing,
        np.log(np.percentile(residual, 50) + 1e-6),
        np.log(np.percentile(residual, 95) + 1e-6),
        inked.mean(),
    ])
