from pathlib import Path

import numpy as np
import pytest
from test_ecg_xml_fixtures import MUSE_LEADS, distinct_leads, muse_xml

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import LeadError, UnreadableFileError


@pytest.fixture
def leads() -> dict[str, np.ndarray]:
    return distinct_leads()


def write(tmp_path: Path, text: str, name: str = "muse.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def test_muse_leads_round_trip_and_limb_leads_are_derived(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    stored = {name: leads[name] for name in MUSE_LEADS}
    ecg = read_ecg(write(tmp_path, muse_xml(stored)))
    assert ecg.meta["source"] == "muse" and ecg.fs == 500 and ecg.leads == STANDARD_LEADS
    assert ecg.meta["original_units"] == ["uV"] and all(ecg.meta["lead_mask"])
    for name in MUSE_LEADS:
        np.testing.assert_allclose(ecg.lead(name), leads[name], atol=3e-3, err_msg=name)
    lead_i, lead_ii = leads["I"], leads["II"]
    np.testing.assert_allclose(ecg.lead("III"), lead_ii - lead_i, atol=6e-3)
    np.testing.assert_allclose(ecg.lead("aVR"), -(lead_i + lead_ii) / 2, atol=6e-3)
    np.testing.assert_allclose(ecg.lead("aVL"), lead_i - lead_ii / 2, atol=6e-3)
    np.testing.assert_allclose(ecg.lead("aVF"), lead_ii - lead_i / 2, atol=6e-3)
    assert ecg.meta["derived_leads"] == ["III", "aVR", "aVL", "aVF"]


def test_muse_units_per_bit_scales_to_millivolts(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    stored = {name: leads[name] for name in MUSE_LEADS}
    ecg = read_ecg(write(tmp_path, muse_xml(stored, units_per_bit=1.0)))
    np.testing.assert_allclose(ecg.lead("V6"), leads["V6"], atol=1e-3)


def test_muse_measurements_statements_and_demographics(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    ecg = read_ecg(write(tmp_path, muse_xml({name: leads[name] for name in MUSE_LEADS})))
    assert ecg.meta["device_measurements"] == {
        "hr_bpm": 64, "pr_ms": 156, "qrs_ms": 88, "qt_ms": 392, "qtc_ms": 404,
        "p_axis_deg": 54, "axis_deg": 45, "t_axis_deg": 38,
    }
    assert ecg.meta["device_statements"] == ["Normal sinus rhythm with sinus arrhythmia", "Normal ECG"]
    assert ecg.meta["patient_id"] == "MRN123" and ecg.meta["age"] == 52 and ecg.meta["sex"] == "M"


def test_muse_median_beats_are_a_12_lead_ecg(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    median = {name: leads[name][:300] * 2 for name in MUSE_LEADS}
    ecg = read_ecg(write(tmp_path, muse_xml({name: leads[name] for name in MUSE_LEADS}, median=median)))
    beats = ecg.meta["median_beats"]
    assert beats.signal.shape == (12, 300) and beats.fs == 500
    np.testing.assert_allclose(beats.lead("V2"), median["V2"], atol=3e-3)
    np.testing.assert_allclose(beats.lead("III"), median["II"] - median["I"], atol=6e-3)
    assert ecg.samples == 1000  # the rhythm, not the median, is the record


def test_muse_without_lead_data_is_a_lead_error(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    text = muse_xml({"I": leads["I"]})
    start, stop = text.index("<LeadData>"), text.index("</LeadData>") + len("</LeadData>")
    with pytest.raises(LeadError, match=r"empty\.xml: Rhythm waveform holds no <LeadData>"):
        read_ecg(write(tmp_path, text[:start] + text[stop:], "empty.xml"))


def test_muse_bad_base64_names_file_and_lead(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    text = muse_xml({name: leads[name] for name in MUSE_LEADS})
    start = text.index("<WaveFormData>", text.index("<LeadID>V1</LeadID>")) + len("<WaveFormData>")
    broken = text[:start] + "!!not*base64" + text[start:]
    with pytest.raises(UnreadableFileError, match=r"bad\.xml: Rhythm waveform lead V1 <WaveFormData> is not valid base64"):
        read_ecg(write(tmp_path, broken, "bad.xml"))


def test_muse_short_lead_data_is_reported_as_truncated(tmp_path: Path, leads: dict[str, np.ndarray]) -> None:
    text = muse_xml({name: leads[name] for name in MUSE_LEADS})
    text = text.replace("<LeadSampleCountTotal>1000</LeadSampleCountTotal>", "<LeadSampleCountTotal>1200</LeadSampleCountTotal>", 1)
    with pytest.raises(UnreadableFileError, match=r"short\.xml: Rhythm waveform lead I: truncated, 1000 samples of 1200"):
        read_ecg(write(tmp_path, text, "short.xml"))
