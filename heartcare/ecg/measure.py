"""`measure(ecg)`: heart rate, RR irregularity, PR, QRS, QT, QTc and frontal QRS axis.

Pipeline (what 12-lead carts do): multi-lead R peaks on combined slope energy
(`detect`), a median beat per lead from the dominant beats, global wave boundaries on
the median beats' spatial curves (`delineate`), the frontal axis from the net QRS
areas of the limb leads. Every value that cannot be measured is None with a reason;
nothing raises for a readable record.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from heartcare.ecg.delineate import Boundaries, MedianBeats, delineate, median_beats
from heartcare.ecg.detect import detect_qrs
from heartcare.ecg.quality import assess
from heartcare.ecg.record import Ecg

# Working rate: 500 Hz resolves 2 ms; higher rates only cost time.
MAX_WORKING_FS = 500.0
# Frontal-plane direction (degrees) and gain of each limb lead under Einthoven's
# triangle: augmented leads see the heart vector scaled by sqrt(3)/2.
LIMB_LEADS = {
    "I": (0, 1.0),
    "II": (60, 1.0),
    "III": (120, 1.0),
    "aVR": (-150, math.sqrt(3) / 2),
    "aVL": (-30, math.sqrt(3) / 2),
    "aVF": (90, math.sqrt(3) / 2),
}
QUALITY_FLOOR = 0.25  # even a poor lead keeps a quarter of its say: low kurtosis can be real
AXIS_MIN_WEIGHT = 0.0  # a small (perpendicular) limb lead is information, not noise
FIELDS = (
    "hr_bpm",
    "rr_irregularity",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
    "axis_deg",
)


@dataclass(frozen=True)
class Measurements:
    """Interval and axis measurements of one ECG; a None field has its reason in `reasons`."""

    hr_bpm: float | None = None
    rr_irregularity: float | None = None  # coefficient of variation of RR intervals
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None
    axis_deg: float | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `qtc_ms` is the Bazett QTc (what most reports print)."""
        values = asdict(self)
        return {
            "hr_bpm": values["hr_bpm"],
            "rr_irregularity": values["rr_irregularity"],
            "pr_ms": values["pr_ms"],
            "qrs_ms": values["qrs_ms"],
            "qt_ms": values["qt_ms"],
            "qtc_ms": values["qtc_bazett_ms"],
            "qtc_bazett_ms": values["qtc_bazett_ms"],
            "qtc_fridericia_ms": values["qtc_fridericia_ms"],
            "axis_deg": values["axis_deg"],
            "reasons": dict(self.reasons),
        }


def _missing(reason: str, **known: Any) -> Measurements:
    reasons = {name: reason for name in FIELDS if known.get(name) is None}
    return Measurements(**known, reasons=reasons)


def _working_signal(ecg: Ecg) -> tuple[np.ndarray, float, np.ndarray]:
    """(signal [leads, n] mV at <= 500 Hz, its fs, usable-lead weights [leads])."""
    from heartcare.ecg.preprocess import resample

    if ecg.fs > MAX_WORKING_FS:
        ecg = resample(ecg, MAX_WORKING_FS)
    signal = ecg.signal.astype(np.float64)
    peak_to_peak = np.ptp(signal, axis=1)
    usable = ecg.lead_mask & (peak_to_peak > 0.02)
    weights = usable.astype(np.float64)
    if usable.sum() >= 3:
        # A lead far louder than the rest is usually artefact: cap its say at 3x the median.
        scale = np.median(peak_to_peak[usable])
        weights[usable] = np.minimum(1.0, 3 * scale / peak_to_peak[usable])
    # Noisy leads (low kurtosis, power outside the QRS band) keep only a small say.
    # Every second sample is enough to judge noise and kurtosis, at half the cost.
    step = 2 if ecg.fs >= 400 else 1
    quality = assess(signal[:, ::step], ecg.fs / step).score
    return signal, ecg.fs, weights * (QUALITY_FLOOR + (1 - QUALITY_FLOOR) * quality)


