import json
from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare import cli
from heartcare.ecg.read import read_ecg

JSON_KEYS = {"fs", "leads", "seconds", "hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg"}


@pytest.fixture(autouse=True)
def only_ecg_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real `heartcare` entry point, with only this module's subcommands registered,
    so these tests do not depend on other subpackages' commands being importable."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("heartcare.ecg.commands",))


def main(argv: list[str]) -> int:
    return cli.main(argv)


def test_info_json_has_the_documented_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = write_wfdb_record(tmp_path, "rec", synthetic_signal(fs=500, seconds=4), 500)
    assert main(["info", str(header), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert JSON_KEYS <= set(info)
    assert info["fs"] == 500 and info["seconds"] == 4 and len(info["leads"]) == 12
    assert info["source"] == "wfdb"


def test_info_table_and_fs_for_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", synthetic_signal(fs=250, seconds=4))
    assert main(["info", str(tmp_path / "x.npy"), "--fs", "250"]) == 0
    out = capsys.readouterr().out
    assert "250" in out and "npy" in out


def test_info_masks_a_flat_lead_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signal = synthetic_signal(fs=250, seconds=4)
    signal[6] = 0.0  # V1 lead-off
    np.save(tmp_path / "x.npy", signal)
    assert main(["info", str(tmp_path / "x.npy"), "--fs", "250"]) == 1
    assert "--allow-flat-leads" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "x.npy"), "--fs", "250", "--allow-flat-leads", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing_leads"] == ["V1"]


def test_info_bad_file_prints_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n")
    assert main(["info", str(tmp_path / "pic.png")]) == 1
    assert "pic.png: not an ECG format" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["wfdb", "npy", "csv"])
def test_convert_round_trips(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    signal = synthetic_signal(fs=500, seconds=2)
    header = write_wfdb_record(tmp_path, "src", signal, 500)
    assert main(["convert", str(header), str(tmp_path / "out" / "dst"), "--to", fmt]) == 0
    written = capsys.readouterr().out.split()[1]
    ecg = read_ecg(written)
    assert ecg.fs == 500
    np.testing.assert_allclose(ecg.signal, read_ecg(header).signal, atol=1e-4)


def test_info_on_the_real_dicom_reports_measurements(capsys: pytest.CaptureFixture[str]) -> None:
    from pydicom.data import get_testdata_file

    assert main(["info", get_testdata_file("waveform_ecg.dcm"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fs"] == 1000 and info["seconds"] == 10 and info["source"] == "dicom"
    assert info["hr_bpm"] is not None and abs(info["hr_bpm"] - 61) < 5
