"""Trace texture: what a page's strokes look like, row by row, measured on pages heartcare draws with known noise."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.render import PaperSpec, render
from heartcare.render.texture import ROW_MEASURES, texture_width, trace_texture

SPEC = PaperSpec(dpi=100.0)  # the dataset's resolution
MEASURE = {name: index for index, name in enumerate(ROW_MEASURES)}


@pytest.fixture(scope="module")
def record() -> Ecg:
    from heartcare.sim.simulate import SimulationSpec, simulate

    return simulate(SimulationSpec(conditions={}, age=50, sex="F"), fs=500.0, seconds=10.0, seed=5).ecg


def _with(record: Ecg, leads: tuple[str, ...], added) -> Ecg:
    signal = record.signal.copy()
    times = np.arange(record.samples) / record.fs
    for lead in leads:
        signal[record.leads.index(lead)] += added(times)
    return Ecg(signal, record.fs, list(record.leads))


def _rows(texture: np.ndarray) -> np.ndarray:
    return texture[:-1].reshape(-1, len(ROW_MEASURES))


def test_a_drawn_page_is_read_into_four_rows_with_the_flag_set(record):
    texture = trace_texture(render(record, "3x4+II", SPEC))
    assert texture.shape == (texture_width(4),) and texture.dtype == np.float32 and texture[-1] == 1.0
    rows = _rows(texture)
    assert (rows[:, MEASURE["inked share"]] > 0.5).all()  # every row drawn most of the way across
    assert (rows[:, MEASURE["median thickness"]] > 0).all() and np.isfinite(texture).all()


def test_a_blank_page_is_flagged_unread_with_zeros():
    texture = trace_texture(np.full((400, 1000, 3), 255, dtype=np.uint8))
    assert texture.shape == (texture_width(4),) and not texture.any()


def test_baseline_wander_on_lead_ii_shows_in_the_rows_that_draw_lead_ii(record):
    """3 x 4 + II: lead II is drawn in row 2 (first column) and is the rhythm strip, row 4; rows 1 and 3 do
    not draw it. Wander on II alone must lift rows 2 and 4 above the clean page, and above rows 1 and 3."""
    clean = _rows(trace_texture(render(record, "3x4+II", SPEC)))
    wandering = _rows(trace_texture(render(_with(record, ("II",), lambda t: 0.6 * np.sin(2 * np.pi * 0.3 * t)), "3x4+II", SPEC)))
    wander = MEASURE["wander range"]
    assert wandering[3, wander] > 2 * clean[3, wander]  # the strip is II for the whole 10 s
    assert wandering[1, wander] > clean[1, wander]  # II fills a quarter of row 2
    assert wandering[3, wander] > max(wandering[0, wander], wandering[2, wander])
    assert abs(wandering[0, wander] - clean[0, wander]) < 0.02 and abs(wandering[2, wander] - clean[2, wander]) < 0.02


def test_tremor_thickens_and_jitters_every_row(record):
    """Muscle tremor (fast small oscillation) on every lead: the stroke's ink per column and its
    column-to-column jumps grow in every row."""
    rng = np.random.default_rng(0)
    tremor = rng.normal(0.0, 0.08, record.samples)
    noisy = _with(record, tuple(STANDARD_LEADS), lambda t: tremor)
    clean, shaken = _rows(trace_texture(render(record, "3x4+II", SPEC))), _rows(trace_texture(render(noisy, "3x4+II", SPEC)))
    for measure in ("thick strokes", "jitter"):
        assert (shaken[:, MEASURE[measure]] > clean[:, MEASURE[measure]]).all(), measure


def test_the_measures_are_in_row_spacings_so_resolution_mostly_cancels(record):
    """The same page at 100 and 200 dpi: thickness, wander spread and inked share agree to within a
    small part of the changes noise makes (the wander range, an extreme, moves more)."""
    low, high = _rows(trace_texture(render(record, "3x4+II", SPEC))), _rows(trace_texture(render(record, "3x4+II", PaperSpec(dpi=200.0))))
    for measure, tolerance in (("median thickness", 0.005), ("wander", 0.01), ("inked share", 0.02)):
        assert np.allclose(low[:, MEASURE[measure]], high[:, MEASURE[measure]], atol=tolerance), measure
