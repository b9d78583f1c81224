"""benchmarks/waveform_readability.py on the 24-record build: held-out items scored, the gain paired."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "waveform_readability.py"


def _script():
    spec = importlib.util.spec_from_file_location("waveform_readability", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scores_every_held_out_item_and_pairs_the_gain(built_dataset, gpt_parts):
    pytest.importorskip("torch")
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.findings import finding_kind, reads_finding

    script = _script()
    data = BenchDataset(built_dataset)
    held = [item for split in ("valid", "test") for item in data.items(split)
            if reads_finding(item, "S") and finding_kind(item) == "closed_qa/diagnosis/diagnosis"]
    result = script.readability(str(built_dataset), str(gpt_parts["features"]), "diagnosis/diagnosis", 500)
    assert result is not None and result["test"] == len(held) > 0 and result["train"] > 0
    for inputs in ("baseline", "+ morphology", "morphology", "majority"):
        assert 0.0 <= result[inputs] <= 1.0
        assert (result[inputs] * len(held)) == pytest.approx(round(result[inputs] * len(held)))  # a share of whole items
    assert result["gain"]["difference"] == pytest.approx(result["+ morphology"] - result["baseline"])
    assert result["gain"]["n"] == len(held)
    assert script.readability(str(built_dataset), str(gpt_parts["features"]), "no/such-kind", 500) is None


def test_picture_items_read_their_own_pages_once(built_dataset, gpt_parts, tmp_path):
    """--modality I: picture items scored with morphology the digitiser read off each record's page;
    every page is kept (no item dropped when one cannot be read) and a rerun digitises nothing."""
    pytest.importorskip("torch")
    import numpy as np

    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.morphology import WIDTH
    from heartcare.model.findings import finding_kind, reads_finding

    script = _script()
    data = BenchDataset(built_dataset)
    kind = "closed_qa/diagnosis/diagnosis"
    used = {item.ecgs[0].record_id for split in ("train", "valid", "test") for item in data.items(split)
            if reads_finding(item, "I") and finding_kind(item) == kind}
    pages = tmp_path / "pages"
    result = script.readability(str(built_dataset), str(gpt_parts["features"]), "diagnosis/diagnosis", 500,
                                modality="I", pages=str(pages), workers=1)
    assert result is not None and result["test"] > 0 and 0.0 <= result["pages_read"] <= 1.0
    stored = sorted(pages.glob("*.npy"))
    assert {path.stem for path in stored} == used
    rows = [np.load(path, allow_pickle=False) for path in stored]
    assert all(row.shape == (WIDTH + 1,) and row[-1] in (0.0, 1.0) for row in rows)
    assert result["pages_read"] == pytest.approx(
        np.mean([rows[[p.stem for p in stored].index(item.ecgs[0].record_id)][-1]
                 for split in ("train", "valid", "test") for item in data.items(split)
                 if reads_finding(item, "I") and finding_kind(item) == kind]), abs=0.35)
    before = {path: path.stat().st_mtime_ns for path in stored}
    again = script.readability(str(built_dataset), str(gpt_parts["features"]), "diagnosis/diagnosis", 500,
                               modality="I", pages=str(pages), workers=1)
    assert {path: path.stat().st_mtime_ns for path in sorted(pages.glob("*.npy"))} == before
    assert again["+ morphology"] == result["+ morphology"]
