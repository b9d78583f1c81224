from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal, write_challenge_record

from heartcare.errors import DatasetLayoutError
from heartcare.sources.challenge import ChallengeDataset, map_snomed, read_challenge, snomed_to_scp
from heartcare.sources.scp import statements


def test_snomed_table_maps_only_to_known_scp_codes() -> None:
    table = snomed_to_scp()
    assert len(table) >= 30
    assert set(table.values()) <= set(statements())


def test_map_snomed_keeps_unmapped_codes() -> None:
    labels, unmapped = map_snomed("426783006, 164889003,999999")
    assert labels == {"SR": 100.0, "AFIB": 100.0} and unmapped == ["999999"]


def test_challenge_mat_record_reads_with_labels(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=500, seconds=3)
    header = write_challenge_record(tmp_path, "A0001", signal, 500, dx="164889003,59118001", sex="Female")
    record = read_challenge(header)
    np.testing.assert_allclose(record.ecg.signal, signal, atol=6e-4)
    assert record.labels == {"AFIB": 100.0, "CRBBB": 100.0}
    assert record.meta["age"] == 74 and record.meta["sex"] == "F"
    assert record.ecg.meta["source"] == "challenge" and record.patient_id == "A0001"
    assert record.meta["snomed"] == ["164889003", "59118001"]


def test_challenge_folder_skips_bad_records_and_goes_on(tmp_path: Path) -> None:
    write_challenge_record(tmp_path / "g1", "A0001", synthetic_signal(seed=1), 500, dx="426783006")
    write_challenge_record(tmp_path / "g1", "A0002", synthetic_signal(seed=2), 500, dx="426177001")
    bad = write_challenge_record(tmp_path / "g2", "Q0001", synthetic_signal(seed=3), 500, dx="426783006")
    mat = bad.with_suffix(".mat")
    mat.write_bytes(mat.read_bytes()[:200])
    dataset = ChallengeDataset(tmp_path)
    records = list(dataset)
    assert len(dataset) == 3 and [r.labels for r in records] == [{"SR": 100.0}, {"SBRAD": 100.0}]
    assert len(dataset.skipped) == 1
    skipped = dataset.skipped[0]
    assert skipped.record_id == "Q0001" and "truncated" in skipped.reason and "Q0001.mat" in skipped.reason


def test_empty_folder_is_a_layout_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="no .hea files"):
        ChallengeDataset(tmp_path)
