import shutil
from pathlib import Path

import pytest

from heartcare.sources.dicom_folder import DicomFolderDataset

pydicom = pytest.importorskip("pydicom")


def test_dicom_folder_reads_reports_and_skips_bad_files(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    shutil.copy(get_testdata_file("waveform_ecg.dcm"), tmp_path / "a.dcm")
    dataset = pydicom.dcmread(tmp_path / "a.dcm")
    del dataset.WaveformSequence
    dataset.save_as(tmp_path / "b_no_waveform.dcm")
    dataset = DicomFolderDataset(tmp_path)
    records = list(dataset)
    assert len(dataset) == 2 and len(records) == 1
    (record,) = records
    assert record.patient_id == "642341" and record.meta["sex"] == "F"
    assert "ECG NORMALE" in record.report and record.labels == {}
    (skipped,) = dataset.skipped
    assert skipped.record_id == "b_no_waveform" and "holds no waveform" in skipped.reason
