from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_read_fixtures import synthetic_signal

from heartcare.errors import DatasetLayoutError
from heartcare.sources.code15 import Code15Dataset

h5py = pytest.importorskip("h5py")


def build_code15(root: Path) -> dict[int, np.ndarray]:
    """Two parts; 7 s and 10 s exams zero-padded at both ends to 4096, a NaN exam, a filler row."""
    kept: dict[int, np.ndarray] = {}
    rows = []
    layout = {"exams_part0.hdf5": [(101, 2800), (102, 4000)], "exams_part1.hdf5": [(103, 4000)]}
    for part, exams in layout.items():
        tracings = np.zeros((len(exams) + 1, 4096, 12), dtype=np.float32)  # + a zero filler row
        ids = []
        for row, (exam_id, length) in enumerate(exams):
            signal = synthetic_signal(fs=400, seconds=length / 400, seed=exam_id)
            start = (4096 - length) // 2
            tracings[row, start : start + length] = signal.T
            if exam_id == 103:
                tracings[row, 2000, 3] = np.nan
            kept[exam_id] = signal
            ids.append(exam_id)
            rows.append({"exam_id": exam_id, "age": 48 + row, "is_male": exam_id == 101, "nn_predicted_age": 50.1,
                         "1dAVb": exam_id == 101, "RBBB": False, "LBBB": False, "SB": False, "ST": exam_id == 102,
                         "AF": False, "patient_id": 9000 + exam_id, "death": False, "timey": 1.0,
                         "normal_ecg": exam_id == 102, "trace_file": part})
        with h5py.File(root / part, "w") as handle:
            handle["tracings"] = tracings
            handle["exam_id"] = np.array(ids + [0], dtype=np.int64)
    pd.DataFrame(rows).to_csv(root / "exams.csv", index=False)
    return kept


def test_code15_trims_padding_maps_labels_and_skips_bad(tmp_path: Path) -> None:
    signals = build_code15(tmp_path)
    with Code15Dataset(tmp_path) as dataset:
        assert len(dataset) == 3  # the zero filler rows are not exams
        records = list(dataset)
    assert [r.meta["exam_id"] for r in records] == [101, 102]
    seven, ten = records
    assert seven.ecg.fs == 400 and seven.ecg.samples == 2800 and ten.ecg.samples == 4000
    np.testing.assert_allclose(seven.ecg.signal, signals[101], atol=1e-6)
    assert seven.labels == {"1AVB": 100.0} and ten.labels == {"STACH": 100.0, "NORM": 100.0}
    assert seven.meta["sex"] == "M" and ten.meta["sex"] == "F" and seven.patient_id == "9101"
    assert seven.ecg.meta["source"] == "code15" and seven.ecg.meta["original_fs"] == 400
    (skipped,) = dataset.skipped
    assert skipped.record_id == "code15_103" and "exams_part1.hdf5" in skipped.reason
    assert "NaN" in skipped.reason


def test_code15_needs_its_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="exams.csv not found"):
        Code15Dataset(tmp_path)
    pd.DataFrame({"exam_id": [1]}).to_csv(tmp_path / "exams.csv", index=False)
    with pytest.raises(DatasetLayoutError, match="no exams_part"):
        Code15Dataset(tmp_path)
