from pathlib import Path

import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import UnreadableFileError

pydicom = pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def real_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def test_real_dicom_ecg_reads_as_12_lead_millivolts(real_dicom: Path) -> None:
    ecg = read_ecg(real_dicom)
    assert ecg.leads == STANDARD_LEADS and ecg.fs == 1000 and ecg.samples == 10000
    assert ecg.meta["source"] == "dicom" and ecg.meta["multiplex_group"] == "RHYTHM"
    assert ecg.meta["sex"] == "F" and ecg.meta["age"] == 42 and ecg.meta["patient_id"] == "642341"
    assert ecg.meta["original_units"] == ["uV"] and ecg.meta["original_fs"] == 1000
    # A real ECG in mV: R waves around 0.5-3 mV, nothing near the uV scale of the file.
    peak = np.abs(ecg.signal).max(axis=1)
    assert np.all(peak > 0.2) and np.all(peak < 5)
    # The cart recorded all 12 leads; Einthoven's law holds in the file itself.
    np.testing.assert_allclose(ecg.lead("III"), ecg.lead("II") - ecg.lead("I"), atol=0.02)


def test_channel_units_and_sensitivity_are_applied(real_dicom: Path, tmp_path: Path) -> None:
    reference = read_ecg(real_dicom)
    dataset = pydicom.dcmread(real_dicom)
    for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence:
        channel.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"
        channel.ChannelSensitivity = 0.001
        channel.ChannelSensitivityCorrectionFactor = 2
    changed = tmp_path / "mv.dcm"
    dataset.save_as(changed)
    ecg = read_ecg(changed)
    # 1.25 uV per unit before, now 0.002 mV per unit: 1.6 times the reference.
    np.testing.assert_allclose(ecg.signal, reference.signal * 1.6, rtol=1e-5, atol=1e-6)
    assert ecg.meta["original_units"] == ["mV"]


def test_dicom_without_waveform_is_reported(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    del dataset.WaveformSequence
    path = tmp_path / "nowave.dcm"
    dataset.save_as(path)
    with pytest.raises(UnreadableFileError, match=r"nowave\.dcm: DICOM file \(modality ECG\) holds no waveform"):
        read_ecg(path)


def test_truncated_waveform_data_is_reported(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    group = dataset.WaveformSequence[0]
    group.WaveformData = bytes(group.WaveformData)[:5000]
    path = tmp_path / "short.dcm"
    dataset.save_as(path)
    with pytest.raises(UnreadableFileError, match=r"short\.dcm: truncated waveform data"):
        read_ecg(path)


def test_random_bytes_named_dcm_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "noise.dcm"
    path.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(UnreadableFileError, match=r"noise\.dcm: not a readable DICOM"):
        read_ecg(path)


def test_dicom_without_extension_is_found_by_content(real_dicom: Path, tmp_path: Path) -> None:
    path = tmp_path / "EXPORT0001"
    path.write_bytes(real_dicom.read_bytes())
    assert read_ecg(path).meta["source"] == "dicom"


def test_channels_named_only_by_scpecg_code(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    codes = [channel.ChannelSourceSequence[0].CodeValue for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence]
    for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence:
        del channel.ChannelSourceSequence[0].CodeMeaning
    path = tmp_path / "codes.dcm"
    dataset.save_as(path)
    assert codes[0] == "5.6.3-9-1"
    np.testing.assert_array_equal(read_ecg(path).signal, read_ecg(real_dicom).signal)


def test_real_dicom_carries_the_carts_findings_and_median_beats(real_dicom: Path) -> None:
    ecg = read_ecg(real_dicom)
    assert ecg.meta["device_measurements"] == {
        "rr_ms": 982, "hr_bpm": 61.1, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
        "p_axis_deg": 74, "axis_deg": 52, "t_axis_deg": 57,
    }
    assert ecg.meta["device_statements"] == ["RITMO SINUSALE", "ECG NORMALE"]
    beats = ecg.meta["median_beats"]
    assert beats.signal.shape == (12, 1200) and beats.fs == 1000 and all(beats.lead_mask)
    # One beat of the same ECG: its R wave is about as tall as the rhythm's.
    assert 0.5 < np.abs(beats.lead("II")).max() / np.abs(ecg.lead("II")).max() < 1.5
