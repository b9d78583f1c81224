"""benchmarks/texture_readability.py on the 24-record build: each input scored on held-out pictures, the choice made on valid."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "texture_readability.py"


def _script():
    spec = importlib.util.spec_from_file_location("texture_readability", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_input_is_scored_on_held_out_pictures_and_the_choice_is_made_on_valid(built_dataset, gpt_parts):
    pytest.importorskip("torch")
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.findings import finding_kind, reads_finding

    script = _script()
    data = BenchDataset(built_dataset)
    kind = "closed_qa/diagnosis/diagnosis"
    test = [item for item in data.items("test") if reads_finding(item, "I") and finding_kind(item) == kind]
    valid = [item for item in data.items("valid") if reads_finding(item, "I") and finding_kind(item) == kind]
    result = script.readability(str(built_dataset), str(gpt_parts["features"]), "diagnosis/diagnosis", 500)
    assert result is not None and result["test"] == len(test) > 0 and result["valid"] == len(valid)
    for name in script.INPUTS:
        share = result["scores"][f"{name}/test"]
        assert 0.0 <= share <= 1.0 and share * len(test) == pytest.approx(round(share * len(test)))  # whole items
    assert result["chosen"] in script.INPUTS
    if valid:  # the choice: most right on valid, ties to the earlier input
        best = max(result["scores"][f"{name}/valid"] for name in script.INPUTS)
        assert result["chosen"] == next(name for name in script.INPUTS if result["scores"][f"{name}/valid"] == best)
    chosen_test = result["scores"][f"{result['chosen']}/test"]
    assert result["gain"]["difference"] == pytest.approx(chosen_test - result["scores"]["views/test"])
    assert script.readability(str(built_dataset), str(gpt_parts["features"]), "no/such-kind", 500) is None


def test_a_cache_without_texture_is_refused_with_the_command_that_adds_it(built_dataset, gpt_parts, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from heartcare.model import feature_cache

    with monkeypatch.context() as patch:
        patch.setattr(feature_cache, "picture_textures", lambda *args, **kwargs: {})
        old = feature_cache.build_feature_cache(built_dataset, str(gpt_parts["beat"]), "tiny", out=tmp_path / "old",
                                                shard_size=8, progress=False)
    with pytest.raises(SystemExit, match="--add-texture"):
        _script().readability(str(built_dataset), str(old), "diagnosis/diagnosis", 500)
