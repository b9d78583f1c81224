"""What the median beat of each lead shows, in mV: the amplitudes that waveform statements name.

Waveform answers ("high QRS voltage", "low QRS voltages", "inverted T-waves", "Q waves present",
"non-specific ST depression", "prolonged PR interval", "long QT-interval") are criteria on
amplitudes and intervals a cart measures from the median beat. Beat's latents come from a signal
conditioned to one scale for all leads, and the recording descriptors (heartcare.ecg.recording)
keep the whole tracing's range but not which wave made it, so neither says "the T wave of V2 is
-0.3 mV". These descriptors do, in a fixed order, from `measure_beats`' median beats and wave
boundaries:

- per standard lead (zeros for a lead the record lacks): P, Q, R, S, ST (J + 60 ms) and T, each
  against the PR-segment baseline, and the QRS peak-to-peak;
- whole record: the eight `measure` values (heart rate, RR irregularity, PR, QRS, QT, QTc Bazett
  and Fridericia, axis as its cosine and sine), each with a flag saying whether it was measured;
- criteria a linear reader cannot form from the above: the largest limb- and precordial-lead QRS
  peak-to-peak (low voltage), Sokolow-Lyon and Cornell voltages (high voltage), and the counts of
  leads with an inverted T, a Q deeper than 0.1 mV and a quarter of its R, ST below -0.05 or above +0.1 mV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from heartcare.ecg.delineate import Boundaries, MedianBeats
from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.measure import FIELDS, measure_beats
from heartcare.ecg.record import Ecg

PER_LEAD = ("p_mv", "q_mv", "r_mv", "s_mv", "st_mv", "t_mv", "qrs_peak_to_peak_mv")
# Intervals scaled to about unit size so a standardising reader and a raw one see similar ranges.
SCALES = {"hr_bpm": 100.0, "rr_irregularity": 0.1, "pr_ms": 200.0, "qrs_ms": 100.0, "qt_ms": 400.0,
          "qtc_bazett_ms": 400.0, "qtc_fridericia_ms": 400.0}
RECORD = (*(f"{name}_scaled" for name in SCALES), "axis_cos", "axis_sin", *(f"{name}_measured" for name in FIELDS))
CRITERIA = ("max_limb_qrs_mv", "max_precordial_qrs_mv", "sokolow_lyon_mv", "cornell_mv",
            "inverted_t_leads", "q_wave_leads", "st_depressed_leads", "st_elevated_leads")
NAMES = tuple(f"{lead}_{name}" for lead in STANDARD_LEADS for name in PER_LEAD) + RECORD + CRITERIA
WIDTH = len(NAMES)
LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
Q_WINDOW_S = 0.04  # a Q wave is the first negative deflection of the QRS; pathological ones last >= 40 ms
ST_AFTER_J_S = 0.06  # ST level at J + 60 ms, where ST-deviation criteria read it
T_AFTER_J_S = 0.10  # the T wave is sought from here to the T end
BASELINE_S = 0.02  # the PR-segment stretch just before QRS onset that serves as baseline


def _windows(median: MedianBeats, bounds: Boundaries) -> dict[str, slice]:
    """Sample ranges of P, QRS, ST point and T in the median beat; where delineation failed, the
    usual spans around the R fiducial (a wide QRS then spills into ST, which is still informative)."""
    fs, length = median.fs, median.beats.shape[1]
    fiducial = median.fiducial
    onset = bounds.qrs_onset if bounds.qrs_onset is not None else max(0, fiducial - int(0.05 * fs))
    offset = bounds.qrs_offset if bounds.qrs_offset is not None else min(length - 1, fiducial + int(0.06 * fs))
    t_end = bounds.t_end if bounds.t_end is not None else min(length, offset + int(0.35 * fs))
    p_onset = bounds.p_onset if bounds.p_onset is not None else max(0, onset - int(0.2 * fs))
    st = min(length - 1, offset + int(ST_AFTER_J_S * fs))
    t_start = min(t_end - 1, offset + int(T_AFTER_J_S * fs))
    return {"baseline": slice(max(0, onset - int(BASELINE_S * fs)), max(1, onset)),
            "p": slice(p_onset, max(p_onset + 1, onset - int(BASELINE_S * fs))),
            "qrs": slice(onset, offset + 1),
            "st": slice(st, st + 1), "t": slice(max(0, t_start), max(1, t_end))}


def _signed_extreme(values: np.ndarray) -> np.ndarray:
    """[leads, k] -> [leads]: the sample farthest from zero, with its sign (an inverted T stays negative)."""
    index = np.abs(values).argmax(axis=1)
    return values[np.arange(values.shape[0]), index]


def _q_waves(qrs: np.ndarray, window: int) -> np.ndarray:
    """[leads, k] QRS -> [leads]: the deepest point before the R peak within the first 40 ms (a Q wave
    precedes R; an rS lead's S comes after its r and is no Q), zero when the QRS starts upward."""
    before_r = np.minimum(qrs.argmax(axis=1), window)
    reach = np.arange(qrs.shape[1])[None, :] <= before_r[:, None]
    return np.minimum(np.where(reach, qrs, 0.0).min(axis=1), 0.0)


def _per_lead(median: MedianBeats, bounds: Boundaries) -> np.ndarray:
    """[leads of the record, len(PER_LEAD)] amplitudes in mV against each lead's own baseline."""
    spans = _windows(median, bounds)
    beats = median.beats - median.beats[:, spans["baseline"]].mean(axis=1, keepdims=True)
    qrs = beats[:, spans["qrs"]]
    return np.stack([
        _signed_extreme(beats[:, spans["p"]]),
        _q_waves(qrs, max(1, int(Q_WINDOW_S * median.fs))),
        np.maximum(qrs.max(axis=1), 0.0),
        np.minimum(qrs.min(axis=1), 0.0),
        beats[:, spans["st"]][:, 0],
        _signed_extreme(beats[:, spans["t"]]),
        np.ptp(qrs, axis=1),
    ], axis=1)


def _criteria(table: dict[str, np.ndarray], present: dict[str, bool]) -> list[float]:
    def value(lead: str, name: str) -> float:
        return float(table[lead][PER_LEAD.index(name)]) if present.get(lead) else 0.0

    peak = PER_LEAD.index("qrs_peak_to_peak_mv")
    limb = [float(table[lead][peak]) for lead in LIMB if present.get(lead)]
    precordial = [float(table[lead][peak]) for lead in STANDARD_LEADS if lead not in LIMB and present.get(lead)]
    rows = [table[lead] for lead in STANDARD_LEADS if present.get(lead) and lead != "aVR"]  # aVR's T is normally negative
    return [
        max(limb, default=0.0),
        max(precordial, default=0.0),
        -value("V1", "s_mv") + max(value("V5", "r_mv"), value("V6", "r_mv")),  # Sokolow-Lyon 1949
        value("aVL", "r_mv") - value("V3", "s_mv"),  # Cornell voltage 1985
        float(sum(row[PER_LEAD.index("t_mv")] < -0.1 for row in rows)),
        # Pathological Q (Minnesota-like): deeper than 0.1 mV and than a quarter of the R after it.
        float(sum(-row[PER_LEAD.index("q_mv")] > max(0.1, row[PER_LEAD.index("r_mv")] / 4) for row in rows)),
        float(sum(row[PER_LEAD.index("st_mv")] < -0.05 for row in rows)),
        float(sum(row[PER_LEAD.index("st_mv")] > 0.1 for row in rows)),
    ]


def _lead_rows(ecg: Ecg, median: MedianBeats | None, bounds: Boundaries | None) -> dict[str, np.ndarray]:
    """{standard lead: its PER_LEAD row} for every recorded lead of `ecg` (none without beats)."""
    if median is None or bounds is None:
        return {}
    rows = _per_lead(median, bounds)
    usable = ecg.lead_mask
    return {lead: rows[index] for index, lead in enumerate(ecg.leads) if lead in STANDARD_LEADS and usable[index]}


def _assemble(values: dict, table: dict[str, np.ndarray]) -> np.ndarray:
    record = [values[name] / scale if values[name] is not None else 0.0 for name, scale in SCALES.items()]
    axis = values["axis_deg"]
    record += [math.cos(math.radians(axis)), math.sin(math.radians(axis))] if axis is not None else [0.0, 0.0]
    record += [float(values[name] is not None) for name in FIELDS]
    per_lead = np.zeros((len(STANDARD_LEADS), len(PER_LEAD)))
    for lead, row in table.items():
        per_lead[STANDARD_LEADS.index(lead)] = row
    present = {lead: True for lead in table}
    criteria = _criteria(table, present) if table else [0.0] * len(CRITERIA)
    return np.concatenate([per_lead.reshape(-1), np.asarray(record), np.asarray(criteria)]).astype(np.float32)


def morphology_features(ecg: Ecg) -> np.ndarray:
    """[WIDTH] float32 descriptors of `ecg` in the order of NAMES; all zeros (and every "measured"
    flag 0) for a record in which no beat could be found: a reader then learns "unmeasurable"."""
    measurements, median, bounds = measure_beats(ecg)
    return _assemble(measurements.to_dict(), _lead_rows(ecg, median, bounds))


def combined_morphology(record: Ecg, parts: Sequence[Ecg]) -> np.ndarray:
    """`morphology_features` of a recording seen in pieces, as a paper sheet shows it: 3 leads at a
    time for 2.5 s each, beside one lead for the whole 10 s. The record-level values come from
    `record` (the rhythm strip: the most beats), any it could not measure (the axis needs limb
    leads) from the first part that could; each lead's amplitudes from the first part holding it."""
    measurements, median, bounds = measure_beats(record)
    values = measurements.to_dict()
    table = _lead_rows(record, median, bounds)
    for part in parts:
        part_measurements, part_median, part_bounds = measure_beats(part)
        for name, value in part_measurements.to_dict().items():
            if name in FIELDS and values.get(name) is None and value is not None:
                values[name] = value
        for lead, row in _lead_rows(part, part_median, part_bounds).items():
            table.setdefault(lead, row)
    return _assemble(values, table)
