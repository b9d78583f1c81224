from pathlib import Path

import numpy as np
import pytest
from test_ecg_xml_fixtures import cardiosoft_xml, distinct_leads

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import UnreadableFileError


def write(tmp_path: Path, text: str, name: str = "cardiosoft.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


@pytest.mark.parametrize("full_disclosure", [False, True], ids=["strip", "full-disclosure"])
def test_cardiosoft_leads_round_trip(tmp_path: Path, full_disclosure: bool) -> None:
    leads = distinct_leads(fs=250)
    ecg = read_ecg(write(tmp_path, cardiosoft_xml(leads, fs=250, full_disclosure=full_disclosure)))
    assert ecg.meta["source"] == "cardiosoft" and ecg.fs == 250 and ecg.samples == 500
    assert ecg.meta["waveform_section"] == ("FullDisclosure" if full_disclosure else "StripData")
    assert ecg.meta["derived_leads"] == [] and ecg.meta["original_units"] == ["uv"]
    for name in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(name), leads[name], atol=3e-3, err_msg=name)


def test_cardiosoft_resolution_is_applied(tmp_path: Path) -> None:
    leads = distinct_leads()
    ecg = read_ecg(write(tmp_path, cardiosoft_xml(leads, resolution=0.5)))
    np.testing.assert_allclose(ecg.lead("V5"), leads["V5"], atol=3e-4)


def test_cardiosoft_lead_order_is_by_name(tmp_path: Path) -> None:
    leads = distinct_leads()
    shuffled = {name: leads[name] for name in reversed(STANDARD_LEADS)}
    ecg = read_ecg(write(tmp_path, cardiosoft_xml(shuffled, full_disclosure=True)))
    np.testing.assert_allclose(ecg.lead("I"), leads["I"], atol=3e-3)
    np.testing.assert_allclose(ecg.lead("V6"), leads["V6"], atol=3e-3)


def test_cardiosoft_findings_and_medians(tmp_path: Path) -> None:
    leads = distinct_leads()
    median = {name: values[:400] for name, values in leads.items()}
    ecg = read_ecg(write(tmp_path, cardiosoft_xml(leads, median=median)))
    assert ecg.meta["device_measurements"] == {
        "hr_bpm": 71, "rr_ms": 845, "pr_ms": 162, "qrs_ms": 94, "qt_ms": 398, "qtc_ms": 425,
        "p_axis_deg": 61, "axis_deg": -12, "t_axis_deg": 40,
    }
    assert ecg.meta["device_statements"] == ["Sinus rhythm", "Left axis deviation", "Borderline ECG"]
    assert ecg.meta["patient_id"] == "UKB42" and ecg.meta["age"] == 63 and ecg.meta["sex"] == "F"
    beats = ecg.meta["median_beats"]
    assert beats.signal.shape == (12, 400)
    np.testing.assert_allclose(beats.lead("aVL"), median["aVL"], atol=3e-3)


def test_cardiosoft_without_waveforms_is_reported(tmp_path: Path) -> None:
    text = cardiosoft_xml(distinct_leads())
    text = text[: text.index("<StripData>")] + "</CardiologyXML>"
    with pytest.raises(UnreadableFileError, match=r"nowave\.xml: CardioSoft <CardiologyXML> has neither"):
        read_ecg(write(tmp_path, text, "nowave.xml"))


def test_cardiosoft_non_integer_sample_is_reported(tmp_path: Path) -> None:
    text = cardiosoft_xml(distinct_leads()).replace('<WaveformData lead="V2">', '<WaveformData lead="V2">x,', 1)
    with pytest.raises(UnreadableFileError, match=r"odd\.xml: <StripData> lead V2 holds a non-integer sample"):
        read_ecg(write(tmp_path, text, "odd.xml"))
