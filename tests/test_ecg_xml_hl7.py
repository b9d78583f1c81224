from pathlib import Path

import numpy as np
import pytest
from test_ecg_xml_fixtures import distinct_leads, hl7_xml

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import SamplingRateError

ORIGINS = {name: 40.0 * (index - 5) for index, name in enumerate(STANDARD_LEADS)}  # uV, non-zero baselines


def write(tmp_path: Path, text: str, name: str = "aecg.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hl7_leads_round_trip_with_origin_and_scale(tmp_path: Path) -> None:
    leads = distinct_leads(fs=1000)
    ecg = read_ecg(write(tmp_path, hl7_xml(leads, fs=1000, origins_uv=ORIGINS)))
    assert ecg.meta["source"] == "hl7-aecg" and ecg.fs == pytest.approx(1000) and ecg.samples == 2000
    for name in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(name), leads[name], atol=2e-3, err_msg=name)


def test_hl7_findings_and_representative_beats(tmp_path: Path) -> None:
    leads = distinct_leads()
    median = {name: values[:250] for name, values in leads.items()}
    ecg = read_ecg(write(tmp_path, hl7_xml(leads, median=median, origins_uv=ORIGINS)))
    assert ecg.meta["device_measurements"] == {
        "hr_bpm": 58, "pr_ms": pytest.approx(172), "qrs_ms": 104, "qt_ms": 420, "qtc_ms": 413, "axis_deg": -35,
    }
    assert ecg.meta["device_statements"] == ["Sinus bradycardia"]
    assert ecg.meta["sex"] == "F" and ecg.meta["patient_id"] == "SUBJ-9"
    beats = ecg.meta["median_beats"]
    assert beats.signal.shape == (12, 250)
    np.testing.assert_allclose(beats.lead("V4"), median["V4"], atol=2e-3)


def test_hl7_extra_lead_codes_are_kept(tmp_path: Path) -> None:
    leads = distinct_leads()
    frank = {**{name: leads[name] for name in STANDARD_LEADS[:2]}, "X": leads["V1"], "V4R": leads["V2"]}
    ecg = read_ecg(write(tmp_path, hl7_xml(frank)))
    assert ecg.meta["extra_leads"] == ["X", "V4R"]
    np.testing.assert_allclose(ecg.extra_lead("V4R"), leads["V2"], atol=2e-3)


def test_hl7_without_time_increment_is_a_sampling_rate_error(tmp_path: Path) -> None:
    text = hl7_xml(distinct_leads())
    start = text.index("<increment")
    text = text[:start] + text[text.index("/>", start) + 2 :]
    with pytest.raises(SamplingRateError, match=r"notime\.xml: rhythm <series>: time sequence has no usable"):
        read_ecg(write(tmp_path, text, "notime.xml"))
