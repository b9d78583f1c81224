"""The DICOM reader pinned where mutation testing (issue 17) found it loose: per-lead channel baselines,
default sensitivities, lead names from meanings, group choice, and the cart's measurements under every
spelling a file uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reader_checks import raises_naming

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import (
    UnreadableFileError,
)

# ---- DICOM --------------------------------------------------------------------------------

pydicom = pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def real_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def rhythm_counts(dataset) -> np.ndarray:
    """[channels, samples] raw integers of the rhythm group."""
    group = dataset.WaveformSequence[0]
    raw = np.frombuffer(bytes(group.WaveformData), "<i2")
    return raw.reshape(int(group.NumberOfWaveformSamples), int(group.NumberOfWaveformChannels)).T.astype(float)


def test_dicom_channel_baselines_are_added_per_lead(real_dicom: Path, tmp_path: Path) -> None:
    reference = read_ecg(real_dicom)
    dataset = pydicom.dcmread(real_dicom)
    channels = dataset.WaveformSequence[0].ChannelDefinitionSequence
    offsets_uv = {}
    for index, channel in enumerate(channels):
        channel.ChannelBaseline = 40.0 * (index + 1) - 200.0  # uV, different on every channel
        name = channel.ChannelSourceSequence[0].CodeMeaning.split(" (")[0].replace("Lead ", "")
        offsets_uv[name] = float(channel.ChannelBaseline)
    path = tmp_path / "baseline.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    for lead in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(lead), reference.lead(lead) + offsets_uv[lead] / 1000, atol=1e-5)


def test_dicom_defaults_are_one_unit_per_microvolt(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    counts = rhythm_counts(dataset)
    for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence:
        for keyword in ("ChannelSensitivity", "ChannelSensitivityCorrectionFactor", "ChannelBaseline",
                        "ChannelSensitivityUnitsSequence"):
            delattr(channel, keyword)
    path = tmp_path / "bare.dcm"
    dataset.save_as(path)
    raw = read_ecg(path)
    assert raw.meta["original_units"] == ["uV"]
    np.testing.assert_allclose(raw.lead("I"), counts[0] / 1000, atol=1e-6)
    np.testing.assert_allclose(raw.lead("V6"), counts[11] / 1000, atol=1e-6)


def test_dicom_lead_names_come_from_meanings_whatever_the_code(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    for index, channel in enumerate(dataset.WaveformSequence[0].ChannelDefinitionSequence):
        channel.ChannelSourceSequence[0].CodeValue = f"2:{index + 1}"  # MDC-style codes
    path = tmp_path / "mdc.dcm"
    dataset.save_as(path)
    np.testing.assert_array_equal(read_ecg(path).signal, read_ecg(real_dicom).signal)


def test_dicom_groups_are_chosen_by_label_then_by_length(real_dicom: Path, tmp_path: Path) -> None:
    reference = read_ecg(real_dicom)
    dataset = pydicom.dcmread(real_dicom)
    rhythm, median = dataset.WaveformSequence
    median.MultiplexGroupLabel = "Representative"
    dataset.WaveformSequence = [median, rhythm]  # the median group first
    path = tmp_path / "representative.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    np.testing.assert_array_equal(ecg.signal, reference.signal)
    assert ecg.meta["median_beats"].signal.shape == (12, 1200)
    del rhythm.MultiplexGroupLabel  # no RHYTHM label: the longest group that is not a median
    median.MultiplexGroupLabel = "MEDIAN BEAT"
    path = tmp_path / "unlabelled.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    np.testing.assert_array_equal(ecg.signal, reference.signal)
    assert ecg.meta["multiplex_group"] == ""
    median.MultiplexGroupLabel = "rhythm"  # a short group labelled rhythm (any case) wins
    path = tmp_path / "short_rhythm.dcm"
    dataset.save_as(path)
    assert read_ecg(path).samples == 1200


def test_dicom_measurements_by_code_in_seconds_and_sample_annotations_ignored(real_dicom: Path, tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    dataset = pydicom.dcmread(real_dicom)
    annotations = list(dataset.WaveformAnnotationSequence)
    for annotation in annotations:
        concept = annotation.get("ConceptNameCodeSequence")
        if concept and "NumericValue" in annotation:
            meaning = concept[0].CodeMeaning
            if meaning in ("PR Interval", "QRS Duration"):
                del concept[0].CodeMeaning  # only the SCPECG code is left
            if meaning == "QT Interval":
                concept[0].CodeMeaning = "  QT INTERVAL "
            if meaning == "RR Interval":
                annotation.NumericValue = 0.982  # seconds
                annotation.MeasurementUnitsCodeSequence[0].CodeValue = "s"
            if meaning == "QTc Interval":
                del annotation.MeasurementUnitsCodeSequence  # no unit: taken as given
    positioned = Dataset()  # a value tied to sample positions is a fiducial, not the global value
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "5.13.5-9", "QRS Duration"
    positioned.ConceptNameCodeSequence = [code]
    positioned.NumericValue = 999
    positioned.ReferencedSamplePositions = [10, 20]
    blank = Dataset()
    blank.UnformattedTextValue = "   "
    dataset.WaveformAnnotationSequence = [positioned, blank, *annotations]
    path = tmp_path / "coded.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    assert ecg.meta["device_measurements"] == {
        "rr_ms": 982, "hr_bpm": 61.1, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
        "p_axis_deg": 74, "axis_deg": 52, "t_axis_deg": 57,
    }
    assert ecg.meta["device_statements"] == ["RITMO SINUSALE", "ECG NORMALE"]


def test_dicom_identity_and_dates(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    del dataset.AcquisitionDateTime
    del dataset.PatientID
    uid = str(dataset.SOPInstanceUID)
    path = tmp_path / "ids.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    assert ecg.meta["recording_date"] == "20130125" and ecg.meta["record_id"] == uid
    assert ecg.meta["patient_id"] is None
    del dataset.StudyDate
    path = tmp_path / "nodate.dcm"
    dataset.save_as(path)
    assert read_ecg(path).meta["recording_date"] is None


def test_dicom_errors_name_the_file(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    del dataset.WaveformSequence[0].SamplingFrequency
    missing = tmp_path / "missing.dcm"
    dataset.save_as(missing)
    raises_naming(UnreadableFileError, missing, "waveform group lacks SamplingFrequency", lambda: read_ecg(missing))
    dataset = pydicom.dcmread(real_dicom)
    dataset.WaveformSequence[0].WaveformSampleInterpretation = "UB"
    encoding = tmp_path / "encoding.dcm"
    dataset.save_as(encoding)
    raises_naming(UnreadableFileError, encoding, "unsupported waveform sample encoding (16, 'UB')",
                  lambda: read_ecg(encoding))
    dataset = pydicom.dcmread(real_dicom)
    dataset.WaveformSequence[0].ChannelDefinitionSequence = list(dataset.WaveformSequence[0].ChannelDefinitionSequence)[:11]
    definitions = tmp_path / "definitions.dcm"
    dataset.save_as(definitions)
    raises_naming(UnreadableFileError, definitions, "11 channel definitions for 12 waveform channels",
                  lambda: read_ecg(definitions))
    dataset = pydicom.dcmread(real_dicom)
    del dataset.WaveformSequence
    del dataset.Modality
    nowave = tmp_path / "nowave.dcm"
    dataset.save_as(nowave)
    raises_naming(UnreadableFileError, nowave, "DICOM file (modality unknown) holds no waveform", lambda: read_ecg(nowave))


