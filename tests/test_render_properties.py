"""Every lead lands in its own layout cell and its own crop: each lead is drawn with a
different number of spikes (lead k of the standard order has k + 1), so two swapped
leads, panels or crops change a count."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.render import (
    LAYOUTS,
    PaperColours,
    PaperSpec,
    lead_crops,
    panels,
    render,
    tile_crops,
)
from heartcare.render.crops import CROP_ORDER
from heartcare.render.layout import Panel

FS = 500.0
SPIKE_MV = 0.8
LEAD_IN_S = 0.5  # no spike under the lead label or the column mark


def spiky_ecg(layout: str, spec: PaperSpec) -> Ecg:
    """[12, 5000] mV: lead k carries k + 1 narrow spikes inside its own panel's time window."""
    time = np.arange(int(FS * 10)) / FS
    signal = np.zeros((12, time.size), np.float32)
    for panel in panels(layout, spec):
        if panel.rhythm:
            continue
        index = STANDARD_LEADS.index(panel.lead)
        step = (panel.stop_s - panel.start_s - LEAD_IN_S - 0.2) / 12
        for k in range(index + 1):
            centre = panel.start_s + LEAD_IN_S + (k + 0.5) * step
            signal[index] += SPIKE_MV * np.exp(-0.5 * ((time - centre) / 0.008) ** 2)
    return Ecg(signal, FS)


def count_spikes(ink: np.ndarray) -> int:
    """Separate runs of columns holding dark ink in `ink` [h, w] (0 paper .. 1 black)."""
    columns = (ink > 0.5).any(axis=0).astype(int)
    return int((np.diff(np.concatenate([[0], columns])) == 1).sum())


def darkness(image: np.ndarray) -> np.ndarray:
    return 1.0 - image.astype(np.float32).mean(axis=2) / 255.0


