"""Read the traces of a 12-lead ECG page back into millivolts: picture in, signal out.

A picture item shows only pixels, and a reader of pixels alone (an image encoder's features) cannot
say whether the T wave in V2 is -0.3 mV. Reading the trace back off the page lets the same
amplitude and interval measurements that serve a recorded signal serve a picture. Nothing here
reads how the page was made (render parameters, augmentation records): only conventions printed
on every standard sheet are assumed, namely

- the layout (default 3 rows x 4 columns of 2.5 s plus a 10 s lead II rhythm strip),
- each row starts with a 1 mV calibration pulse, which sets the vertical scale (mm per mV and
  pixels per mm), and paper speed is the printed 25 mm/s (`speed_mm_s`) at the gain the pulse shows.

Steps: ink map and deskew (heartcare.render.ink), one baseline per row (the sharpest rows of the
ink histogram), the calibration pulse at each row's left end, then the trace followed column by
column (the ink run nearest the previous point, its extreme at a local peak so R and S keep their
height). A page where these fail raises `DigitizeError` naming the step, so a batch records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.errors import HeartcareError
from heartcare.render.ink import (
    darkness,
    ink_mask,
    skew_degrees,
    straighten,
    without_grid_columns,
    without_specks,
)
from heartcare.render.layout import LayoutSpec, get_layout

OUTPUT_FS = 250.0
CALIBRATION_MV = 1.0
CALIBRATION_MM = 10.0  # a 1 mV pulse at the standard 10 mm/mV
PULSE_SECONDS = 0.2
SPECK_PIXELS = 12  # smaller ink blobs are grid crossings or noise, not trace
MIN_COVERAGE = 0.6
MARK_HALF_WIDTH_PX = 2
# Leads of a sheet are simultaneous; columns that place QRS complexes further than this from the rhythm
# strip's were read on a wrong time axis (on the dataset's pages: every clean/print/scan reading with
# median r >= 0.76 to the true signal lags <= 40 ms, photos with perspective 100-300 ms).
MAX_BEAT_LAG_S = 0.05  # share of a trace's columns that must hold ink for the page to count as read


class DigitizeError(HeartcareError):
    """A picture whose traces could not be read back (which step failed, and why)."""


@dataclass(frozen=True)
class Trace:
    """One stretch of one lead read off the page: `signal` mV at `fs`, starting `start_s` into the record."""

    lead: str
    start_s: float
    signal: np.ndarray
    fs: float
    coverage: float  # share of the stretch's pixel columns where ink was found (the rest interpolated)


@dataclass(frozen=True)
class DigitizedPage:
    traces: tuple[Trace, ...]
    px_per_mv: float
    px_per_second: float
    rotation_deg: float
    time_ruler: str  # "rows" (their 10 s length) or "pulse" (rows cut by the picture's edge)
    meta: dict = field(default_factory=dict)

    def morphology(self) -> np.ndarray:
        """heartcare.ecg.morphology descriptors of the page: record-level values from the longest
        trace (the rhythm strip), each lead's amplitudes from its column's 2.5 s, measured together
        with the other leads of that column and the rhythm strip's same seconds."""
        from heartcare.ecg.morphology import combined_morphology

        longest = max(self.traces, key=lambda trace: trace.signal.size)
        record = Ecg(longest.signal[None], longest.fs, (longest.lead,), meta={**self.meta})
        starts = sorted({trace.start_s for trace in self.traces if trace is not longest})
        parts = []
        for start in starts:
            duration = min(trace.signal.size for trace in self.traces if trace.start_s == start) / longest.fs
            parts.append(self.window(start, start + duration))
        return combined_morphology(record, parts)

    def strip_recording(self) -> np.ndarray:
        """[13] heartcare.ecg.recording descriptors (noise, drift, hum, bursts, amplitude) of the rhythm
        strip, the page's one 10-s trace: what a sheet shows of how the recording was taken. The bands
        under 15 Hz and the amplitude are the drawn lead's; above 15 Hz the pixel steps of the reading add
        power of their own (on a clean 100-dpi page 40-125 Hz reads about 100x the signal's)."""
        from heartcare.ecg.recording import lead_descriptors

        longest = max(self.traces, key=lambda trace: trace.signal.size)
        return lead_descriptors(Ecg(longest.signal[None], longest.fs, (longest.lead,), meta={**self.meta}))[0]

    def agreement(self) -> float | None:
        """Correlation of the two readings of one lead over the same seconds (lead II in its panel and
        at the start of the rhythm strip, on a 3x4+II sheet): a check that needs no reference signal.
        None when no lead is read twice over a shared window."""
        for trace in self.traces:
            for other in self.traces:
                if other is trace or other.lead != trace.lead or other.signal.size <= trace.signal.size:
                    continue
                first = int(round((trace.start_s - other.start_s) * trace.fs))
                if first < 0 or first + trace.signal.size > other.signal.size:
                    continue
                shared = other.signal[first: first + trace.signal.size]
                if np.std(shared) == 0 or np.std(trace.signal) == 0:
                    return 0.0
                return float(np.corrcoef(shared, trace.signal)[0, 1])
        return None

    def beat_lag_seconds(self) -> float | None:
        """The largest shift (s) between where each column's leads and the longest trace (the
        rhythm strip, recorded at the same time) place their QRS complexes: every lead of a sheet is
        recorded simultaneously, so a reading whose rows disagree on time (a photo's perspective
        stretches one row more than another) shows here. None without a trace to compare against."""
        longest = max(self.traces, key=lambda trace: trace.signal.size)
        fs, worst, compared = longest.fs, 0.0, False
        for trace in self.traces:
            if trace is longest:
                continue
            first = int(round((trace.start_s - longest.start_s) * fs))
            reference = longest.signal[max(0, first): first + trace.signal.size]
            if first < 0 or reference.size != trace.signal.size:
                continue
            lag = _envelope_lag(trace.signal, reference, fs)
            if lag is not None:
                worst, compared = max(worst, abs(lag)), True
        return worst if compared else None

    @property
    def coverage(self) -> float:
        return float(np.mean([trace.coverage for trace in self.traces]))

    def longest(self, lead: str) -> Trace:
        candidates = [trace for trace in self.traces if trace.lead == lead]
        if not candidates:
            raise KeyError(f"no trace of lead {lead!r} on the page")
        return max(candidates, key=lambda trace: trace.signal.size)

    def window(self, start_s: float, stop_s: float) -> Ecg:
        """An Ecg of every lead whose trace covers [start_s, stop_s), time-aligned (lead order as found)."""
        leads, rows = [], []
        for trace in self.traces:
            first = int(round((start_s - trace.start_s) * trace.fs))
            last = first + int(round((stop_s - start_s) * trace.fs))
            if first >= 0 and last <= trace.signal.size and trace.lead not in leads:
                leads.append(trace.lead)
                rows.append(trace.signal[first:last])
        if not rows:
            raise KeyError(f"no trace covers {start_s}-{stop_s} s")
        return Ecg(np.stack(rows), self.traces[0].fs, tuple(leads), meta={**self.meta})


