"""`run_ablations`: the paper's HeartcareGPT ablations (Figures 4 and 5a) as one resumable grid.

Figure 4 asks what Beat pre-training and the projector warm-up are worth (signal latents
from a randomly initialised Beat of the same shape; the joint stage straight from
scratch; both). Figure 5a asks which streams and which image view matter (signal only,
image only, the whole picture instead of 12 lead crops). Every variant trains with
`train_gpt` and is benchmarked with `run_bench` on the same seeded items, beside the
floors. Layout of OUT:

    random-beat/                  the untrained Beat (the given BeatConfig, a fixed seed)
    features/<name>/              one feature cache per (Beat, image encoder, image view)
    <variant>/warmup/, joint/     checkpoints; a finished stage is skipped, an interrupted one resumed
    <variant>/bench-<split>/      run_bench's folder per benched split (results.json, predictions.jsonl, report.md)
    floors-<split>/               random, majority and blind on the same items
    ablations.md, ablations.json  one row per variant: Closed-QA, Comparison-QA, closed S / I, pooled over the
                                  benched splits; with the control, what the ECG adds and whether answers follow it

A `Recipe` carries how every variant trains (which items, learning rate, per-answer cap), so
the grid can run at a budget where the full model reads the ECG (on 2 CPU cores: the measured
items only, warm-up then joint), not only the preset's. Re-running the same call skips what is
finished and resumes what was interrupted; a finished stage trained with another recipe is refused.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError
from heartcare.model.config import ImageView
from heartcare.train.ablation_cells import (
    COLUMNS,
    CONTROL_COLUMNS,
    VERSUS_FULL,
    Cell,
    control_cells,
    format_cell,
    paired_cell,
    pooled_tasks,
    results_cells,
)

RANDOM_BEAT_SEED = 1234  # fixed: the untrained Beat is the same on every re-run
DEFAULT_TASKS = ("closed-*", "comparison-*")
# 14 tasks x 7 variants of generation on 2 CPU cores: a seeded sample, the same items for every row.
DEFAULT_BENCH_LIMIT = 200
REQUEST_FILE = "request.json"  # what a bench folder answered; another request re-runs it
STAGES = ("warmup", "joint")


@dataclass(frozen=True)
class Variant:
    """What one ablation changes from the full HeartcareGPT, and the paper figure it belongs to."""

    description: str
    figure: str
    warmup: bool = True  # the warm-up stage (projectors, LLM frozen) before the joint stage
    trained_beat: bool = True  # False: signal latents from a randomly initialised Beat of the same shape
    signal: bool = True
    image: bool = True
    image_view: ImageView = "crops"

    def model_changes(self) -> dict[str, Any]:
        """GptConfig overrides dropping a stream (its feature cache still holds both)."""
        return {**({} if self.signal else {"beat": None}), **({} if self.image else {"image_encoder": None})}


VARIANTS: dict[str, Variant] = {
    "full": Variant("warm-up then joint; signal + image (12 lead crops); trained Beat", "4, 5a"),
    "no-beat-pretraining": Variant("signal latents from a randomly initialised Beat", "4", trained_beat=False),
    "no-warmup": Variant("joint stage only, projectors from scratch", "4", warmup=False),
    "neither": Variant("random Beat and no warm-up", "4", warmup=False, trained_beat=False),
    "signal-only": Variant("no image stream", "5a", image=False),
    "image-only": Variant("no signal stream", "5a", signal=False),
    "whole-image": Variant("the whole picture as one image instead of 12 lead crops", "5a", image_view="whole"),
}

FLOORS = {"random": "a uniformly random option", "majority": "the train split's commonest answer",
          "blind": "option wording only (tf-idf), no ECG"}

@dataclass
class AblationRow:
    """One table row: a variant, a baseline (text-only) or a floor; a None cell is not applicable."""

    name: str
    kind: Literal["variant", "baseline", "floor"]
    description: str
    cells: dict[str, Cell | None]
    stages: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> steps, train_items
    run: Path | None = None


@dataclass
class AblationReport:
    """What `run_ablations` wrote: the rows and the two table files."""

    rows: list[AblationRow]
    markdown: Path
    json: Path

    def row(self, name: str) -> AblationRow:
        return next(row for row in self.rows if row.name == name)


@dataclass(frozen=True)
class Recipe:
    """How every variant trains, beyond the preset: `train_gpt`'s item selection and learning rate."""

    train_tasks: tuple[str, ...] = ()  # train only on the items these bench tasks select (all: empty)
    learning_rate: float | None = None  # every trained part at this rate (None: the preset's)
    max_per_answer: int | None = None  # at most N train items per answer of a question kind
    finding_tokens: bool = False  # models built from scratch get finding tokens (those with a signal stream)

    def matches(self, folder: Path) -> bool:
        """Whether the finished stage in `folder` was trained this way."""
        saved = json.loads((folder / "config.json").read_text())
        stage = json.loads((folder / "training" / "trainer.json").read_text())["stage"]
        rate_kept = self.learning_rate is None or stage.get("learning_rate") == self.learning_rate
        model = saved.get("model", {})
        findings_kept = bool(model.get("findings")) == (self.finding_tokens and model.get("beat") is not None)
        return (saved.get("bench_tasks", []) == list(self.train_tasks) and saved.get("max_per_answer") == self.max_per_answer
                and rate_kept and findings_kept)


