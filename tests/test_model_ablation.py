"""The ablation grid end to end on the tiny parts: rows, n/a cells, distinct caches, a re-run that redoes nothing."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

# the first test builds the whole tiny grid (about 2.5 min alone on 2 cores): room for a busy machine
pytestmark = pytest.mark.timeout(900)

VARIANTS = ["full", "no-warmup", "signal-only", "whole-image", "no-beat-pretraining"]
TASKS = ["closed-S-diagnosis", "closed-I-diagnosis"]


def ablate(built_dataset: Path, parts: dict[str, Path]):
    from heartcare.train.ablation import run_ablations

    return run_ablations(built_dataset, parts["beat"], "tiny", parts["root"] / "grid", preset="tiny", variants=VARIANTS,
                         bench_tasks=TASKS, bench_limit=1, warmup_steps=1, joint_steps=1, backbone=parts["backbone"],
                         model_changes={"signal_pool": 5}, progress=False)  # fewer signal tokens: a faster step


@pytest.fixture(scope="module")
def parts(built_dataset, tmp_path_factory) -> dict[str, Path]:
    """A tiny backbone and a small Beat standing in for the trained one."""
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.model.backbone import tiny_causal_lm

    root = tmp_path_factory.mktemp("gpt-ablation")
    torch.manual_seed(7)  # not the grid's random-Beat seed: the two Beats must differ
    beat = build_beat(BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                                 mlp_ratio=2, codebook_size=16)).save_pretrained(root / "beat")
    return {"backbone": tiny_causal_lm(root / "lm"), "beat": beat, "root": root}


@pytest.fixture(scope="module")
def grid(built_dataset, parts):
    began = time.perf_counter()
    report = ablate(built_dataset, parts)
    return report, time.perf_counter() - began


def test_the_table_has_a_row_per_variant_and_the_floors_beneath(grid):
    report, _ = grid
    names = [row.name for row in report.rows]
    assert names[: len(VARIANTS)] == VARIANTS
    assert {"random (floor)", "majority (floor)", "blind (floor)"} <= set(names[len(VARIANTS):])
    markdown = report.markdown.read_text()
    assert all(f"| {name} |" in markdown for name in names)
    document = json.loads(report.json.read_text())
    assert [row["name"] for row in document["rows"]] == names
    full = report.row("full")
    assert full.stages == {"warmup": {"steps": 1, "train_items": full.stages["warmup"]["train_items"]},
                           "joint": {"steps": 1, "train_items": full.stages["joint"]["train_items"]}}
    assert set(report.row("no-warmup").stages) == {"joint"}
    assert 0.0 <= full.cells["closed"].value <= 1.0 and full.cells["closed"].ci is not None
    assert full.cells["comparison"] is None  # not asked for: n/a, never 0


def test_signal_only_shows_n_a_on_image_tasks(grid):
    report, _ = grid
    row = report.row("signal-only")
    assert row.cells["closed_I"] is None and row.cells["closed_S"] is not None
    assert row.cells["closed"].tasks == 1 and row.cells["closed"].of == 2  # the mean covers the S task only
    lines = report.markdown.read_text().splitlines()
    header, line = (next(line for line in lines if line.startswith(start)) for start in ("| row |", "| signal-only |"))
    cells = dict(zip((cell.strip() for cell in header.strip("|").split("|")),
                     (cell.strip() for cell in line.strip("|").split("|")), strict=True))
    assert cells["Closed I"] == "n/a" and cells["Closed S"] != "n/a" and cells["Closed-QA"].endswith("†")
    assert cells["minus full"].startswith(("+", "-"))  # a paired difference on the S items both rows answered
    stored = next(entry for entry in json.loads(report.json.read_text())["rows"] if entry["name"] == "signal-only")
    assert stored["cells"]["closed_I"] is None


def test_the_random_beat_cache_differs_and_the_whole_image_cache_has_one_view(grid, parts):
    from heartcare.model.feature_cache import FeatureCache

    features = parts["root"] / "grid" / "features"
    trained, random = FeatureCache(features / "trained-beat-tiny-crops"), FeatureCache(features / "random-beat-tiny-crops")
    whole = FeatureCache(features / "trained-beat-tiny-whole")
    record = trained.manifest["shards"][0]["records"][0]
    assert random.source.beat == str((parts["root"] / "grid" / "random-beat").resolve())
    assert random.source.beat_digest != trained.source.beat_digest
    assert trained.signal(record).shape == random.signal(record).shape
    assert not torch.allclose(torch.from_numpy(trained.signal(record)), torch.from_numpy(random.signal(record)))
    assert (trained.image(record, 0) == random.image(record, 0)).all()  # the same encoder and view
    assert trained.image(record, 0).shape[0] == 12 and whole.image(record, 0).shape[0] == 1


def test_a_rerun_skips_finished_work(grid, built_dataset, parts):
    report, first_seconds = grid
    root = parts["root"] / "grid"
    watched = [root / variant / stage / "config.json" for variant in VARIANTS for stage in ("warmup", "joint")
               if (root / variant / stage).is_dir()] + [root / variant / "bench-test" / "results.json" for variant in VARIANTS]
    watched += [root / "floors-test" / "results.json", root / "random-beat" / "model.safetensors"]
    before = {path: path.stat().st_mtime_ns for path in watched}
    began = time.perf_counter()
    again = ablate(built_dataset, parts)
    seconds = time.perf_counter() - began
    assert {path: path.stat().st_mtime_ns for path in watched} == before
    assert seconds < first_seconds / 2
    assert [row.cells for row in again.rows] == [row.cells for row in report.rows]
    # a checkpoint replaced at the same path (one weight moved): its bench runs again, nothing else does
    from safetensors.torch import load_file, save_file

    from heartcare.model.checkpoint import FILES

    rows_file = root / "no-beat-pretraining" / "joint" / FILES["token_rows"]
    rows = load_file(rows_file)
    rows[sorted(rows)[0]].view(-1)[0] += 1.0
    save_file(rows, rows_file)
    ablate(built_dataset, parts)
    rebenched = root / "no-beat-pretraining" / "bench-test" / "results.json"
    assert rebenched.stat().st_mtime_ns != before[rebenched]
    assert {path: path.stat().st_mtime_ns for path in watched if path != rebenched} == \
        {path: stamp for path, stamp in before.items() if path != rebenched}


def test_a_stage_is_finished_only_when_its_checkpoint_ran_the_asked_budget(tmp_path):
    from heartcare.train.ablation import stage_finished

    def stage(steps_saved: int | None, step: int, total: int, max_steps: int | None, epochs: int = 1) -> Path:
        folder = tmp_path / f"{steps_saved}-{step}-{total}-{max_steps}-{epochs}"
        (folder / "training").mkdir(parents=True, exist_ok=True)
        (folder / "training" / "trainer.json").write_text(json.dumps({"step": step, "total_steps": total,
                                                                       "stage": {"max_steps": max_steps, "epochs": epochs}}))
        if steps_saved is not None:
            (folder / "config.json").write_text(json.dumps({"steps": steps_saved}))
        return folder

    assert stage_finished(stage(6, 6, 6, 6), 6)
    assert stage_finished(stage(4, 4, 4, 6), 6)  # the data ran out before max_steps: finished all the same
    assert not stage_finished(stage(6, 6, 6, 6), 10)  # a larger budget: resume
    assert not stage_finished(stage(None, 4, 6, 6), 6)  # interrupted before the checkpoint was saved
    assert not stage_finished(stage(2, 4, 6, 6), 6)  # config.json of an earlier save
    assert not stage_finished(tmp_path / "absent", 6)
    assert stage_finished(stage(4, 4, 4, 6), 6, epochs=1)
    assert not stage_finished(stage(4, 4, 4, 6), 6, epochs=2)  # one pass ran out of data; two were asked: resume
    assert stage_finished(stage(6, 6, 6, 6, epochs=2), 6, epochs=2)


def test_the_grid_hands_each_stage_its_epochs(monkeypatch, tmp_path):
    import heartcare.train.gpt_run as gpt_run
    from heartcare.train.ablation import Grid, train_stage

    seen = []
    monkeypatch.setattr(gpt_run, "train_gpt", lambda *args, **kwargs: seen.append(kwargs["stage_changes"]))
    grid = Grid(tmp_path, tmp_path, "cpu", {"warmup": None, "joint": 40}, {}, [], None, False,
                epochs={"warmup": 3, "joint": None})
    train_stage(grid, tmp_path / "warmup", "warmup", tmp_path, None, {})
    train_stage(grid, tmp_path / "joint", "joint", tmp_path, None, {})
    assert seen == [{"epochs": 3}, {"max_steps": 40}]
    checkpointed = dataclasses.replace(grid, gradient_checkpointing=True)
    train_stage(checkpointed, tmp_path / "joint", "joint", tmp_path, None, {})
    assert seen[-1] == {"max_steps": 40, "gradient_checkpointing": True}


def test_a_finding_token_grid_gives_them_to_models_built_from_scratch_with_a_signal(monkeypatch, tmp_path):
    import heartcare.train.gpt_run as gpt_run
    from heartcare.train.ablation import Grid, Recipe, train_stage

    seen = []
    monkeypatch.setattr(gpt_run, "train_gpt", lambda *args, **kwargs: seen.append(kwargs["finding_tokens"]))
    grid = Grid(tmp_path, tmp_path, "cpu", {"warmup": 4, "joint": 4}, {}, [], None, False, recipe=Recipe(finding_tokens=True))
    train_stage(grid, tmp_path / "warmup", "warmup", tmp_path, None, {})  # from scratch: yes
    train_stage(grid, tmp_path / "joint", "joint", tmp_path, tmp_path / "warmup", {})  # from a warm-up: it has them
    train_stage(grid, tmp_path / "image-only", "warmup", tmp_path, None, {"beat": None})  # no signal: none
    train_stage(dataclasses.replace(grid, recipe=Recipe()), tmp_path / "plain", "warmup", tmp_path, None, {})
    assert seen == [True, False, False, False]


def test_a_grid_caches_the_prediction_contexts_only_when_an_item_reads_them(monkeypatch, tmp_path):
    import heartcare.model.feature_cache as feature_cache
    from heartcare.train.ablation import Grid, Recipe
    from heartcare.train.ablation import feature_cache as grid_cache

    seen = []
    monkeypatch.setattr(feature_cache, "build_feature_cache", lambda *args, **kwargs: seen.append(kwargs["context_images"]))

    def cached(tasks: list[str], train_tasks: tuple[str, ...], preset: str = "cpu", name: str = "cache") -> bool:
        grid = Grid(tmp_path, tmp_path, preset, {}, {}, tasks, None, False, recipe=Recipe(train_tasks=train_tasks))
        grid_cache(grid, "BEAT", "tiny", "crops", name)
        return seen[-1]

    assert not cached(["closed-S-diagnosis"], ("closed-S-diagnosis",))
    assert not cached(["closed-*", "comparison-*"], ("closed-*",))
    assert cached(["closed-S-diagnosis"], ("closed-S-diagnosis", "prediction-I-2s"))  # trained on predictions
    assert cached(["prediction-S-*"], ("closed-S-diagnosis",))  # benched on predictions
    assert cached(["closed-S-diagnosis"], ())  # every item the preset trains on: the cpu preset predicts signals
    (tmp_path / "features" / "begun").mkdir(parents=True)
    (tmp_path / "features" / "begun" / "manifest.json").write_text(json.dumps({"selection": {"context_images": True}}))
    assert cached(["closed-S-diagnosis"], ("closed-S-diagnosis",), name="begun")  # resumed as it was begun


def test_a_recipe_grid_trains_on_the_measured_items_pools_splits_and_reads_the_control(grid, built_dataset, parts):
    from heartcare.errors import ConfigError
    from heartcare.train.ablation import CONTROL_COLUMNS, Recipe, run_ablations

    first = parts["root"] / "grid"
    out = parts["root"] / "recipe-grid"
    recipe = Recipe(train_tasks=("closed-S-diagnosis",), learning_rate=1e-3, max_per_answer=2)

    def run(recipe: Recipe, features: Path = first / "features" / "trained-beat-tiny-crops"):
        return run_ablations(built_dataset, parts["beat"], "tiny", out, preset="tiny", variants=["full", "no-warmup"],
                             bench_tasks=["closed-S-diagnosis"], bench_limit=None, warmup_steps=1, joint_steps=1,
                             backbone=parts["backbone"], model_changes={"signal_pool": 5}, progress=False, recipe=recipe,
                             splits=("train", "test"), control=True, features=features, include_text_only=True)

    report = run(recipe)
    assert not (out / "features").exists()  # the given cache of the same Beat and crops served both variants
    full = report.row("full")
    saved = json.loads((out / "full" / "joint" / "config.json").read_text())
    assert saved["bench_tasks"] == ["closed-S-diagnosis"] and saved["max_per_answer"] == 2
    answers = len({item.answer_text for item in _items(built_dataset, "train")})
    assert full.stages["joint"]["train_items"] <= 2 * answers  # the cap per answer (one question kind, one form)
    # the closed cell pools both splits' items: their item-weighted mean, not either split's score
    splits = [json.loads((out / "full" / f"bench-{split}" / "results.json").read_text()) for split in ("train", "test")]
    blocks = [result["tasks"]["closed-S-diagnosis"] for result in splits]
    pooled = sum(block["n"] * block["metrics"]["accuracy"]["value"] for block in blocks) / sum(block["n"] for block in blocks)
    assert full.cells["closed_S"].value == pytest.approx(pooled) and blocks[0]["n"] > 0 and blocks[1]["n"] > 0
    for column in CONTROL_COLUMNS:  # a signed paired difference inside its interval, for the trained rows only
        cell = full.cells[column]
        assert cell.signed and cell.ci[0] <= cell.value <= cell.ci[1]
        assert all(row.cells.get(column) is None for row in report.rows if row.kind == "floor")
    controls = [json.loads((out / "full" / f"bench-{split}" / "results.json").read_text())["controls"] for split in ("train", "test")]
    own = sum(json.loads(line)["scores"]["accuracy"] for split in ("train", "test")
              for line in (out / "full" / f"bench-{split}" / "predictions.jsonl").read_text().splitlines())
    other = sum(json.loads(line)["scores"]["accuracy"] for split in ("train", "test")
                for line in (out / "full" / f"bench-{split}" / "predictions-control.jsonl").read_text().splitlines())
    count = sum(block["n"] for block in blocks)
    assert controls and full.cells["ecg_effect"].value == pytest.approx((own - other) / count)
    text_only = report.row("text-only")  # benched on both splits, pooled; no training, no control
    assert text_only.kind == "baseline" and text_only.stages == {} and text_only.run == out / "text-only" / "bench-train"
    assert all(text_only.cells.get(column) is None for column in CONTROL_COLUMNS)
    blind = [json.loads((out / "text-only" / f"bench-{split}" / "results.json").read_text())["tasks"]["closed-S-diagnosis"]
             for split in ("train", "test")]
    assert text_only.cells["closed_S"].value == pytest.approx(
        sum(block["n"] * block["metrics"]["accuracy"]["value"] for block in blind) / sum(block["n"] for block in blind))
    def item_accuracy(row: str) -> dict[str, float]:
        return {f"{split}/{record['id']}": record["scores"]["accuracy"] for split in ("train", "test")
                for record in map(json.loads, (out / row / f"bench-{split}" / "predictions.jsonl").read_text().splitlines())}

    reference = item_accuracy("full")
    for name in ("no-warmup", "text-only"):  # paired on the same items: the mean of per-item differences
        accuracy = item_accuracy(name)
        assert accuracy.keys() == reference.keys()
        difference = report.row(name).cells["versus_full"]
        assert difference.signed and difference.value == pytest.approx(
            sum(accuracy[key] - reference[key] for key in reference) / len(reference))
    assert full.cells.get("versus_full") is None
    assert all(row.cells.get("versus_full") is None for row in report.rows if row.kind == "floor")
    header = next(line for line in report.markdown.read_text().splitlines() if line.startswith("| row |"))
    assert header.endswith("| Closed I | minus full | own ECG - another's | follows the ECG shown |")
    assert "every item per task of train + test" in report.markdown.read_text()
    with pytest.raises(ConfigError, match="another recipe"):  # a finished stage is never reused for another recipe
        run(Recipe(train_tasks=("closed-S-diagnosis",), learning_rate=5e-4, max_per_answer=2))
    with pytest.raises(ConfigError, match="another recipe"):  # nor for the same recipe with finding tokens
        run(dataclasses.replace(recipe, finding_tokens=True))
    with pytest.raises(ConfigError, match="cannot stand in"):  # the random Beat's cache is not the trained Beat's
        run(recipe, features=first / "features" / "random-beat-tiny-crops")


def _items(dataset: Path, split: str):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.tasks import select_tasks

    task = select_tasks(["closed-S-diagnosis"])[0]
    return [item for item in BenchDataset(dataset).items(split) if task.matches(item)]


def test_the_ablate_command_hands_its_recipe_options_to_the_grid(monkeypatch, tmp_path, capsys):
    from types import SimpleNamespace

    import heartcare.train.ablation as ablation
    from heartcare.cli import main

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs, args=args)
        table = tmp_path / "ablations.md"
        table.write_text("| row |\n")
        return SimpleNamespace(markdown=table)

    monkeypatch.setattr(ablation, "run_ablations", fake)
    assert main(["gpt", "ablate", "--data", "DS", "--beat", "BEAT", "--image-encoder", "tiny", "--out", str(tmp_path),
                 "--train-tasks", "closed-S-diagnosis", "--learning-rate", "1e-3", "--max-per-answer", "150",
                 "--signal-summary", "--answer-format", "text-first", "--split", "valid", "--split", "test",
                 "--mismatched-ecgs", "--features", "F2", "--warmup-epochs", "3"]) == 0
    assert seen["recipe"] == ablation.Recipe(("closed-S-diagnosis",), 1e-3, 150)
    main(["gpt", "ablate", "--data", "DS", "--beat", "BEAT", "--image-encoder", "tiny", "--out", str(tmp_path), "--finding-tokens"])
    assert seen["recipe"] == ablation.Recipe(finding_tokens=True)
    main(["gpt", "ablate", "--data", "DS", "--beat", "BEAT", "--image-encoder", "tiny", "--out", str(tmp_path),
          "--train-tasks", "closed-S-diagnosis", "--learning-rate", "1e-3", "--max-per-answer", "150",
          "--signal-summary", "--answer-format", "text-first", "--split", "valid", "--split", "test",
          "--mismatched-ecgs", "--features", "F2", "--warmup-epochs", "3"])
    assert seen["model_changes"] == {"signal_summary": True, "answer_format": "text-first"}
    assert seen["splits"] == ("valid", "test") and seen["control"] is True and str(seen["features"]) == "F2"
    assert seen["warmup_epochs"] == 3 and seen["joint_epochs"] is None and seen["gradient_checkpointing"] is False
    main(["gpt", "ablate", "--data", "DS", "--beat", "BEAT", "--image-encoder", "tiny", "--out", str(tmp_path)])
    assert seen["recipe"] == ablation.Recipe() and seen["model_changes"] is None and seen["splits"] == ("test",)
    assert seen["control"] is False and seen["features"] is None and seen["warmup_epochs"] is None
    main(["gpt", "ablate", "--data", "DS", "--beat", "BEAT", "--image-encoder", "tiny", "--out", str(tmp_path),
          "--gradient-checkpointing"])
    assert seen["gradient_checkpointing"] is True
    assert "| row |" in capsys.readouterr().out