def _envelope_lag(signal: np.ndarray, reference: np.ndarray, fs: float, limit_s: float = 0.3) -> float | None:
    """Seconds by which `signal`'s QRS slopes trail `reference`'s (cross-correlation of their
    smoothed absolute slopes within +-limit_s); None when either has no slope to speak of."""
    def envelope(values: np.ndarray) -> np.ndarray:
        slope = np.abs(np.diff(values))
        width = max(1, int(0.04 * fs))
        smooth = np.convolve(slope, np.ones(width) / width, mode="same")
        return smooth - smooth.mean()

    a, b = envelope(signal), envelope(reference)
    if np.std(a) == 0 or np.std(b) == 0:
        return None
    reach = int(limit_s * fs)
    lags = np.arange(-reach, reach + 1)
    scores = [float(np.dot(a[max(0, lag): a.size + min(0, lag)], b[max(0, -lag): b.size - max(0, lag)])) for lag in lags]
    return float(lags[int(np.argmax(scores))]) / fs


def _row_baselines(mask: np.ndarray, count: int) -> np.ndarray:
    """y of each row's isoelectric line: the `count` sharpest peaks of the ink row histogram, at
    least half a row apart (a trace's flat stretches put hundreds of ink pixels in one row)."""
    from scipy.signal import find_peaks

    histogram = mask.sum(axis=1).astype(np.float64)
    histogram = np.convolve(histogram, np.ones(3) / 3, mode="same")
    spacing = max(2, int(mask.shape[0] / (count + 1) / 2))
    peaks, properties = find_peaks(histogram, distance=spacing, height=0.05 * mask.shape[1])
    if peaks.size < count:
        raise DigitizeError(None, f"found {peaks.size} trace rows, the layout has {count}")
    strongest = peaks[np.argsort(properties["peak_heights"])[::-1][:count]]
    return np.sort(strongest)


