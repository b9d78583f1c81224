"""Reading a drawn page back into millivolts: heartcare draws a known record, the digitiser reads the
pixels alone, and each lead must come back where, when and how tall it was drawn."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.morphology import NAMES, PER_LEAD, morphology_features
from heartcare.ecg.record import Ecg
from heartcare.render import PaperSpec, render
from heartcare.render.digitize import DigitizeError, digitize

SPEC = PaperSpec(dpi=100.0)  # the dataset's resolution: 3.9 px per mm, a 1 px trace


@pytest.fixture(scope="module")
def record() -> Ecg:
    from heartcare.sim.simulate import SimulationSpec, simulate

    spec = SimulationSpec(conditions={"left_ventricular_hypertrophy": 0.8}, age=60, sex="M")
    return simulate(spec, fs=500.0, seconds=10.0, seed=3).ecg


@pytest.fixture(scope="module")
def page(record):
    return digitize(render(record, "3x4+II", SPEC), source="sheet.png")


def _truth(record: Ecg, lead: str, start_s: float, samples: int, fs: float) -> np.ndarray:
    times = start_s + np.arange(samples) / fs
    return np.interp(times, np.arange(record.samples) / record.fs, record.lead(lead))


def _aligned(trace, record: Ecg, lead: str | None = None) -> float:
    """Correlation with the drawn lead, best within +-20 ms: a page is read to its pixels (10 ms at
    100 dpi), and the ink's first column sits a line-cap before the first sample."""
    return max(float(np.corrcoef(trace.signal, _truth(record, lead or trace.lead, trace.start_s + shift,
                                                       trace.signal.size, trace.fs))[0, 1])
               for shift in np.arange(-0.02, 0.021, 0.004))


def _correlations(page, record: Ecg) -> dict[tuple[str, float], float]:
    return {(trace.lead, trace.start_s): _aligned(trace, record) for trace in page.traces}


def test_every_lead_comes_back_in_its_own_window(page, record):
    correlations = _correlations(page, record)
    assert {lead for lead, _ in correlations} == set(STANDARD_LEADS)
    assert len(page.traces) == 13  # 12 panels and the lead II rhythm strip
    assert min(correlations.values()) > 0.88 and np.median(list(correlations.values())) > 0.93, correlations
    rhythm = page.longest("II")
    assert rhythm.signal.size == pytest.approx(10.0 * rhythm.fs, abs=2)


def test_each_reading_matches_its_own_lead_better_than_any_other(page, record):
    """A layout slip (V1 read as V2, a column shifted by one, rows swapped) matches the wrong truth:
    by the millivolt error, against every lead drawn differently enough to tell (V4 and V5 of one
    heart can be near twins)."""
    def error(trace, lead: str) -> float:
        return min(float(np.sqrt(np.mean((trace.signal - _truth(record, lead, trace.start_s + shift,
                                                                  trace.signal.size, trace.fs)) ** 2)))
                   for shift in np.arange(-0.02, 0.021, 0.004))

    for trace in page.traces:
        own = _truth(record, trace.lead, trace.start_s, trace.signal.size, trace.fs)
        for other in STANDARD_LEADS:
            theirs = _truth(record, other, trace.start_s, trace.signal.size, trace.fs)
            if other != trace.lead and np.sqrt(np.mean((own - theirs) ** 2)) > 0.15:
                assert error(trace, trace.lead) < error(trace, other), (trace.lead, other)


def test_amplitudes_and_time_scale_are_those_drawn(page, record):
    assert page.px_per_mv == pytest.approx(SPEC.px_per_mm * SPEC.gain_mm_mv, rel=0.03)
    assert page.px_per_second == pytest.approx(SPEC.px_per_mm * SPEC.speed_mm_s, rel=0.01)
    for trace in page.traces:
        truth = _truth(record, trace.lead, trace.start_s, trace.signal.size, trace.fs)
        assert np.ptp(trace.signal) == pytest.approx(np.ptp(truth), rel=0.08, abs=0.04), trace.lead
        assert abs(np.median(trace.signal - truth)) < 0.05  # baseline where it was drawn, not flipped


def test_morphology_of_the_page_matches_the_signals(page, record):
    """What picture readers would get: R and T amplitudes per lead and the heart rate within what a
    1-px trace at 100 dpi resolves (0.026 mV per pixel)."""
    read, measured = page.morphology(), morphology_features(record)
    for lead in ("I", "V2", "V5", "aVF"):
        for wave in ("r_mv", "t_mv"):
            index = NAMES.index(f"{lead}_{wave}")
            truth = float(measured[index])
            assert float(read[index]) == pytest.approx(truth, abs=0.1 + 0.1 * abs(truth)), (lead, wave)
    rate = NAMES.index("hr_bpm_scaled")
    assert float(read[rate]) * 100 == pytest.approx(float(measured[rate]) * 100, abs=2.0)
    # the axis needs limb leads the rhythm strip lacks: it comes from the first column (I, II, III)
    axis = [NAMES.index("axis_cos"), NAMES.index("axis_sin")]
    assert read[NAMES.index("axis_deg_measured")] == 1.0
    assert np.degrees(np.arctan2(read[axis[1]], read[axis[0]])) == pytest.approx(
        np.degrees(np.arctan2(measured[axis[1]], measured[axis[0]])), abs=15.0)
    assert len(PER_LEAD) * len(STANDARD_LEADS) < len(read)


def test_a_turned_scan_is_straightened(record):
    from scipy import ndimage

    image = render(record, "3x4+II", SPEC)
    turned = np.stack([ndimage.rotate(image[..., channel], 1.5, reshape=False, order=1, cval=255)
                       for channel in range(3)], axis=-1).astype(np.uint8)
    page = digitize(turned)
    assert page.rotation_deg == pytest.approx(-1.5, abs=0.3) or page.rotation_deg == pytest.approx(1.5, abs=0.3)
    assert np.median(list(_correlations(page, record).values())) > 0.85


