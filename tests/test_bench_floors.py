"""The floors: majority and blind learn train priors; blind finds a leak and stays at chance without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heartcare.agent.description import QaItem
from heartcare.bench.compare import compare_runs, pooled_comparison
from heartcare.bench.runner import BenchConfig, run_bench
from heartcare.errors import ConfigError

FINDINGS = [f"finding {name}" for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")]


def closed_items(count: int, seed: int, leaky: bool, prefix: str) -> list[QaItem]:
    """Four-option items; leaky: the answer is always one of two option texts (a prior a blind model can learn)."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(count):
        options = list(rng.choice(FINDINGS, size=4, replace=False))
        if leaky:
            position = next((i for i, text in enumerate(options) if text in FINDINGS[:2]), None)
            if position is None:
                options[0] = FINDINGS[int(rng.integers(2))]
                position = 0
        else:
            position = int(rng.integers(4))
        items.append(QaItem(id=f"{prefix}{index}", task="closed_qa", dimension="diagnosis", modality="S",
                            question=f"Which finding does ECG {index} show? Options: " + "; ".join(
                                f"{letter}: {text}" for letter, text in zip("ABCD", options, strict=True)),
                            answer=f"{'ABCD'[position]}: {options[position]}", choices=tuple(options),
                            answer_index=position, ecgs=((f"r{index}", "S"),)))
    return items


def build(tmp_path, leaky: bool):
    from conftest import write_bench_dataset

    splits = {"train": closed_items(400, 0, leaky, "t"), "test": closed_items(300, 1, leaky, "x")}
    return write_bench_dataset(tmp_path / ("leaky" if leaky else "fair"), splits)


def accuracy(results, model: str | None = None) -> float:
    tasks = results["tasks"] if model is None else results["floors"][model]["tasks"]
    return tasks["closed-S-diagnosis"]["metrics"]["accuracy"]["value"]


def test_blind_floor_finds_an_option_prior_and_stays_near_chance_without_one(tmp_path):
    leaky = run_bench(BenchConfig(data=build(tmp_path, True), model="blind", out=tmp_path / "run-leaky", progress=False))
    fair = run_bench(BenchConfig(data=build(tmp_path, False), model="blind", out=tmp_path / "run-fair", progress=False))
    assert accuracy(leaky) > 0.8  # at most ~0.89: both prior options are offered in a fifth of the items
    assert accuracy(fair) < 0.36
    assert accuracy(fair, "random") == pytest.approx(0.25, abs=0.08)
    assert accuracy(leaky, "majority") > 0.8  # the most frequent correct option text
    assert accuracy(fair, "majority") < 0.36


def test_compare_pairs_by_item_and_refuses_other_data(tmp_path):
    data = build(tmp_path, True)
    run_bench(BenchConfig(data=data, model="blind", out=tmp_path / "a", progress=False, floors=False))
    run_bench(BenchConfig(data=data, model="random", out=tmp_path / "b", progress=False, floors=False))
    comparison = compare_runs(tmp_path / "a", tmp_path / "b")
    entry = comparison["tasks"]["closed-S-diagnosis"]["metrics"]["accuracy"]
    assert entry["difference"] == pytest.approx(entry["a"] - entry["b"])
    assert entry["ci"][0] > 0.4 and entry["n"] == 300
    run_bench(BenchConfig(data=build(tmp_path, False), model="random", out=tmp_path / "c", progress=False, floors=False))
    with pytest.raises(ConfigError, match="paired comparison needs the same items"):
        compare_runs(tmp_path / "a", tmp_path / "c")


def test_compare_pools_pairs_of_splits_item_by_item_and_refuses_mixed_pairs(tmp_path):
    from conftest import write_bench_dataset

    data = write_bench_dataset(tmp_path / "three", {"train": closed_items(400, 0, True, "t"),
                                                    "valid": closed_items(200, 2, True, "v"),
                                                    "test": closed_items(300, 1, True, "x")})

    def scored(model: str, split: str) -> Path:
        run_bench(BenchConfig(data=data, model=model, out=tmp_path / f"{model}-{split}", split=split, progress=False,
                              floors=False))
        return tmp_path / f"{model}-{split}"

    pairs = [(scored("blind", split), scored("random", split)) for split in ("valid", "test")]
    pooled = pooled_comparison(pairs)
    entry = pooled["tasks"]["closed-S-diagnosis"]["metrics"]["accuracy"]
    assert pooled["splits"] == ["valid", "test"] and entry["n"] == 500
    single = [compare_runs(*pair)["tasks"]["closed-S-diagnosis"]["metrics"]["accuracy"] for pair in pairs]
    weighted = (200 * single[0]["difference"] + 300 * single[1]["difference"]) / 500  # every item counts once
    assert entry["difference"] == pytest.approx(weighted) and entry["a"] - entry["b"] == pytest.approx(weighted)
    assert entry["ci"][1] - entry["ci"][0] < single[0]["ci"][1] - single[0]["ci"][0]  # more items, tighter
    assert pooled_comparison(pairs[:1]) == compare_runs(*pairs[0])
    with pytest.raises(ConfigError, match="its items would count twice"):
        pooled_comparison([pairs[1], pairs[1]])
    with pytest.raises(ConfigError, match="scored majority"):  # the second pair's B is another model
        pooled_comparison([pairs[0], (pairs[1][0], scored("majority", "test"))])