def _columns_with_ink(band: np.ndarray) -> np.ndarray:
    return band.any(axis=0)


def _calibration(band: np.ndarray, baseline: int) -> tuple[float, int, int] | None:
    """(pulse height px, pulse left x, x where the pulse's ink ends) of the row's calibration pulse:
    the first ink cluster from the left whose columns rise together to one flat top."""
    inked = np.flatnonzero(_columns_with_ink(band))
    if inked.size == 0:
        return None
    gaps = np.flatnonzero(np.diff(inked) > 2)
    first, last = inked[0], inked[gaps[0]] if gaps.size else inked[-1]
    cluster = band[:, first : last + 1]
    tops = np.array([np.flatnonzero(column)[0] for column in cluster.T if column.any()])
    top = np.median(tops)
    # the top line's centre, not its upper edge: blur thickens a line both ways, and the baseline is
    # a centre too (the ink histogram's peak row)
    centres = [_first_run_centre(column) for column in cluster.T if column.any() and abs(np.flatnonzero(column)[0] - top) <= 2]
    height = baseline - float(np.median(centres)) if centres else 0.0
    width = last - first
    flat = np.mean(np.abs(tops - top) <= 2)
    # The pulse is 10 mm tall and 7 mm wide with its baseline stubs (0.2 s at 25 mm/s + 2 mm).
    if height <= 4 or not 0.35 <= width / height <= 1.1 or flat < 0.5:
        return None
    return float(height), int(first), int(last)


def _first_run_centre(column: np.ndarray) -> float:
    ink = np.flatnonzero(column)
    breaks = np.flatnonzero(np.diff(ink) > 1)
    end = ink[breaks[0]] if breaks.size else ink[-1]
    return (ink[0] + end) / 2.0


def _follow(band: np.ndarray, start_y: float, half_line: float) -> tuple[np.ndarray, np.ndarray]:
    """(y per column or NaN, found flags) of the trace in a band [rows, columns]: in each column the
    ink run nearest the previous point; a run's extreme where the trace peaks there (a steep QRS
    edge fills a whole run within one column, and its centre would cut the R wave short)."""
    heights, width = band.shape
    tops = np.full(width, np.nan)
    bottoms = np.full(width, np.nan)
    previous = start_y
    for x in range(width):
        ink = np.flatnonzero(band[:, x])
        if ink.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(ink) > 1)
        starts = np.concatenate([[ink[0]], ink[breaks + 1]])
        stops = np.concatenate([ink[breaks], [ink[-1]]])
        distance = np.maximum(0, np.maximum(starts - previous, previous - stops))
        best = int(np.argmin(distance))
        tops[x], bottoms[x] = starts[best], stops[best]
        previous = (starts[best] + stops[best]) / 2.0
    found = np.isfinite(tops)
    values = (tops + bottoms) / 2.0
    tall = found & (bottoms - tops > 2 * half_line + 1)
    for x in np.flatnonzero(tall):
        neighbours = [column for column in (x - 1, x + 1) if 0 <= column < width and found[column]]
        if not neighbours:
            continue
        rise = min(tops[column] for column in neighbours) - tops[x]  # > = 0: no neighbour reaches higher
        fall = bottoms[x] - max(bottoms[column] for column in neighbours)
        if rise >= 0 and rise >= fall:  # an apex (R, or a flat-topped one over two columns)
            values[x] = tops[x] + half_line
        elif fall >= 0:
            values[x] = bottoms[x] - half_line
    return values, found


def _resample(values: np.ndarray, found: np.ndarray, px_per_second: float, seconds: float) -> np.ndarray:
    """Pixel columns (NaN gaps bridged linearly) -> samples at OUTPUT_FS over `seconds`."""
    columns = np.arange(values.size, dtype=np.float64)
    filled = np.interp(columns, columns[found], values[found])
    times = np.arange(int(round(seconds * OUTPUT_FS))) / OUTPUT_FS
    return np.interp(times * px_per_second, columns, filled)