def _remove_wander(signal: np.ndarray, fs: float, peaks: np.ndarray) -> np.ndarray:
    """Subtract a baseline interpolated through one knot per beat, 70 ms before each R.

    Knots sit at the same phase of every beat, so the correction is a per-lead constant
    for a steady signal and follows wander between beats; far cheaper than median
    filtering the whole record.
    """
    half = max(1, int(0.01 * fs))
    knots = np.clip(peaks - int(0.07 * fs), half, signal.shape[1] - half - 1)
    if knots.size == 0:
        return signal - np.median(signal, axis=1, keepdims=True)
    offsets = np.arange(-half, half + 1)
    levels = signal[:, knots[:, None] + offsets[None, :]].mean(axis=2)  # [leads, beats]
    if knots.size == 1:
        return signal - levels
    times = np.arange(signal.shape[1])
    baseline = np.stack([np.interp(times, knots, row) for row in levels])
    return signal - baseline


def _rate(peaks: np.ndarray, fs: float) -> tuple[float, float | None, float]:
    """(heart rate bpm, RR coefficient of variation or None, median RR s)."""
    rr = np.diff(peaks) / fs
    heart_rate = 60.0 / float(rr.mean())
    irregularity = float(rr.std() / rr.mean()) if rr.size >= 2 else None
    return heart_rate, irregularity, float(np.median(rr))


def _axis(
    median: MedianBeats, leads: tuple[str, ...], usable: np.ndarray, onset: int, offset: int
) -> float | None:
    """Frontal QRS axis (degrees, -180..180) from net QRS areas, least squares over limb leads."""
    rows, areas = [], []
    for name, (angle, gain) in LIMB_LEADS.items():
        if name not in leads or not usable[leads.index(name)]:
            continue
        beat = median.beats[leads.index(name)]
        baseline = beat[max(0, onset - int(0.02 * median.fs)) : max(1, onset)].mean()
        areas.append(float((beat[onset : offset + 1] - baseline).sum()))
        radians = math.radians(angle)
        rows.append((gain * math.cos(radians), gain * math.sin(radians)))
    if len(rows) < 2:
        return None
    matrix = np.asarray(rows)
    if np.linalg.matrix_rank(matrix) < 2:
        return None
    (x, y), *_ = np.linalg.lstsq(matrix, np.asarray(areas), rcond=None)
    if math.hypot(x, y) == 0:
        return None
    return round(math.degrees(math.atan2(y, x)), 1)


def measure(ecg: Ecg) -> Measurements:
    """Measurements of one ECG; never raises for a readable record (reasons instead)."""
    return measure_beats(ecg)[0]


def measure_beats(ecg: Ecg) -> tuple[Measurements, MedianBeats | None, Boundaries | None]:
    """`measure` plus the median beats and wave boundaries it took them from (None where it got no
    beats): what amplitude readers (heartcare.ecg.morphology) need, without detecting twice."""
    try:
        return _measure(ecg)
    except (ValueError, IndexError, FloatingPointError, np.linalg.LinAlgError) as error:
        # A last guard: an unforeseen numerical corner must not stop a 20,000-record batch.
        return _missing(f"measurement failed: {type(error).__name__}: {error}"), None, None


def _measure(ecg: Ecg) -> tuple[Measurements, MedianBeats | None, Boundaries | None]:
    if ecg.seconds < 0.5:
        return _missing(f"record too short ({ecg.seconds:.2f} s) to measure"), None, None
    signal, fs, weights = _working_signal(ecg)
    if not weights.any():
        return _missing("no usable lead (all flat or missing)"), None, None
    detection = detect_qrs(signal, fs, weights)
    # Beats are aligned on the energy centroid: the argmax can hop between R up- and
    # down-stroke from beat to beat, which would blur the median beat.
    positions = detection.positions
    peaks = np.round(positions).astype(np.int64)
    if peaks.size == 0:
        return _missing("no QRS complex detected"), None, None
    known: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    if peaks.size >= 2:
        heart_rate, irregularity, rr_s = _rate(positions, fs)
        known["hr_bpm"] = round(heart_rate, 1)
        if irregularity is None:
            reasons["rr_irregularity"] = "needs at least three beats"
        else:
            known["rr_irregularity"] = round(irregularity, 4)
    else:
        reasons["hr_bpm"] = reasons["rr_irregularity"] = "fewer than two beats detected"
        rr_s = 1.0  # assume 60 bpm only to size the median-beat window
    median = median_beats(_remove_wander(signal, fs, peaks), fs, peaks, rr_s)
    bounds = delineate(median, weights)
    known.update(_intervals(bounds, fs, known.get("hr_bpm"), reasons))
    if bounds.qrs_onset is not None and bounds.qrs_offset is not None:
        axis = _axis(
            median, ecg.leads, weights > AXIS_MIN_WEIGHT, bounds.qrs_onset, bounds.qrs_offset
        )
        if axis is None:
            reasons["axis_deg"] = "fewer than two independent limb leads"
        known["axis_deg"] = axis
    for name in FIELDS:
        if known.get(name) is None and name not in reasons:
            reasons[name] = bounds.reasons.get("qrs", "not measurable")
    return Measurements(**{name: known.get(name) for name in FIELDS}, reasons=reasons), median, bounds


