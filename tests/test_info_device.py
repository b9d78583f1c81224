"""`heartcare info` prints the cart's own measurements beside heartcare's."""

import json
from pathlib import Path

import pytest
from test_ecg_xml_fixtures import MUSE_LEADS, muse_xml
from test_read_fixtures import synthetic_signal

from heartcare import cli
from heartcare.ecg.leads import STANDARD_LEADS


@pytest.fixture(autouse=True)
def only_ecg_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("heartcare.ecg.commands",))


@pytest.fixture(scope="module")
def real_dicom() -> str:
    from pydicom.data import get_testdata_file

    return get_testdata_file("waveform_ecg.dcm")


@pytest.fixture
def muse_file(tmp_path: Path) -> Path:
    signal = synthetic_signal(fs=500, seconds=8)
    leads = {name: signal[STANDARD_LEADS.index(name)] for name in MUSE_LEADS}
    path = tmp_path / "muse.xml"
    path.write_text(muse_xml(leads), encoding="latin-1")
    return path


def test_info_json_puts_the_dicom_carts_values_in_device(real_dicom: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", real_dicom, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    device = info["device"]
    assert (device["pr_ms"], device["qrs_ms"], device["qt_ms"], device["qtc_ms"]) == (161, 75, 368, 370)
    assert device["axis_deg"] == 52 and device["hr_bpm"] == pytest.approx(61.1)
    assert info["device_statements"] == ["RITMO SINUSALE", "ECG NORMALE"]
    assert abs(info["hr_bpm"] - device["hr_bpm"]) < 5  # heartcare's own keys stay beside the cart's


def test_info_table_shows_device_and_heartcare_columns(real_dicom: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", real_dicom]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "heartcare" in out
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:4]]
            for line in out.splitlines() if line.count("│") >= 4}
    assert rows["PR (ms)"][0] == "161" and rows["QRS (ms)"][0] == "75"
    assert rows["QT (ms)"][0] == "368" and rows["QTc (ms)"][0] == "370"
    assert rows["T axis (deg)"][1].startswith("- (not measured by heartcare")
    assert "device: RITMO SINUSALE" in out


def test_info_on_muse_xml_compares_with_the_cart(muse_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", str(muse_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"] == "muse" and info["fs"] == 500 and info["missing_leads"] == []
    assert info["device"] == {"hr_bpm": 64, "pr_ms": 156, "qrs_ms": 88, "qt_ms": 392, "qtc_ms": 404,
                              "p_axis_deg": 54, "axis_deg": 45, "t_axis_deg": 38}
    assert info["hr_bpm"] == pytest.approx(72, abs=3)  # heartcare measures the signal, not the cart's text
    assert cli.main(["info", str(muse_file)]) == 0
    out = capsys.readouterr().out
    assert "HR (bpm)" in out and "QRS axis (deg)" in out and "device: Normal ECG" in out


def test_info_without_device_findings_has_no_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    np.save(tmp_path / "x.npy", synthetic_signal(fs=250, seconds=4))
    assert cli.main(["info", str(tmp_path / "x.npy"), "--fs", "250", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device"] is None and info["device_statements"] is None
    assert cli.main(["info", str(tmp_path / "x.npy"), "--fs", "250"]) == 0
    assert "heartcare" not in capsys.readouterr().out.split("x.npy", 1)[1]