def test_a_greyscale_grid_is_not_read_as_trace(record):
    grey = render(record, "3x4+II", SPEC).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    page = digitize(np.repeat(grey[..., None], 3, axis=2).astype(np.uint8))
    assert np.median(list(_correlations(page, record).values())) > 0.9


def test_pages_that_cannot_be_read_say_why(record):
    blank = np.full((850, 1100, 3), 255, dtype=np.uint8)
    with pytest.raises(DigitizeError, match="blank.png: .*trace rows"):
        digitize(blank, source="blank.png")
    image = render(record, "3x4+II", SPEC)
    no_pulse = image.copy()
    no_pulse[:, : int(SPEC.grid_origin_mm[0] + 9) * 4] = 255  # the calibration zone painted over
    with pytest.raises(DigitizeError, match="calibration pulse"):
        digitize(no_pulse, source="cut.png")


def test_rows_on_different_time_axes_are_refused(record):
    """A photo's perspective stretches one row more than another; the rows' beats then disagree with
    the rhythm strip, and the reading is refused rather than passed on misaligned."""
    from PIL import Image

    image = render(record, "3x4+II", SPEC)
    height, width = image.shape[:2]
    top = np.asarray(Image.fromarray(image[: height // 2]).resize((int(width * 1.06), height // 2)))[:, :width]
    distorted = np.concatenate([top, image[height // 2:]], axis=0)
    with pytest.raises(DigitizeError, match="beat timing"):
        digitize(distorted, source="photo.jpg")


def test_a_blurred_scan_keeps_its_scale(record):
    """Blur thickens every line both ways; the pulse is measured centre to centre, so 1 mV stays 1 mV."""
    from PIL import Image, ImageFilter

    blurred = np.asarray(Image.fromarray(render(record, "3x4+II", SPEC)).filter(ImageFilter.GaussianBlur(1.2)))
    page = digitize(blurred)
    assert page.px_per_mv == pytest.approx(SPEC.px_per_mm * SPEC.gain_mm_mv, rel=0.03)
    assert np.median(list(_correlations(page, record).values())) > 0.85


def test_page_morphology_marks_what_it_could_not_read(record):
    from heartcare.ecg.morphology import WIDTH
    from heartcare.render.digitize import page_morphology

    read, reason = page_morphology(render(record, "3x4+II", SPEC), source="sheet.png")
    assert reason is None and read.shape == (WIDTH + 1,) and read[-1] == 1.0 and np.abs(read[:-1]).sum() > 0
    blank, reason = page_morphology(np.full((850, 1100, 3), 255, dtype=np.uint8), source="blank.png")
    assert blank.shape == (WIDTH + 1,) and not blank.any() and "blank.png" in reason


def test_the_command_reads_pictures_and_lists_the_ones_it_cannot(record, tmp_path, capsys):
    """`heartcare digitize`: a drawn page comes back as 13 traces and the record's own measurements;
    a file that is no picture is listed with its reason and the batch goes on."""
    import json

    from PIL import Image

    from heartcare.cli import main
    from heartcare.ecg.measure import measure

    picture = tmp_path / "page.png"
    Image.fromarray(render(record, "3x4+II", SPEC)).save(picture)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main(["digitize", str(broken), str(picture), "-o", str(tmp_path / "read")]) == 0
    reading = json.loads((tmp_path / "read" / "page.json").read_text())
    assert len(reading["traces"]) == 13 and {trace["lead"] for trace in reading["traces"]} == set(STANDARD_LEADS)
    truth = measure(record).to_dict()
    assert reading["measurements"]["hr_bpm"] == pytest.approx(truth["hr_bpm"], abs=2.0)
    assert reading["measurements"]["qt_ms"] == pytest.approx(truth["qt_ms"], abs=30.0)
    failures = json.loads((tmp_path / "read" / "failures.json").read_text())
    assert [failure["picture"] for failure in failures] == [str(broken)] and "decode" in failures[0]["reason"]
    assert "page.png" in capsys.readouterr().out
    assert main(["digitize", str(broken)]) == 1  # nothing read at all


def test_the_rhythm_strip_tells_how_the_recording_was_taken(record, page):
    from heartcare.ecg.recording import PER_LEAD, lead_descriptors

    column = {name: index for index, name in enumerate(PER_LEAD)}
    clean = page.strip_recording()
    truth = lead_descriptors(Ecg(record.lead("II")[None], record.fs, ("II",)))[0]
    assert clean.shape == (len(PER_LEAD),)
    assert abs(clean[column["log_amplitude_mv"]] - truth[column["log_amplitude_mv"]]) < 0.05  # within 12%
    for band in ("log_power_0_0.5_hz", "log_power_0.5_5_hz", "log_power_5_15_hz"):  # the drawn lead II's, 10 s of it
        assert abs(clean[column[band]] - truth[column[band]]) < 0.1, band
    times = np.arange(record.samples) / record.fs
    wander = Ecg(record.signal + 0.25 * np.sin(2 * np.pi * 0.3 * times)[None], record.fs, record.leads)
    drifting = digitize(render(wander, "3x4+II", SPEC), source="drift.png").strip_recording()
    assert drifting[column["log_power_0_0.5_hz"]] > clean[column["log_power_0_0.5_hz"]] + 1.0  # 10x the slow power
    # the beats barely change (a 0.3 Hz wander leaks a little past the 0.5 Hz edge of the amplitude band)
    assert abs(drifting[column["log_amplitude_mv"]] - clean[column["log_amplitude_mv"]]) < 0.15