def _intervals(
    bounds: Boundaries, fs: float, heart_rate: float | None, reasons: dict[str, str]
) -> dict[str, float]:
    values: dict[str, float] = {}
    to_ms = 1000.0 / fs
    if bounds.qrs_onset is None or bounds.qrs_offset is None:
        return values
    values["qrs_ms"] = round((bounds.qrs_offset - bounds.qrs_onset) * to_ms, 1)
    if bounds.p_onset is not None:
        values["pr_ms"] = round((bounds.qrs_onset - bounds.p_onset) * to_ms, 1)
    else:
        reasons["pr_ms"] = bounds.reasons.get("pr", "P wave not found")
    if bounds.t_end is None:
        reasons["qt_ms"] = bounds.reasons.get("qt", "T wave end not found")
        reasons["qtc_bazett_ms"] = reasons["qtc_fridericia_ms"] = reasons["qt_ms"]
        return values
    qt = (bounds.t_end - bounds.qrs_onset) * to_ms
    values["qt_ms"] = round(qt, 1)
    if heart_rate is None:
        reasons["qtc_bazett_ms"] = reasons["qtc_fridericia_ms"] = (
            "QTc needs the heart rate (two beats)"
        )
        return values
    rr_s = 60.0 / heart_rate
    values["qtc_bazett_ms"] = round(qt / math.sqrt(rr_s), 1)  # Bazett 1920
    values["qtc_fridericia_ms"] = round(qt / rr_s ** (1 / 3), 1)  # Fridericia 1920
    return values


def cross_check_neurokit(ecg: Ecg, lead: str = "II") -> dict[str, Any]:
    """An independent single-lead opinion from neurokit2 (optional `neurokit` extra).

    Returns {"hr_bpm", "pr_ms", "qrs_ms", "qt_ms"} (None where neurokit found nothing)
    plus "error" when neurokit failed: it raises on short signals, flat leads, high
    rates and missing waves, so every call is guarded and nothing propagates.
    """
    result: dict[str, Any] = {"hr_bpm": None, "pr_ms": None, "qrs_ms": None, "qt_ms": None}
    try:
        import neurokit2 as nk
    except ImportError:
        result["error"] = "neurokit2 is not installed: pip install 'heartcare[neurokit]'"
        return result
    if lead not in ecg.leads:
        result["error"] = f"lead {lead} not in the record"
        return result
    fs = int(round(ecg.fs))
    try:
        signal = nk.ecg_clean(ecg.lead(lead).astype(np.float64), sampling_rate=fs)
        _, info = nk.ecg_peaks(signal, sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        if peaks.size >= 2:
            result["hr_bpm"] = round(60.0 * fs / float(np.diff(peaks).mean()), 1)
        _, waves = nk.ecg_delineate(signal, peaks, sampling_rate=fs, method="dwt")
    except Exception as error:  # noqa: BLE001 - third-party code; any failure is an answer
        result["error"] = f"neurokit2 failed: {type(error).__name__}: {error}"
        return result

    def median_ms(start_key: str, stop_key: str) -> float | None:
        start = np.asarray(waves.get(start_key, []), dtype=np.float64)
        stop = np.asarray(waves.get(stop_key, []), dtype=np.float64)
        if start.size == 0 or start.size != stop.size:
            return None
        spans = (stop - start)[np.isfinite(stop - start)]
        spans = spans[spans > 0]
        return round(float(np.median(spans)) * 1000.0 / fs, 1) if spans.size else None

    result["pr_ms"] = median_ms("ECG_P_Onsets", "ECG_R_Onsets")
    result["qrs_ms"] = median_ms("ECG_R_Onsets", "ECG_R_Offsets")
    result["qt_ms"] = median_ms("ECG_R_Onsets", "ECG_T_Offsets")
    return result