def digitize(image: np.ndarray, layout: LayoutSpec | str = "3x4+II", rhythm_lead: str = "II",
             speed_mm_s: float = 25.0, source: str | None = None) -> DigitizedPage:
    """The traces of a page picture [H, W, 3] uint8 as millivolt signals (see the module docstring).

    Raises DigitizeError (naming `source`) when the rows, the calibration pulses or enough of a
    trace cannot be found.
    """
    layout = get_layout(layout) if isinstance(layout, str) else layout
    try:
        page = _read(np.asarray(image), layout, rhythm_lead, speed_mm_s)
    except DigitizeError as error:
        raise DigitizeError(source, error.problem) from None
    return DigitizedPage(page.traces, page.px_per_mv, page.px_per_second, page.rotation_deg, page.time_ruler,
                         meta={"path": source} if source else {})


def _read(image: np.ndarray, layout: LayoutSpec, rhythm_lead: str, speed_mm_s: float) -> DigitizedPage:
    dark = darkness(image)
    rotation = skew_degrees(ink_mask(dark))
    mask = without_specks(without_grid_columns(ink_mask(straighten(dark, rotation))), SPECK_PIXELS)
    baselines = _row_baselines(mask, layout.row_count)
    spacing = float(np.median(np.diff(baselines))) if baselines.size > 1 else mask.shape[0] / 2.0
    bands = []
    pulses = []
    for baseline in baselines:
        top = int(max(0, baseline - 0.55 * spacing))
        bottom = int(min(mask.shape[0], baseline + 0.45 * spacing))
        band = mask[top:bottom]
        bands.append((top, band))
        pulses.append(_calibration(band, int(baseline) - top))
    if all(pulse is None for pulse in pulses):
        raise DigitizeError(None, "no 1 mV calibration pulse found at the left of any row")
    starts = _trace_starts([band for _, band in bands], pulses)
    ends = [int(np.flatnonzero(_columns_with_ink(band))[-1]) for _, band in bands]
    px_per_mv, px_per_second, ruler = _scales([pulse[0] for pulse in pulses if pulse is not None], starts, ends,
                                       mask.shape[1], speed_mm_s)
    half_line = 0.5 * max(1.0, px_per_mv / CALIBRATION_MM * 0.26)
    traces: list[Trace] = []
    column_seconds = 10.0 / layout.columns
    for row, ((top, band), baseline) in enumerate(zip(bands, baselines, strict=True)):
        start_x = starts[row]
        values, found = _follow(band[:, start_x:], baseline - top, half_line)
        leads = layout.rows[row] if row < len(layout.rows) else (rhythm_lead,)
        seconds = 10.0 / len(leads)
        for boundary in range(1, len(leads)):
            # where the lead changes, printouts draw a bar across the baseline: bridge it, not read it
            x = int(round(boundary * seconds * px_per_second))
            found[max(0, x - MARK_HALF_WIDTH_PX): x + MARK_HALF_WIDTH_PX + 1] = False
        stretch = min(10.0, (band.shape[1] - start_x) / px_per_second)
        millivolts = (baseline - top - _resample(values, found, px_per_second, stretch)) / px_per_mv
        for column, lead in enumerate(leads):
            first = int(round(column * seconds * OUTPUT_FS))
            last = min(millivolts.size, int(round((column + 1) * seconds * OUTPUT_FS)))
            columns = slice(int(column * seconds * px_per_second), int((column + 1) * seconds * px_per_second))
            coverage = float(found[columns].mean()) if found[columns].size else 0.0
            if last - first < 0.5 * seconds * OUTPUT_FS:
                continue  # cut off by the picture's edge
            traces.append(Trace(lead, column * column_seconds if len(leads) > 1 else 0.0,
                                millivolts[first:last].astype(np.float32), OUTPUT_FS, coverage))
    if not traces or np.mean([trace.coverage for trace in traces]) < MIN_COVERAGE:
        raise DigitizeError(None, f"traces found in only {np.mean([t.coverage for t in traces] or [0]):.0%} "
                                    "of their columns")
    page = DigitizedPage(tuple(traces), px_per_mv, px_per_second, rotation, ruler)
    lag = page.beat_lag_seconds()
    if lag is not None and lag > MAX_BEAT_LAG_S:
        raise DigitizeError(None, f"rows disagree on beat timing by {lag * 1000:.0f} ms (more than "
                                  f"{MAX_BEAT_LAG_S * 1000:.0f}): the page is distorted (perspective) or misread")
    return page