@dataclass(frozen=True)
class Grid:
    """The settings every variant shares."""

    dataset: Path
    out: Path
    preset: str
    steps: dict[str, int | None]  # stage -> max_steps (None: the preset's)
    model_changes: dict[str, Any]
    tasks: list[str]
    limit: int | None
    progress: bool
    recipe: Recipe = Recipe()
    splits: tuple[str, ...] = ("test",)  # benched splits; cells pool their items
    control: bool = False  # also answer every item with another item's ECG (the mismatched-ECG control)
    features: Path | None = None  # an existing cache of the trained Beat and the 12 crops, used instead of building one
    epochs: dict[str, int | None] = field(default_factory=dict)  # stage -> passes over its items (absent: the preset's)
    gradient_checkpointing: bool = False  # recompute activations in backward: a tenth of the memory, ~1.3x the time


def run_ablations(
    dataset: str | Path,
    beat: str | Path,
    image_encoder: str,
    out: str | Path,
    preset: str = "cpu",
    variants: list[str] | None = None,
    bench_tasks: tuple[str, ...] | list[str] = DEFAULT_TASKS,
    bench_limit: int | None = DEFAULT_BENCH_LIMIT,
    warmup_steps: int | None = None,
    joint_steps: int | None = None,
    backbone: str | Path | None = None,
    progress: bool = True,
    model_changes: dict[str, Any] | None = None,
    include_text_only: bool = False,
    recipe: Recipe | None = None,
    splits: tuple[str, ...] | list[str] = ("test",),
    control: bool = False,
    features: str | Path | None = None,
    warmup_epochs: int | None = None,
    joint_epochs: int | None = None,
    gradient_checkpointing: bool = False,
) -> AblationReport:
    """Train and bench each variant (default all of VARIANTS), then write OUT/ablations.md and .json.

    warmup_steps / joint_steps override the preset's step budgets; model_changes are GptConfig
    overrides for every variant (signal_dim defaults to the Beat's width); include_text_only adds
    the backbone answering without the ECG (it needs an instruction-tuned LLM). `recipe` says which
    items every stage trains on and how; `splits` are benched and pooled (e.g. valid and test: more
    items, tighter intervals); `control` adds each variant's mismatched-ECG control and the two
    control columns; `features` is an existing cache of `beat` and `image_encoder` on the 12 lead
    crops, used for the variants that read those instead of building the same cache again.
    warmup_epochs / joint_epochs: passes over a stage's items (the step budget stops a stage too).
    gradient_checkpointing: every stage recomputes its activations in backward (same gradients, less
    memory); it may differ between an interrupted stage and its resume.
    """
    from heartcare.model.feature_cache import load_beat_dim

    names = list(variants) if variants else list(VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise ConfigError("--variants", f"unknown variant(s) {unknown}; expected some of {', '.join(VARIANTS)}")
    if any(epochs is not None and epochs < 1 for epochs in (warmup_epochs, joint_epochs)):
        raise ConfigError("--warmup-epochs / --joint-epochs", f"must be >= 1, got {warmup_epochs}, {joint_epochs}")
    if not splits or any(split not in ("train", "valid", "test") for split in splits) or len(set(splits)) < len(splits):
        raise ConfigError("--split", f"expected distinct splits among train, valid, test; got {list(splits)}")
    changes = {"signal_dim": load_beat_dim(beat), **({"backbone": str(backbone)} if backbone else {}), **(model_changes or {})}
    grid = Grid(Path(dataset), Path(out), preset, {"warmup": warmup_steps, "joint": joint_steps}, changes,
                list(bench_tasks), bench_limit, progress, recipe or Recipe(), tuple(splits), control,
                Path(features) if features is not None else None, {"warmup": warmup_epochs, "joint": joint_epochs},
                gradient_checkpointing)
    grid.out.mkdir(parents=True, exist_ok=True)
    beats = {True: str(Path(beat).resolve())}
    if grid.features is not None:
        check_reused_cache(grid.features, beats[True], image_encoder)
    if any(not VARIANTS[name].trained_beat for name in names):
        beats[False] = str(random_beat(beat, grid.out / "random-beat").resolve())
    rows = [variant_row(grid, name, beats, image_encoder) for name in names]
    if include_text_only:
        spec = f"text-only:{backbone}" if backbone else "text-only"
        cells, run = benched_cells(grid, spec, grid.out / "text-only")
        rows.append(AblationRow("text-only", "baseline", "the backbone answering without the ECG", cells, run=run))
    rows += floor_rows([bench(grid, "random", grid.out / f"floors-{split}", split, floors=True) for split in grid.splits])
    add_versus_full(grid, rows)
    return write_tables(grid, rows)


def add_versus_full(grid: Grid, rows: list[AblationRow]) -> None:
    """Every other benched row's accuracy minus full's on the same items: the paper figures' gaps, with intervals
    from the item pairing (tighter than comparing two rows' own intervals)."""
    def answers(row: AblationRow) -> dict[str, dict[str, Any]]:  # row.run is its first split's bench folder
        return pooled_records([row.run.parent / f"bench-{split}" for split in grid.splits], grid.splits, "predictions.jsonl")

    full = next((row for row in rows if row.name == "full" and row.run is not None), None)
    if full is None:
        return
    reference = answers(full)
    for row in rows:
        if row is not full and row.kind != "floor" and row.run is not None:
            row.cells[VERSUS_FULL[0]] = paired_cell(answers(row), reference)


def check_reused_cache(folder: Path, beat: str, image_encoder: str) -> None:
    """Refuse a --features cache of another Beat, image encoder or view than the grid's trained variants read."""
    from heartcare.model.feature_cache import FeatureCache

    source = FeatureCache(folder).source
    found = {"beat": source.beat and str(Path(source.beat).resolve()), "image encoder": source.image_encoder,
             "image view": source.image_view}
    wanted = {"beat": beat, "image encoder": image_encoder, "image view": "crops"}
    wrong = [f"{key} {found[key]} (the grid's: {wanted[key]})" for key in wanted if found[key] != wanted[key]]
    if wrong:
        raise ConfigError(folder, "this feature cache cannot stand in for the grid's: " + "; ".join(wrong))


def random_beat(beat: str | Path, folder: Path, seed: int = RANDOM_BEAT_SEED) -> Path:
    """A randomly initialised Beat of `beat`'s BeatConfig, saved once into `folder` (reused after)."""
    import torch

    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat

    config = BeatConfig.from_dict(json.loads((Path(beat) / "config.json").read_text()))
    if (folder / "model.safetensors").is_file():
        saved = BeatConfig.from_dict(json.loads((folder / "config.json").read_text()))
        if saved != config:
            raise ConfigError(folder, f"holds a random Beat of another shape than {beat}; remove it or choose another --out")
        return folder
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_beat(config).save_pretrained(folder)


def feature_cache(grid: Grid, beat: str, image_encoder: str, view: str, name: str) -> Path:
    """OUT/features/<name>, built once (resumed when its manifest exists)."""
    from heartcare.model.feature_cache import MANIFEST, build_feature_cache

    folder = grid.out / "features" / name
    manifest = folder / MANIFEST
    # A cache begun with the drawn prediction contexts keeps them (its shards were laid out that way).
    begun_with_contexts = manifest.is_file() and json.loads(manifest.read_text())["selection"].get("context_images", True)
    return build_feature_cache(grid.dataset, beat, image_encoder, view, out=folder, resume=manifest.is_file(),
                               progress=grid.progress, context_images=reads_prediction_contexts(grid) or begun_with_contexts)


def reads_prediction_contexts(grid: Grid) -> bool:
    """Whether a benched or trained item is a signal prediction, the only kind that reads the drawn 4-s context
    (one more image per record through the encoder, which a grid on QA items never reads)."""
    from heartcare.bench.tasks import select_tasks
    from heartcare.train.gpt_presets import preset

    def predicts(tasks: list[str]) -> bool:
        return any(task.select.get("task") == "signal_prediction" for task in select_tasks(tasks))

    if grid.recipe.train_tasks:
        trained = predicts(list(grid.recipe.train_tasks))
    else:
        trained = any("signal_prediction" in data.tasks for _, data in preset(grid.preset).stages.values())
    return trained or predicts(grid.tasks)


def variant_row(grid: Grid, name: str, beats: dict[bool, str], image_encoder: str) -> AblationRow:
    """Cache, train (warm-up unless ablated, then joint) and bench one variant."""
    variant = VARIANTS[name]
    kind = "trained" if variant.trained_beat else "random"
    slug = image_encoder.replace(":", "_").replace("/", "_")
    if grid.features is not None and variant.trained_beat and variant.image_view == "crops":
        features = grid.features
    else:
        features = feature_cache(grid, beats[variant.trained_beat], image_encoder, variant.image_view,
                                 f"{kind}-beat-{slug}-{variant.image_view}")
    changes = {**grid.model_changes, **variant.model_changes()}
    folder = grid.out / name
    warmup = train_stage(grid, folder / "warmup", "warmup", features, None, changes) if variant.warmup else None
    if warmup is not None:
        check_joint_follows(warmup, folder / "joint")
    joint = train_stage(grid, folder / "joint", "joint", features, warmup, changes)
    cells, run = benched_cells(grid, f"heartcare-gpt:{joint}", folder, checkpoint=joint)
    stages = {stage.name: stage_summary(stage) for stage in (warmup, joint) if stage is not None}
    return AblationRow(name, "variant", variant.description, cells, stages, run)


def benched_cells(grid: Grid, model: str, folder: Path, checkpoint: Path | None = None) -> tuple[dict[str, Cell | None], Path]:
    """Bench `model` on every split of the grid into folder/bench-<split>; its cells pooled over the splits
    (and, with the control, what the ECG adds) and the first split's run folder."""
    runs = [folder / f"bench-{split}" for split in grid.splits]
    results = [bench(grid, model, run, split, checkpoint=checkpoint) for run, split in zip(runs, grid.splits, strict=True)]
    records = pooled_records(runs, grid.splits, "predictions.jsonl")
    per_item: dict[str, list[float]] = {}
    for record in records.values():
        if "accuracy" in record["scores"]:
            per_item.setdefault(record["task"], []).append(float(record["scores"]["accuracy"]))
    cells = results_cells(pooled_tasks(results), per_item)
    if grid.control and checkpoint is not None:
        from heartcare.bench.mismatch import CONTROL_PREDICTIONS

        cells.update(control_cells(records, pooled_records(runs, grid.splits, CONTROL_PREDICTIONS)))
    return cells, runs[0]


def pooled_records(runs: list[Path], splits: tuple[str, ...], name: str) -> dict[str, dict[str, Any]]:
    """split/id -> a per-item record of the runs' `name` file (ids are unique within a split only)."""
    pooled: dict[str, dict[str, Any]] = {}
    for run, split in zip(runs, splits, strict=True):
        path = run / name
        for line in path.read_text().splitlines() if path.is_file() else []:
            record = json.loads(line)
            pooled[f"{split}/{record['id']}"] = record
    return pooled


def train_stage(grid: Grid, folder: Path, stage: str, features: Path, init: Path | None, changes: dict[str, Any]) -> Path:
    """One `train_gpt` stage into `folder`: skipped when finished, resumed when interrupted; a finished stage
    trained with another recipe is refused (skipping it would put its numbers in this recipe's row)."""
    from heartcare.train.gpt_presets import preset
    from heartcare.train.gpt_run import train_gpt

    max_steps, epochs = grid.steps[stage], grid.epochs.get(stage)
    settings = preset(grid.preset).stage(stage)[0]
    expected = max_steps if max_steps is not None else settings.max_steps
    if stage_finished(folder, expected, epochs if epochs is not None else settings.epochs):
        if not grid.recipe.matches(folder):
            raise ConfigError(folder, "was trained with another recipe (train tasks, learning rate or per-answer cap); "
                                      "remove it or choose another --out")
        return folder
    recipe = grid.recipe
    asked = {"max_steps": max_steps, "epochs": epochs, "gradient_checkpointing": grid.gradient_checkpointing or None}
    stage_changes = {key: value for key, value in asked.items() if value is not None}  # the rest: the preset's
    train_gpt(grid.dataset, features, stage, grid.preset, folder, init=init, resume=(folder / "training").is_dir(),
              model_changes=changes, stage_changes=stage_changes or None,
              progress=grid.progress, bench_tasks=recipe.train_tasks, learning_rate=recipe.learning_rate,
              max_per_answer=recipe.max_per_answer,
              finding_tokens=recipe.finding_tokens and init is None and changes.get("beat", True) is not None)
    return folder


def stage_finished(folder: Path, max_steps: int | None, epochs: int | None = None) -> bool:
    """Whether `folder` holds a checkpoint saved after the loop ran its whole budget of `max_steps` (and,
    when given, of `epochs`: a stage that ran out of data after one pass is not finished for two)."""
    config, trainer = folder / "config.json", folder / "training" / "trainer.json"
    if not (config.is_file() and trainer.is_file()):
        return False
    saved, state = json.loads(config.read_text()), json.loads(trainer.read_text())
    # total_steps is max_steps capped by the epochs, so a run that ran out of data is finished too
    return (state["stage"].get("max_steps") == max_steps and (epochs is None or state["stage"].get("epochs") == epochs)
            and saved.get("steps") == state["step"] >= state["total_steps"])


def check_joint_follows(warmup: Path, joint: Path) -> None:
    """Refuse a joint stage begun from an earlier warm-up checkpoint: resuming it would mix the two."""
    trainer = joint / "training" / "trainer.json"
    if trainer.is_file() and trainer.stat().st_mtime_ns < (warmup / "config.json").stat().st_mtime_ns:
        raise ConfigError(joint, f"was trained from an earlier {warmup} checkpoint; remove it to train the joint stage again")


def stage_summary(folder: Path) -> dict[str, int]:
    document = json.loads((folder / "config.json").read_text())
    return {"steps": int(document["steps"]), "train_items": int(document["train_items"])}


def bench(grid: Grid, model: str, out: Path, split: str, floors: bool = False, checkpoint: Path | None = None) -> dict[str, Any]:
    """`run_bench` into `out`, or its results.json when it already answered this request with this checkpoint."""
    from heartcare.bench.runner import BenchConfig, answers_another_model, run_bench

    if answers_another_model(out, model):
        shutil.rmtree(out)  # its cached answers came from another checkpoint at the same path
    control = grid.control and checkpoint is not None  # floors and text-only read no ECG: a control would equal them
    request = {"model": model, "tasks": grid.tasks, "limit": grid.limit, "floors": floors, "split": split, "control": control}
    request_path, results_path = out / REQUEST_FILE, out / "results.json"
    if request_path.is_file() and results_path.is_file() and json.loads(request_path.read_text()) == request:
        return json.loads(results_path.read_text())
    results = run_bench(BenchConfig(grid.dataset, model, out, split=split, tasks=grid.tasks, limit=grid.limit,
                                    floors=floors, mismatched_ecgs=control, progress=grid.progress))
    write_atomic(request_path, json.dumps(request, indent=1) + "\n")
    return results


def floor_rows(results: list[dict[str, Any]]) -> list[AblationRow]:
    """Rows of the floors runs, one per benched split (its model, then each floor it carried, pooled over the
    splits; a failed floor keeps an n/a row)."""
    blocks = [{result["model"]: result, **(result.get("floors") or {})} for result in results]
    rows = []
    for name in blocks[0]:
        failed = next((block[name]["error"] for block in blocks if "error" in block[name]), None)
        cells = results_cells({} if failed else pooled_tasks([block[name] for block in blocks]))
        rows.append(AblationRow(f"{name} (floor)", "floor", failed or FLOORS.get(name, "floor"), cells))
    return rows


def write_tables(grid: Grid, rows: list[AblationRow]) -> AblationReport:
    """OUT/ablations.md (the table, floors beneath, steps per stage) and OUT/ablations.json (the same as data)."""
    versus = dict([VERSUS_FULL]) if any(VERSUS_FULL[0] in row.cells for row in rows) else {}
    columns = {column: title for column, (title, _) in COLUMNS.items()} | versus | (CONTROL_COLUMNS if grid.control else {})
    header = ["row", "what differs", *columns.values()]
    recipe = grid.recipe
    trained = ", ".join(part for part in (
        f"trained on the items of {', '.join(recipe.train_tasks)}" if recipe.train_tasks else "",
        f"learning rate {recipe.learning_rate:g}" if recipe.learning_rate is not None else "",
        f"at most {recipe.max_per_answer} train items per answer" if recipe.max_per_answer is not None else "") if part)
    lines = [
        "# HeartcareGPT ablations (paper Figures 4 and 5a)", "",
        f"Dataset {grid.dataset}, preset {grid.preset}{f' ({trained})' if trained else ''}, tasks {', '.join(grid.tasks)}, "
        f"{'every item' if grid.limit is None else f'at most {grid.limit} items'} per task of {' + '.join(grid.splits)} "
        "(the same seeded items in every row).", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join([row.name, row.description] + [format_cell(row.cells.get(column)) for column in columns]) + " |"
              for row in rows]
    lines += ["", "Accuracy (%), mean over the column's tasks, [95% bootstrap interval]. n/a: the model reads none of "
                  "those items. †: mean over the tasks it reads only. Floors have intervals for one-task columns of one "
                  "split only (their per-item answers are not kept)."]
    if versus:
        lines += ["", "Minus full (points, paired per item over every item both answered, [95% bootstrap interval]): the "
                      "row's accuracy minus the full model's on the same items; below zero: what the row leaves out helps."]
    if grid.control:
        lines += ["", "Control columns (points, paired per item over every benched item, [95% bootstrap interval]): "
                      "accuracy with the item's own ECG minus with another item's (`--mismatched-ecgs`); and how much more "
                      "often, shown another item's ECG, the model picks that ECG's own answer than it picks the same "
                      "option with its own ECG (`heartcare bench control`). Above zero: the answers move with the ECG."]
    lines += ["", "Training (steps / train items per stage):", ""]
    lines += [f"- {row.name}: " + "; ".join(f"{stage} {summary['steps']} steps / {summary['train_items']} items"
                                           for stage, summary in row.stages.items()) for row in rows if row.stages]
    markdown = write_atomic(grid.out / "ablations.md", "\n".join(lines) + "\n")
    document = {
        "dataset": str(grid.dataset), "preset": grid.preset, "tasks": grid.tasks, "limit": grid.limit,
        "splits": list(grid.splits), "recipe": dataclasses.asdict(recipe), "control": grid.control,
        "max_steps": grid.steps, "columns": columns,
        "rows": [dataclasses.asdict(row) | {"run": str(row.run) if row.run else None} for row in rows],
    }
    data = write_atomic(grid.out / "ablations.json", json.dumps(document, indent=1, default=str) + "\n")
    return AblationReport(rows, markdown, data)
