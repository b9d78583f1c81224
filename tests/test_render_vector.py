"""SVG and PDF output: one vector path per trace, signals recoverable from the file."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from heartcare.ecg.record import Ecg
from heartcare.render import PaperSpec, panels, render

SVG = "{http://www.w3.org/2000/svg}"


def sample_ecg() -> Ecg:
    t = np.arange(5000) / 500.0
    signal = np.stack([(0.2 + lead / 20) * np.sin(2 * np.pi * 1.3 * t + lead) for lead in range(12)]).astype(np.float32)
    return Ecg(signal, 500.0, meta={"age": 50, "sex": "M", "record_id": "hidden"})


def invert(points: np.ndarray, start: float, left: float, baseline: float, speed: float, gain: float):
    """(x, y) mm -> (t s, v mV), the way a PDF/SVG reader recovers a trace."""
    return start + (points[:, 0] - left) / speed, (baseline - points[:, 1]) / gain


@pytest.mark.parametrize("layout", ["3x4+II", "6x2"])
def test_svg_traces_invert_to_the_signal(layout):
    ecg = sample_ecg()
    spec = PaperSpec(speed_mm_s=50.0, gain_mm_mv=20.0)
    root = ElementTree.fromstring(render(ecg, layout, spec, format="svg"))
    traces = [p for p in root.iter(f"{SVG}path") if p.get("class") == "trace"]
    assert len(traces) == len(panels(layout, spec))
    assert "hidden" not in ElementTree.tostring(root, encoding="unicode")
    for path in traces:
        points = np.array([[float(v) for v in pair.split()] for pair in path.get("d")[1:].split("L")])
        t, v = invert(points, float(path.get("data-start-s")), float(path.get("data-left-mm")),
                      float(path.get("data-baseline-mm")), float(path.get("data-speed-mm-s")), float(path.get("data-gain-mm-mv")))
        samples = np.rint(t * ecg.fs).astype(int)
        assert np.allclose(t * ecg.fs, samples, atol=1e-3)
        assert np.abs(v - ecg.lead(path.get("data-lead"))[samples]).max() < 1e-3
    calibration = [p for p in root.iter(f"{SVG}path") if p.get("class") == "calibration"]
    assert len(calibration) == len({p.row for p in panels(layout, spec)})
    metadata = json.loads(root.find(f"{SVG}metadata").text)
    assert metadata["layout"] == layout


def test_pdf_is_valid_and_each_lead_is_a_separate_recoverable_path():
    pypdf = pytest.importorskip("pypdf")
    ecg = sample_ecg()
    data = render(ecg, "3x4+II", format="pdf")
    reader = pypdf.PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    width_mm = float(page.mediabox.width) * 25.4 / 72
    assert width_mm == pytest.approx(279.4, abs=0.01)
    assert json.loads(reader.metadata["/HeartcareRender"])["layout"] == "3x4+II"
    assert "V6" in page.extract_text()
    content = page.get_contents().get_data().decode("latin-1")
    blocks = re.findall(r"/Trace <<(.*?)>> BDC\n.*? re W n\n(.*?)S Q EMC", content, re.S)
    assert len(blocks) == 13
    for properties, path in blocks:
        fields = dict(re.findall(r"/(\w+) (\([^)]*\)|[-\d.]+)", properties))
        points = np.array([[float(a), float(b)] for a, b in re.findall(r"([-\d.]+) ([-\d.]+) [ml]", path)])
        t, v = invert(points, float(fields["Start"]), float(fields["Left"]), float(fields["Baseline"]),
                      float(fields["Speed"]), float(fields["Gain"]))
        lead = fields["Lead"].strip("()")
        assert np.abs(v - ecg.lead(lead)[np.rint(t * ecg.fs).astype(int)]).max() < 2e-3
    pulses = re.findall(r"/Calibration <<.*?/MV 1 /Seconds 0.2>> BDC", content)
    assert len(pulses) == 4


def test_pdf_rasterises_like_the_png():
    pdfium = pytest.importorskip("pypdfium2")
    ecg = sample_ecg()
    spec = PaperSpec(dpi=100.0, header=False)
    document = pdfium.PdfDocument(render(ecg, "6x2", spec, format="pdf"))
    drawn = np.asarray(document[0].render(scale=100 / 72).to_pil().convert("L"), np.float32)
    raster = render(ecg, "6x2", spec).astype(np.float32).mean(axis=2)
    height, width = min(drawn.shape[0], raster.shape[0]), min(drawn.shape[1], raster.shape[1])
    dark_pdf, dark_png = drawn[:height, :width] < 100, raster[:height, :width] < 100
    overlap = (dark_pdf & dark_png).sum() / max(dark_png.sum(), 1)
    assert overlap > 0.6  # the same ink lands on the same pixels, up to anti-aliasing