def _scales(heights: list[float], starts: list[int], ends: list[int], width: int,
            speed_mm_s: float) -> tuple[float, float, str]:
    """(pixels per mV, pixels per second, which ruler timed it). Vertical: the pulse height most rows agree on (within
    5%; a pen stroke or a tall label can spoil one row's). Horizontal: a row spans 10 s, and its
    length in pixels is a ruler ~25 times finer than a pulse's height, used unless the rows run to
    the picture's edge (cut off); otherwise the pulse at the printed paper speed."""
    if not heights:
        raise DigitizeError(None, "no 1 mV calibration pulse found at the left of any row")
    end = float(np.median(ends))
    span = (end - float(np.median(starts))) / 10.0 if end < width - 3 else None
    values = np.asarray(heights)
    support = np.array([(np.abs(values / value - 1.0) <= 0.05).sum() for value in values])
    candidates = values[support == support.max()]
    if span is not None:  # among equally supported heights, the one the row length implies
        implied = span / speed_mm_s * CALIBRATION_MM
        candidates = candidates[np.argsort(np.abs(candidates - implied))][:1]
    chosen = candidates[0]
    px_per_mv = float(np.median(values[np.abs(values / chosen - 1.0) <= 0.05])) / CALIBRATION_MV
    if span is not None:
        return px_per_mv, span, "rows"
    return px_per_mv, px_per_mv / CALIBRATION_MM * speed_mm_s, "pulse"


def _trace_starts(bands: list[np.ndarray], pulses: list[tuple[float, int, int] | None]) -> list[int]:
    """x where each row's trace begins: the first ink after its calibration pulse's gap. Every row
    of a standard sheet starts at the same x, so a row whose pulse was not found (a pen stroke over
    it, a crease) takes the median start of the rows whose pulse was."""
    found = []
    for band, pulse in zip(bands, pulses, strict=True):
        if pulse is None:
            continue
        inked = np.flatnonzero(_columns_with_ink(band))
        after = inked[inked > pulse[2] + 1]
        if after.size:
            found.append(int(after[0]))
    if not found:
        raise DigitizeError(None, "no row holds a trace after its calibration pulse")
    common = int(np.median(found))
    starts = []
    for band, pulse in zip(bands, pulses, strict=True):
        inked = np.flatnonzero(_columns_with_ink(band))
        after = inked[inked > pulse[2] + 1] if pulse is not None else inked[inked >= common]
        starts.append(int(after[0]) if after.size and (pulse is not None or after[0] - common < 3) else common)
    return starts


def page_morphology(image: np.ndarray, source: str | None = None, strip_recording: bool = False) -> tuple[np.ndarray, str | None]:
    """([morphology WIDTH + 1] float32, None) for a readable page: its `DigitizedPage.morphology()`
    (then with `strip_recording` its `strip_recording()`, 13 more) and a last 1.0 saying it was read;
    (zeros, the reason) for one that is not, so that a reader of many pictures learns "unreadable"
    instead of losing the item."""
    from heartcare.ecg.morphology import WIDTH
    from heartcare.ecg.recording import PER_LEAD

    try:
        page = digitize(image, source=source)
    except DigitizeError as error:
        return np.zeros(WIDTH + len(PER_LEAD) * strip_recording + 1, dtype=np.float32), str(error)
    parts = [page.morphology(), *([page.strip_recording()] if strip_recording else []), [1.0]]
    return np.concatenate(parts).astype(np.float32), None


def page_morphology_of_file(path: str, strip_recording: bool = False) -> tuple[np.ndarray, str | None]:
    """`page_morphology` of a picture file (PNG/JPEG); a file that cannot be decoded is a page that
    cannot be read, with the decoder's reason. Module-level so process pools can call it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        from heartcare.ecg.morphology import WIDTH
        from heartcare.ecg.recording import PER_LEAD

        return (np.zeros(WIDTH + len(PER_LEAD) * strip_recording + 1, dtype=np.float32),
                f"{path}: cannot decode the picture ({error})")
    return page_morphology(pixels, source=path, strip_recording=strip_recording)