def spike_band(ink: np.ndarray, panel: Panel, spec: PaperSpec, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part of a panel [top, 0.3 mV above baseline) x [past the lead label, right) of `ink` cut to `box`."""
    scale = spec.px_per_mm
    left, top, right, _ = box
    bottom = int((panel.baseline_mm - 0.3 * spec.gain_mm_mv) * scale)
    start = int((panel.left_mm + 0.8 * LEAD_IN_S * spec.speed_mm_s) * scale)
    return ink[top:bottom, max(left, start):right]


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_cell_holds_its_own_lead(layout):
    spec = PaperSpec(header=False, colours=PaperColours(show_grid=False))
    ink = darkness(render(spiky_ecg(layout, spec), layout, spec))
    for panel in panels(layout, spec):
        expected = 2 if panel.rhythm else STANDARD_LEADS.index(panel.lead) + 1  # the strip is lead II
        assert count_spikes(spike_band(ink, panel, spec, panel.box_px(spec))) == expected, (layout, panel)


def test_layouts_follow_the_clinical_arrangement():
    """3x4: columns I-III, aVR-aVF, V1-V3, V4-V6; 6x2 (the paper's crops): I-aVF left, V1-V6 right."""
    spec = PaperSpec()
    for layout, rows_per_column in (("3x4", 3), ("3x4+II", 3), ("6x2", 6), ("12x1", 12)):
        for panel in panels(layout, spec):
            if not panel.rhythm:
                assert panel.lead == STANDARD_LEADS[panel.column * rows_per_column + panel.row], (layout, panel)
    strips = [panel for panel in panels("3x4+II", spec, rhythm_lead="V1") if panel.rhythm]
    assert [(strip.lead, strip.row, strip.column, strip.start_s) for strip in strips] == [("V1", 3, 0, 0.0)]
    assert strips[0].stop_s == pytest.approx(strips[0].width_mm / spec.speed_mm_s)  # the whole strip, 25 mm per s
    assert [panel.lead for panel in panels("3x4+II", spec) if panel.rhythm] == ["II"]  # the default strip


def test_the_rhythm_strip_draws_the_requested_lead_and_defaults_are_the_paper_sheet():
    from heartcare.render.sheet import render_parameters

    spec = PaperSpec(header=False, colours=PaperColours(show_grid=False))
    ecg = spiky_ecg("3x4+II", spec)
    ink = darkness(render(ecg, "3x4+II", spec, rhythm_lead="V1"))
    strip = next(panel for panel in panels("3x4+II", spec, rhythm_lead="V1") if panel.rhythm)
    assert count_spikes(spike_band(ink, strip, spec, strip.box_px(spec))) == 7  # V1's seven spikes
    np.testing.assert_array_equal(render(ecg, spec=spec), render(ecg, "3x4+II", spec, rhythm_lead="II"))
    with_header, aged = PaperSpec(dpi=60.0), Ecg(ecg.signal, FS, meta={"age": 63, "sex": "F"})
    assert not np.array_equal(render(aged, spec=with_header, header_fields=("age",)), render(aged, spec=with_header))
    parameters = render_parameters(ecg, "6x2", spec, "V1")
    assert parameters == {"renderer": "heartcare.render", "layout": "6x2", "rhythm_lead": "V1", "fs": 500.0,
                          "seconds": 10.0, "spec": spec.to_dict()}


def test_each_crop_holds_its_own_lead_in_the_6x2_reading_order():
    assert CROP_ORDER == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    spec = PaperSpec()
    ecg = spiky_ecg("6x2", spec)
    crops = lead_crops(ecg, spec)
    by_lead = {panel.lead: panel for panel in panels("6x2", spec)}
    for index, crop in enumerate(crops):
        panel = by_lead[CROP_ORDER[index]]
        left, top, right, bottom = panel.box_px(spec)
        assert crop.shape == (bottom - top, right - left, 3)
        # the crop in sheet coordinates, so the shared band helper applies
        sheet = np.zeros((bottom, right), np.float32)
        sheet[top:bottom, left:right] = darkness(crop)
        assert count_spikes(spike_band(sheet, panel, spec, (left, top, right, bottom))) == index + 1, panel.lead


def test_crops_of_a_3x4_sheet_and_their_tiling_keep_every_lead_in_place():
    spec = PaperSpec()
    sheet = render(spiky_ecg("3x4+II", spec), "3x4+II", spec.with_changes(header=False))
    crops = lead_crops(sheet, spec, layout="3x4+II", size=(300, 240))
    counts = [count_spikes(darkness(crop)[:110, 60:]) for crop in crops]
    assert counts == list(range(1, 13))
    tiled = darkness(tile_crops(crops))  # [6 * 240, 2 * 300]: I-aVF left, V1-V6 right
    for row in range(6):
        for column in range(2):
            cell = tiled[row * 240 : row * 240 + 110, column * 300 + 60 : (column + 1) * 300]
            assert count_spikes(cell) == column * 6 + row + 1, (row, column)


def test_crops_of_a_rescaled_sheet_and_of_another_spec_still_hold_their_leads():
    from PIL import Image

    spec = PaperSpec(dpi=100.0, header=False, colours=PaperColours(show_grid=False))
    ecg = spiky_ecg("6x2", spec)
    direct = lead_crops(ecg, spec)  # the Ecg drawn with this spec, not the default one
    by_lead = {panel.lead: panel for panel in panels("6x2", spec)}
    for index, crop in enumerate(direct):
        left, top, right, bottom = by_lead[CROP_ORDER[index]].box_px(spec)
        assert crop.shape == (bottom - top, right - left, 3)
        assert count_spikes(darkness(crop)[: int(0.4 * crop.shape[0]), int(0.45 * crop.shape[1] / 5) :]) == index + 1
    sheet = render(ecg, "6x2", spec)
    half = np.asarray(Image.fromarray(sheet).resize((sheet.shape[1] // 2, sheet.shape[0] // 2), Image.Resampling.BILINEAR))
    rescaled = lead_crops(half, spec, layout="6x2")
    for index, crop in enumerate(rescaled):
        assert abs(crop.shape[0] - direct[index].shape[0] / 2) <= 1 and abs(crop.shape[1] - direct[index].shape[1] / 2) <= 1
        assert count_spikes(darkness(crop)[: int(0.4 * crop.shape[0]), int(0.45 * crop.shape[1] / 5) :]) == index + 1


def test_crops_accept_grey_and_rgba_sheets_and_resize_bilinearly():
    from PIL import Image

    spec = PaperSpec(dpi=60.0)
    sheet = render(spiky_ecg("6x2", spec), "6x2", spec.with_changes(header=False))
    colour = lead_crops(sheet, spec)
    grey = lead_crops(sheet[..., 0], spec)
    rgba = lead_crops(np.concatenate([sheet, np.full(sheet.shape[:2] + (1,), 255, np.uint8)], axis=2), spec)
    for plain, from_grey, from_rgba in zip(colour, grey, rgba, strict=True):
        assert from_grey.shape == from_rgba.shape == plain.shape and plain.shape[2] == 3
        np.testing.assert_array_equal(from_rgba, plain)
        np.testing.assert_array_equal(from_grey, np.repeat(plain[..., :1], 3, axis=2))
    sized = lead_crops(sheet, spec, size=(64, 32))
    expected = np.asarray(Image.fromarray(colour[3]).resize((64, 32), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(sized[3], expected)


def test_crop_and_tile_errors_say_what_is_wrong():
    from heartcare.errors import ConfigError
    from heartcare.render.layout import LayoutSpec

    with pytest.raises(ConfigError, match=r"needs an \[H, W, 3\] image, got shape \(4, 4, 2\)"):
        lead_crops(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ConfigError, match=r"needs an \[H, W, 3\] image"):
        lead_crops(np.zeros((4, 4, 3, 1), np.uint8))
    limbs = LayoutSpec("limbs", (("I", "aVR"), ("II", "aVL"), ("III", "aVF")))
    with pytest.raises(ConfigError, match=r"has no panel for lead\(s\) V1, V2, V3, V4, V5, V6"):
        lead_crops(np.zeros((1275, 1650, 3), np.uint8), layout=limbs)
    crops = [np.zeros((4, 6, 3), np.uint8)] * 12
    assert tile_crops(crops).shape == (24, 12, 3)
    with pytest.raises(ConfigError, match="12 crops of one shape"):
        tile_crops(crops[:11])
    with pytest.raises(ConfigError, match="12 crops of one shape"):
        tile_crops(crops[:11] + [np.zeros((4, 7, 3), np.uint8)])


def test_header_prints_the_requested_fields_in_order_and_skips_empty_ones():
    from heartcare.render.sheet import header_text

    ecg = Ecg(np.zeros((12, 10), np.float32), 500.0, meta={"age": 63.0, "sex": "", "hr_bpm": 71.6, "weight": 80})
    fields = ("age", "sex", "hr_bpm", "weight", "missing")
    assert header_text(ecg, PaperSpec(), fields) == "25 mm/s   10 mm/mV   500 Hz   Age 63   HR 72 bpm   weight 80"
    ecg.meta["sex"] = "F"
    assert header_text(ecg, PaperSpec(speed_mm_s=50.0), ("sex", "age")) == "50 mm/s   10 mm/mV   500 Hz   Sex F   Age 63"


def test_a_layout_needs_rows_of_equal_length():
    from heartcare.errors import ConfigError
    from heartcare.render.layout import LayoutSpec

    assert LayoutSpec("ok", (("I", "II"), ("III", "aVR")), rhythm_rows=1).row_count == 3
    for rows in ((("I", "II"), ("III",)), ()):
        with pytest.raises(ConfigError, match="every row needs the same number of columns"):
            LayoutSpec("bad", rows)


def test_png_with_another_rhythm_lead_matches_the_array():
    import io

    from PIL import Image

    spec = PaperSpec(dpi=60.0, header=False)
    ecg = spiky_ecg("3x4+II", spec)
    array = render(ecg, "3x4+II", spec, rhythm_lead="V1")
    png = np.asarray(Image.open(io.BytesIO(render(ecg, "3x4+II", spec, rhythm_lead="V1", format="png"))).convert("RGB"))
    strip = next(panel for panel in panels("3x4+II", spec, rhythm_lead="V1") if panel.rhythm)
    left, top, right, bottom = strip.box_px(spec)
    difference = np.abs(png.astype(int) - array.astype(int))[top:bottom, left:right]
    assert difference.mean() < 1.0 and np.percentile(difference, 99) < 40  # palette rounding only
    # the strip's lead name: nearer the array's "V1" than the default strip's "II" (palette rounding blurs text)
    label = (slice(top, top + int(6 * spec.px_per_mm)), slice(left, left + int(12 * spec.px_per_mm)))
    default = render(ecg, "3x4+II", spec)
    assert np.abs(png[label].astype(int) - array[label]).mean() < np.abs(png[label].astype(int) - default[label]).mean()
