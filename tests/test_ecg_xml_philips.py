"""Philips reader tests. sierraecg 0.4.0 ships no example XML and no encoder, so XLI
files are built with the encoder in test_ecg_xml_fixtures (checked against sierraecg's
own decoder there)."""

from pathlib import Path

import numpy as np
import pytest
from test_ecg_xml_fixtures import distinct_leads, philips_xml

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import UnreadableFileError


def write(tmp_path: Path, text: str, name: str = "philips.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("compression", ["Uncompressed", "XLI"])
def test_philips_leads_round_trip_with_offset(tmp_path: Path, compression: str) -> None:
    leads = distinct_leads()
    ecg = read_ecg(write(tmp_path, philips_xml(leads, offset=37, compression=compression)))
    assert ecg.meta["source"] == "philips" and ecg.fs == 500 and ecg.samples == 1000
    assert ecg.meta["derived_leads"] == [] and ecg.meta["trimmed_calibration_samples"] == 0
    for name in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(name), leads[name], atol=6e-3, err_msg=name)


def test_philips_resolution_is_applied(tmp_path: Path) -> None:
    leads = distinct_leads()
    ecg = read_ecg(write(tmp_path, philips_xml(leads, resolution=1.0)))
    np.testing.assert_allclose(ecg.lead("aVF"), leads["aVF"], atol=1e-3)


def test_philips_calibration_tail_is_cut(tmp_path: Path) -> None:
    leads = {name: np.concatenate([values, np.zeros(50), np.ones(50)]) for name, values in distinct_leads().items()}
    ecg = read_ecg(write(tmp_path, philips_xml(leads, compression="XLI")))
    assert ecg.samples == 1000 and ecg.meta["trimmed_calibration_samples"] == 100


def test_philips_findings_prefer_the_interpretation(tmp_path: Path) -> None:
    leads = distinct_leads()
    median = {name: values[:300] for name, values in leads.items()}
    ecg = read_ecg(write(tmp_path, philips_xml(leads, median=median)))
    assert ecg.meta["device_measurements"] == {
        "hr_bpm": 72, "rr_ms": 833, "pr_ms": 148, "qrs_ms": 86, "qt_ms": 380, "qtc_ms": 417,
        "p_axis_deg": 12, "axis_deg": 30, "t_axis_deg": 45,
    }
    assert ecg.meta["device_statements"] == ["SINUS RHYTHM (normal P axis, V-rate 50-99)", "- NORMAL ECG -"]
    assert ecg.meta["age"] == 61 and ecg.meta["sex"] == "F" and ecg.meta["patient_id"] == "PH-7"
    beats = ecg.meta["median_beats"]
    assert beats.signal.shape == (12, 300)  # the 32767 padding after the beat is cut
    np.testing.assert_allclose(beats.lead("V3"), median["V3"], atol=3e-3)


def test_philips_truncated_uncompressed_data_is_reported(tmp_path: Path) -> None:
    text = philips_xml(distinct_leads())
    start = text.index('notchfiltered="False">') + len('notchfiltered="False">')
    stop = text.index("</parsedwaveforms>")
    text = text[:start] + text[start : start + (stop - start) // 2 // 4 * 4] + text[stop:]
    with pytest.raises(UnreadableFileError, match=r"cut\.xml: <parsedwaveforms> truncated"):
        read_ecg(write(tmp_path, text, "cut.xml"))


def test_philips_corrupt_xli_is_reported(tmp_path: Path) -> None:
    text = philips_xml(distinct_leads(), compression="XLI")
    start = text.index('notchfiltered="False">') + len('notchfiltered="False">')
    text = text[:start] + "AAAA" + text[start + 200 :]  # damaged first chunk header and data
    with pytest.raises(UnreadableFileError, match=r"xli\.xml: (corrupt XLI|XLI waveform|<parsedwaveforms>)"):
        read_ecg(write(tmp_path, text, "xli.xml"))
