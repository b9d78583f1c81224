"""benchmarks/digitization.py on the 24-record build: every page of the split counted once, read or
refused with a reason, and the errors set beside a blind guess."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "digitization.py"


def _script():
    spec = importlib.util.spec_from_file_location("digitization", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_counted_and_read_pages_beat_the_blind_guess(built_dataset):
    from heartcare.bench.dataset import BenchDataset

    data = BenchDataset(built_dataset)
    split = sorted(record for record, row in data.records.items() if row["split"] == "test")
    result = _script().measure(str(built_dataset), "test", 100)
    assert sum(row["pages"] for row in result.values()) == len(split) > 0
    assert sum(row["read"] for row in result.values()) >= len(split) // 2  # clean 40 dpi pages: most are read
    for row in result.values():
        refused = sum(count for _, count in row["reasons"])
        assert row["read"] <= row["pages"] and (row["read"] == row["pages"] or refused > 0)
        if row["read"]:
            assert -1.0 <= row["correlation"] <= 1.0
            assert row["amplitude_mae"] < row["amplitude_blind"]  # reading beats never looking
