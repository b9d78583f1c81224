"""Analyzer (paper's HeartAgent stage 2): vector paths of an ECG sheet -> 12-lead arrays.

Works on plain geometry, so any exporter's PDF (heartcare's vector renderer,
matplotlib, hospital carts) can be read: polylines in page points (y up) and text
labels. The calibration pulse fixes the scale (its height is 1 mV, its plateau
0.2 s); long x-monotonic polylines are traces; the nearest lead label names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.errors import InvalidSignalError

CALIBRATION_MV = 1.0
CALIBRATION_S = 0.2
MIN_TRACE_POINTS = 50
_LEAD_NAMES = {name.lower(): name for name in STANDARD_LEADS}


@dataclass(frozen=True)
class Calibration:
    """One pulse: its baseline height and the scales it implies (points per mV / per s)."""

    x: float
    baseline: float
    points_per_mv: float
    points_per_s: float


def find_calibrations(polylines: list[np.ndarray]) -> list[Calibration]:
    """Pulses: few points on exactly two height levels, starting and ending at the lower one.

    polylines: each [points, 2] (x, y) in page points, y up.
    """
    pulses = []
    for line in polylines:
        if not 4 <= len(line) <= 8:
            continue
        levels = np.unique(np.round(line[:, 1], 3))
        if len(levels) != 2 or abs(line[0, 1] - line[-1, 1]) > 1e-3 or abs(line[0, 1] - levels.min()) > 1e-3:
            continue
        top = line[np.isclose(line[:, 1], levels.max(), atol=1e-3)]
        height, width = levels.max() - levels.min(), top[:, 0].max() - top[:, 0].min()
        if height > 0 and width > 0:
            pulses.append(Calibration(float(line[0, 0]), float(levels.min()), height / CALIBRATION_MV, width / CALIBRATION_S))
    return pulses


def find_traces(polylines: list[np.ndarray]) -> list[np.ndarray]:
    """Long polylines whose x never goes back: the signal traces."""
    traces = []
    for line in polylines:
        if len(line) < MIN_TRACE_POINTS or np.any(np.diff(line[:, 0]) < -1e-6):
            continue
        # Exporters that simplify paths may repeat an x: keep the first point of each.
        keep = np.concatenate([[True], np.diff(line[:, 0]) > 1e-9])
        traces.append(line[keep])
    return traces


def lead_of(trace: np.ndarray, labels: list[tuple[str, float, float]]) -> str | None:
    """The lead label nearest to the trace's start, among labels not right of it."""
    x0, y0 = trace[0, 0], float(np.median(trace[:, 1]))
    best, best_distance = None, np.inf
    for text, x, y in labels:
        name = _LEAD_NAMES.get(text.strip().lower())
        if name is None or x > x0 + 20:
            continue
        distance = np.hypot(x - x0, (y - y0) * 2.0)  # rows are stacked: vertical distance counts double
        if distance < best_distance:
            best, best_distance = name, distance
    return best


def analyze(
    polylines: list[np.ndarray], labels: list[tuple[str, float, float]], fs: float = 500.0, source: str | None = None
) -> Ecg:
    """12-lead `Ecg` [12, samples] mV at `fs`; meta["coverage"] gives each lead's [start_s, stop_s].

    Leads drawn twice (lead II in a panel and in the rhythm strip) keep the longer trace.
    """
    pulses = find_calibrations(polylines)
    traces = find_traces(polylines)
    if not pulses:
        raise InvalidSignalError(source, "no calibration pulse found: cannot scale the traces")
    if not traces:
        raise InvalidSignalError(source, "no ECG trace (long vector polyline) found")
    # One sheet, one paper speed: the median pulse width is robust to a stray shape.
    points_per_s = float(np.median([p.points_per_s for p in pulses]))
    x_origin = min(float(t[0, 0]) for t in traces)
    chosen: dict[str, tuple[np.ndarray, Calibration]] = {}
    for trace in traces:
        lead = lead_of(trace, labels)
        if lead is None:
            continue
        median_y = float(np.median(trace[:, 1]))
        pulse = min(pulses, key=lambda p: abs(p.baseline - median_y))
        if lead not in chosen or np.ptp(trace[:, 0]) > np.ptp(chosen[lead][0][:, 0]):
            chosen[lead] = (trace, pulse)
    if not chosen:
        raise InvalidSignalError(source, "no trace could be matched to a lead label")
    # Time runs left to right from the leftmost trace start (columns are consecutive).
    seconds = max((float(t[-1, 0]) - x_origin) / points_per_s for t, _ in chosen.values())
    samples = int(round(seconds * fs)) + 1
    time = np.arange(samples) / fs
    signal = np.zeros((len(STANDARD_LEADS), samples), dtype=np.float32)
    coverage: dict[str, list[float]] = {}
    for lead, (trace, pulse) in chosen.items():
        t = (trace[:, 0] - x_origin) / points_per_s
        mv = (trace[:, 1] - pulse.baseline) / pulse.points_per_mv
        inside = (time >= t[0]) & (time <= t[-1])
        signal[STANDARD_LEADS.index(lead), inside] = np.interp(time[inside], t, mv)
        coverage[lead] = [round(float(t[0]), 4), round(float(t[-1]), 4)]
    mask = [lead in chosen for lead in STANDARD_LEADS]
    return Ecg(signal, fs, STANDARD_LEADS, {"lead_mask": mask, "coverage": coverage, "path": source, "source": "pdf"})
