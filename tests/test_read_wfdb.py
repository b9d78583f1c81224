from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import HeaderMismatchError, InvalidSignalError, LeadError, UnreadableFileError


def test_wfdb_round_trip_by_header_data_and_bare_path(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=500, seconds=3)
    header = write_wfdb_record(tmp_path, "rec1", signal, 500, comments=["Age: 61", "Sex: Female"])
    for path in (header, tmp_path / "rec1.dat", tmp_path / "rec1"):
        ecg = read_ecg(path)
        assert ecg.fs == 500 and ecg.leads == STANDARD_LEADS
        np.testing.assert_allclose(ecg.signal, signal, atol=6e-4)  # 1 uV quantisation
        assert ecg.meta["source"] == "wfdb" and ecg.meta["record_id"] == "rec1"
        assert ecg.meta["age"] == 61 and ecg.meta["sex"] == "F"
        assert ecg.meta["original_fs"] == 500 and ecg.meta["original_units"] == ["mV"]
        assert all(ecg.meta["lead_mask"])


def test_wfdb_microvolt_units_become_millivolts(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=2)
    header = write_wfdb_record(tmp_path, "uv", signal * 1000, 250, units="uV")
    ecg = read_ecg(header)
    np.testing.assert_allclose(ecg.signal, signal, atol=2e-3)
    assert ecg.meta["original_units"] == ["uV"]


def test_mimic_lead_order_is_reordered_by_name(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=500, seconds=2)
    mimic_order = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]
    stored = signal[[STANDARD_LEADS.index(name) for name in mimic_order]]
    ecg = read_ecg(write_wfdb_record(tmp_path, "m", stored, 500, leads=mimic_order))
    np.testing.assert_allclose(ecg.lead("aVL"), signal[4], atol=6e-4)
    np.testing.assert_allclose(ecg.lead("aVF"), signal[5], atol=6e-4)


def test_two_lead_record_derives_limb_leads_and_masks_chest(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=360, seconds=2)[:2]
    ecg = read_ecg(write_wfdb_record(tmp_path, "holter", signal, 360, leads=["MLI", "MLII"]))
    assert ecg.meta["lead_mask"] == [True] * 6 + [False] * 6
    assert set(ecg.meta["derived_leads"]) == {"III", "aVR", "aVL", "aVF"}
    np.testing.assert_allclose(ecg.lead("III"), ecg.lead("II") - ecg.lead("I"), atol=1e-6)


def test_truncated_dat_is_reported(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "cut", synthetic_signal(seconds=2), 500)
    data = tmp_path / "cut.dat"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(UnreadableFileError, match=r"cut\.dat: truncated"):
        read_ecg(header)


def test_header_signal_length_mismatch(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "long", synthetic_signal(seconds=2), 500)
    data = tmp_path / "long.dat"
    data.write_bytes(data.read_bytes() + b"\x01\x00" * 12 * 50)
    with pytest.raises(HeaderMismatchError, match=r"long\.dat: file holds 1050 samples"):
        read_ecg(header)


def test_corrupted_samples_fail_the_checksum(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "flip", synthetic_signal(seconds=2), 500)
    data = tmp_path / "flip.dat"
    content = bytearray(data.read_bytes())
    content[500] ^= 0xFF
    data.write_bytes(bytes(content))
    with pytest.raises(HeaderMismatchError, match=r"flip\.dat: checksum mismatch"):
        read_ecg(header)


def test_nan_samples_are_reported(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=2).astype(np.float64)
    signal[3, 100:120] = np.nan
    header = write_wfdb_record(tmp_path, "nan", signal, 500)
    with pytest.raises(InvalidSignalError, match=r"nan\.hea: missing .* samples in lead aVR"):
        read_ecg(header)


def test_flat_lead_raises_by_default_and_is_masked_on_request(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=2)
    signal[7] = 0.0
    header = write_wfdb_record(tmp_path, "flat", signal, 500)
    with pytest.raises(InvalidSignalError, match=r"flat\.hea: flat \(constant\) lead\(s\) V2"):
        read_ecg(header)
    ecg = read_ecg(header, allow_flat_leads=True)
    assert ecg.meta["flat_leads"] == ["V2"]
    assert ecg.meta["lead_mask"][7] is False and not ecg.lead("V2").any()


def test_unknown_channel_is_kept_as_an_extra_not_rejected(tmp_path: Path) -> None:
    leads = list(STANDARD_LEADS[:11]) + ["X7"]
    signal = synthetic_signal(seconds=2)
    header = write_wfdb_record(tmp_path, "odd", signal, 500, leads=leads)
    ecg = read_ecg(header)
    assert ecg.meta["extra_leads"] == ["X7"] and ecg.meta["lead_mask"][11] is False
    np.testing.assert_allclose(ecg.extra_lead("X7"), signal[11], atol=2e-3)


def test_record_without_any_standard_lead_is_reported(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "odd", synthetic_signal(seconds=2)[:3], 500, leads=["vx", "vy", "vz"])
    with pytest.raises(LeadError, match=r"odd\.hea: no standard ECG lead among the channels \('vx', 'vy', 'vz'\)"):
        read_ecg(header)


def test_missing_signal_file_is_reported(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "gone", synthetic_signal(seconds=2), 500)
    (tmp_path / "gone.dat").unlink()
    with pytest.raises(UnreadableFileError, match=r"gone\.dat: signal file .* is missing"):
        read_ecg(header)


def test_garbage_header_is_reported(tmp_path: Path) -> None:
    header = tmp_path / "junk.hea"
    header.write_bytes(b"\x89PNG\r\n\x1a\n not a header at all")
    with pytest.raises(UnreadableFileError, match=r"junk\.hea"):
        read_ecg(header)


def test_ptb_15_lead_record_keeps_frank_leads(tmp_path: Path) -> None:
    """PTB Diagnostic ECG Database layout: lower-case 12 leads, then Frank vx, vy, vz."""
    names = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6", "vx", "vy", "vz"]
    twelve = synthetic_signal(fs=1000, seconds=2)
    frank = twelve[[0, 5, 8]] * np.array([[0.5], [0.7], [-0.9]], dtype=np.float32)
    header = write_wfdb_record(tmp_path, "s0010_re", np.concatenate([twelve, frank]), 1000, leads=names)
    ecg = read_ecg(header)
    assert ecg.leads == STANDARD_LEADS and all(ecg.meta["lead_mask"]) and ecg.meta["derived_leads"] == []
    np.testing.assert_allclose(ecg.signal, twelve, atol=2e-3)
    assert ecg.meta["extra_leads"] == ["X", "Y", "Z"] and ecg.meta["extra_signal"].shape == (3, 2000)
    np.testing.assert_allclose(ecg.extra_lead("vz"), frank[2], atol=2e-3)
    np.testing.assert_allclose(ecg.extra_lead("Y"), frank[1], atol=2e-3)


def test_holter_mlii_with_a_flat_extra_channel_is_read(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=2)[:2]
    signal[1] = 0.0  # an unplugged auxiliary channel: flat, yet not a reason to reject
    header = write_wfdb_record(tmp_path, "100", signal, 360, leads=["MLII", "Resp"])
    ecg = read_ecg(header)
    assert ecg.meta["lead_mask"][1] is True and ecg.meta["extra_leads"] == ["Resp"]
    assert ecg.meta["flat_leads"] == []
