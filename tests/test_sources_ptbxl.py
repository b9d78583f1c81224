from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare.errors import DatasetLayoutError
from heartcare.sources.ptbxl import PtbXlDataset
from heartcare.sources.scp import group_by_kind


def build_ptbxl(root: Path) -> None:
    """Three PTB-XL records at 100 and 500 Hz; ecg_id 3's 500 Hz file is truncated."""
    rows = []
    codes = ["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 80.0, 'ABQRS': 0.0, 'SR': 0.0}", "{'AFIB': 100.0}"]
    for ecg_id in (1, 2, 3):
        signal = synthetic_signal(fs=500, seconds=2, seed=ecg_id)
        low = signal[:, ::5]
        name_hr = f"records500/00000/{ecg_id:05d}_hr"
        name_lr = f"records100/00000/{ecg_id:05d}_lr"
        write_wfdb_record(root / "records500/00000", f"{ecg_id:05d}_hr", signal, 500)
        write_wfdb_record(root / "records100/00000", f"{ecg_id:05d}_lr", low, 100)
        rows.append({
            "ecg_id": ecg_id, "patient_id": 15709.0 + ecg_id, "age": [56.0, 300.0, 61.0][ecg_id - 1],
            "sex": ecg_id % 2, "height": np.nan, "weight": 63.0, "recording_date": "1984-11-09 09:17:34",
            "report": f"report {ecg_id}", "scp_codes": codes[ecg_id - 1], "strat_fold": ecg_id + 7,
            "filename_lr": name_lr, "filename_hr": name_hr,
            "baseline_drift": [", I-AVR,", "  ", np.nan][ecg_id - 1], "static_noise": np.nan,
            "infarction_stadium1": ["Stadium II", np.nan, np.nan][ecg_id - 1], "heart_axis": ["LAD", "MID", np.nan][ecg_id - 1],
            "extra_beats": [np.nan, "1ES", np.nan][ecg_id - 1], "pacemaker": np.nan,
        })
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    data = root / "records500/00000/00003_hr.dat"
    data.write_bytes(data.read_bytes()[:100])


def test_ptbxl_iterates_labelled_records_and_skips_bad_ones(tmp_path: Path) -> None:
    build_ptbxl(tmp_path)
    dataset = PtbXlDataset(tmp_path, fs=500)
    assert len(dataset) == 3 and list(dataset.table.index) == [1, 2, 3]
    records = list(dataset)
    assert [r.meta["ecg_id"] for r in records] == [1, 2]
    first, second = records
    assert first.labels == {"NORM": 100.0, "SR": 0.0} and first.report == "report 1"
    assert first.patient_id == "15710" and first.meta["sex"] == "F" and first.meta["age"] == 56
    assert first.meta["strat_fold"] == 8 and first.meta["weight"] == 63.0 and "height" not in first.meta
    assert second.meta["sex"] == "M" and second.meta["age"] is None  # PTB-XL's 300 = over 89
    # annotations: always present, text or None (empty / whitespace / missing column)
    assert first.meta["baseline_drift"] == ", I-AVR," and second.meta["baseline_drift"] is None
    assert first.meta["infarction_stadium1"] == "Stadium II" and first.meta["heart_axis"] == "LAD"
    assert second.meta["extra_beats"] == "1ES" and first.meta["extra_beats"] is None
    for absent in ("static_noise", "pacemaker", "burst_noise", "electrodes_problems", "infarction_stadium2"):
        assert first.meta[absent] is None and second.meta[absent] is None
    assert "IMI" in group_by_kind(second.labels)["diagnostic"]
    assert first.ecg.fs == 500 and first.ecg.meta["source"] == "ptbxl"
    assert first.ecg.meta["record_id"] == "ptbxl_1" and first.ecg.meta["patient_id"] == "15710"
    (skipped,) = dataset.skipped
    assert skipped.record_id == "ptbxl_3" and "00003_hr" in skipped.path and "truncated" in skipped.reason


def test_ptbxl_low_rate_files_and_folds(tmp_path: Path) -> None:
    build_ptbxl(tmp_path)
    dataset = PtbXlDataset(tmp_path, fs=100, folds=[9, 10])
    assert len(dataset) == 2
    records = list(dataset)
    assert [r.meta["ecg_id"] for r in records] == [2, 3]  # the 100 Hz file of 3 is intact
    assert records[0].ecg.fs == 100 and records[0].ecg.samples == 200
    assert dataset.read(2).labels["IMI"] == 80.0


def test_ptbxl_missing_table_is_a_layout_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="ptbxl_database.csv not found"):
        PtbXlDataset(tmp_path)


def test_ptbxl_missing_columns_are_named(tmp_path: Path) -> None:
    pd.DataFrame({"ecg_id": [1], "patient_id": [1.0]}).to_csv(tmp_path / "ptbxl_database.csv", index=False)
    with pytest.raises(DatasetLayoutError, match="missing column.*scp_codes"):
        PtbXlDataset(tmp_path)


def test_ptbxl_other_rates_resample_the_500_hz_files(tmp_path: Path) -> None:
    build_ptbxl(tmp_path)
    record = PtbXlDataset(tmp_path, fs=250, folds=[8]).read(1)
    assert record.ecg.fs == 250 and record.ecg.samples == 500


def test_ptbxl_reads_the_simulated_cohort(tmp_path: Path) -> None:
    from heartcare import sim

    root = sim.build_cohort(3, tmp_path / "cohort", seed=1, progress=False)
    dataset = PtbXlDataset(root, fs=100)
    records = list(dataset)
    assert len(records) == 3 and not dataset.skipped
    for record in records:
        assert record.ecg.fs == 100 and record.ecg.samples == 1000 and all(record.ecg.meta["lead_mask"])
        assert record.labels and record.report and record.patient_id
        assert record.meta["sex"] in {"M", "F"} and 1 <= record.meta["strat_fold"] <= 10


def test_ptbxl_damaged_row_is_skipped_not_crashed(tmp_path: Path) -> None:
    build_ptbxl(tmp_path)
    table = pd.read_csv(tmp_path / "ptbxl_database.csv")
    table.loc[0, "strat_fold"] = np.nan
    table.loc[1, "scp_codes"] = "{'IMI': oops}"
    table.to_csv(tmp_path / "ptbxl_database.csv", index=False)
    dataset = PtbXlDataset(tmp_path, fs=100)
    assert [record.meta["ecg_id"] for record in dataset] == [3]  # its 100 Hz file is intact
    reasons = {s.record_id: s.reason for s in dataset.skipped}
    assert set(reasons) == {"ptbxl_1", "ptbxl_2"}
    assert "ptbxl_database.csv: ecg_id 1: unusable value" in reasons["ptbxl_1"]
    assert "00002_lr (scp_codes): scp_codes is not a dict literal" in reasons["ptbxl_2"]
