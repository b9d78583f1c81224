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
