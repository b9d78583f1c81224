from pathlib import Path

import numpy as np
import pandas as pd
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.sources.mimic import MimicEcgDataset, machine_measurements

MIMIC_ORDER = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]


def build_mimic(root: Path) -> dict[int, np.ndarray]:
    signals, records, measurements = {}, [], []
    for index, study_id in enumerate((40689238, 44458630, 49036311)):
        subject_id = 10000032 + index
        signal = synthetic_signal(fs=500, seconds=2, seed=index).astype(np.float64)
        if index == 2:
            signal[4, 10:20] = np.nan  # MIMIC has a few records with NaN samples
        relative = f"files/p1000/p{subject_id}/s{study_id}"
        stored = signal[[STANDARD_LEADS.index(name) for name in MIMIC_ORDER]]
        write_wfdb_record(root / relative, str(study_id), stored, 500, leads=MIMIC_ORDER)
        signals[study_id] = signal
        records.append({"subject_id": subject_id, "study_id": study_id, "file_name": study_id,
                        "ecg_time": "2180-07-23 08:44:00", "path": f"{relative}/{study_id}"})
        row = {"subject_id": subject_id, "study_id": study_id, "rr_interval": 1000 if index == 0 else np.nan,
               "p_onset": 40, "p_end": 120, "qrs_onset": 200, "qrs_end": 290, "t_end": 600,
               "p_axis": 50, "qrs_axis": 29999, "t_axis": 40}
        row.update({f"report_{i}": np.nan for i in range(18)})
        row.update({"report_0": "Sinus rhythm", "report_1": "Normal ECG."} if index == 0 else {})
        measurements.append(row)
    pd.DataFrame(records).to_csv(root / "record_list.csv", index=False)
    pd.DataFrame(measurements).to_csv(root / "machine_measurements.csv", index=False)
    return signals


def test_mimic_reorders_leads_joins_reports_and_skips_nan_records(tmp_path: Path) -> None:
    signals = build_mimic(tmp_path)
    dataset = MimicEcgDataset(tmp_path)
    records = list(dataset)
    assert len(dataset) == 3 and [r.meta["study_id"] for r in records] == [40689238, 44458630]
    first = records[0]
    np.testing.assert_allclose(first.ecg.signal, signals[40689238], atol=6e-4)  # aVL/aVF by name
    assert first.report == "Sinus rhythm. Normal ECG." and first.patient_id == "10000032"
    machine = first.meta["machine_measurements"]
    assert machine["hr_bpm"] == 60 and machine["pr_ms"] == 160 and machine["qrs_ms"] == 90
    assert machine["qt_ms"] == 400 and machine["axis_deg"] is None  # 29999 = not measured
    assert records[1].report == "" and records[1].meta["machine_measurements"]["hr_bpm"] is None
    (skipped,) = dataset.skipped
    assert skipped.record_id == "mimic_49036311" and "NaN" not in skipped.path
    assert "missing" in skipped.reason and "aVL" in skipped.reason


def test_machine_measurements_without_row() -> None:
    assert machine_measurements(None)["qt_ms"] is None


def test_mimic_damaged_list_row_is_skipped(tmp_path: Path) -> None:
    build_mimic(tmp_path)
    table = pd.read_csv(tmp_path / "record_list.csv")
    table.loc[0, "subject_id"] = np.nan
    table.to_csv(tmp_path / "record_list.csv", index=False)
    dataset = MimicEcgDataset(tmp_path)
    assert [r.meta["study_id"] for r in dataset] == [44458630]
    reasons = [s.reason for s in dataset.skipped]
    assert any("record_list.csv: row 1: unusable id" in reason for reason in reasons)
