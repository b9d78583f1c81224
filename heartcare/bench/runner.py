"""`heartcare bench run`: one model on a dataset split, beside the floors, to RUN/.

RUN/run.json      what the run is (model, dataset fingerprint, split, seed, limit): a
                  resumed run must match it, so cached answers are never mixed across runs
RUN/cache/        per-item answers of the model and of each floor (the resume state)
RUN/results.json  per task: n, metrics with bootstrap 95% intervals; the floors' figures
RUN/predictions.jsonl  per item: output, parsed answer, correctness, scores
RUN/report.md, report.html, figures/   the paper-shaped tables and charts

The same seed gives the same results.json apart from its "timing" block.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartcare import __version__
from heartcare.agent.description import stable_hash
from heartcare.atomic import write_atomic
from heartcare.bench.answer import collect_answers
from heartcare.bench.cache import AnswerCache
from heartcare.bench.dataset import BenchDataset
from heartcare.bench.items import BenchItem
from heartcare.bench.metrics import ScoringContext
from heartcare.bench.mismatch import CONTROL_PREDICTIONS
from heartcare.bench.models import FLOORS, ModelContext, build_model, model_fingerprint
from heartcare.bench.models.base import Output
from heartcare.bench.parse import parse_choice
from heartcare.bench.score import headline, score_task
from heartcare.bench.tasks import TaskSpec, select_tasks, task_items
from heartcare.errors import ConfigError


@dataclass
class BenchConfig:
    """One `bench run`. model: an adapter spec (`NAME[:ARG]`); tasks: names, globs or groups (None = all);
    limit: at most this many items per task (a seeded sample); floors: also score random / majority / blind;
    model_options: adapter settings (timeout_s, concurrency, openai_model, ...); metric_options: bertscore_model,
    judge (a JudgeConfig)."""

    data: Path
    model: str
    out: Path
    tasks: list[str] | None = None
    split: str = "test"
    limit: int | None = None
    seed: int = 0
    floors: bool = True
    retries: int = 2
    mismatched_ecgs: bool = False  # also answer every item with another item's ECG (the mismatched-ECG control)
    model_options: dict[str, Any] = field(default_factory=dict)
    metric_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(None, f"--limit must be at least 1, got {self.limit}")


def selected_items(tasks: list[TaskSpec], items: list[BenchItem], limit: int | None, seed: int) -> dict[str, list[BenchItem]]:
    chosen = {}
    for task in tasks:
        members = task_items(task, items)
        if limit is not None and len(members) > limit:
            members = sorted(members, key=lambda item: stable_hash(seed, "limit", item.id))[:limit]
        chosen[task.name] = sorted(members, key=lambda item: item.id)
    return chosen


def check_run_folder(out: Path, identity: dict[str, Any]) -> None:
    """Create RUN/run.json, or refuse to resume a run that was something else."""
    path = out / "run.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        different = [key for key in identity if previous.get(key) != identity[key]]
        if different:
            details = "; ".join(f"{key}: {previous.get(key)!r} -> {identity[key]!r}" for key in different)
            raise ConfigError(out, f"this run folder holds another run ({details}); use a new --out")
    else:
        write_atomic(path, json.dumps(identity, indent=1, sort_keys=True) + "\n")


def answers_another_model(out: Path, model: str) -> bool:
    """Whether `out` holds a run of this model spec answered from other content: a checkpoint retrained at the
    same path, or a folder from before run folders recorded it. A pipeline that owns the folder (the demo,
    the ablation grid) removes it and runs again; `heartcare bench run` refuses it (check_run_folder)."""
    path = out / "run.json"
    if not path.is_file():
        return False
    previous = json.loads(path.read_text())
    return previous.get("model") == model and previous.get("model_fingerprint") != model_fingerprint(model)


def evaluate(
    spec: str, context: ModelContext, chosen: dict[str, list[BenchItem]], tasks: list[TaskSpec], config: BenchConfig,
    scoring: ScoringContext, variant: str | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], float]:
    """(results block, per-item records, seconds spent answering) of one model; `variant` names a control
    run of it on changed items (its answers are cached apart from the model's own)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    model = build_model(spec, context)
    items = [item for members in chosen.values() for item in members]
    label = spec if variant is None else f"{spec} [{variant}]"
    # the variant leads the cache name: a long spec is cut to fit a file name, never the variant
    cache = AnswerCache(config.out / "cache", spec if variant is None else f"{variant} {spec}")
    began = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not config.progress, transient=True) as bar:
        handle = bar.add_task(label, total=len(items))
        answers = collect_answers(model, items, cache, retries=config.retries,
                                  on_progress=lambda done: bar.advance(handle, done))
    answering = time.perf_counter() - began
    tasks_block: dict[str, Any] = {}
    records: dict[str, dict[str, Any]] = {}
    for task in tasks:
        block, scores = score_task(task, chosen[task.name], answers, scoring, config.seed)
        tasks_block[task.name] = block
        for item in chosen[task.name]:
            records[item.id] = item_record(task, item, answers[item.id], scores.get(item.id, {}))
    block = {"tasks": tasks_block, "summary": headline(tasks_block)}
    served = getattr(model, "served", None)  # openai:URL records which served model answered, and what it takes
    if served is not None and answers:
        block["served_model"] = dataclasses.asdict(served)
    return block, records, answering


def item_record(task: TaskSpec, item: BenchItem, answer: tuple[Output, str | None], scores: dict[str, float]) -> dict[str, Any]:
    output, failure = answer
    record: dict[str, Any] = {"id": item.id, "task": task.name, "output": output.text, "scores": scores}
    if item.is_multiple_choice:
        parsed = None if output.text is None else parse_choice(output.text, item.choices)
        record.update(parsed=None if parsed is None else item.letters[parsed], answer=item.letters[item.answer_index],
                      correct=parsed == item.answer_index)
    else:
        record["answer"] = item.answer
    if output.waveform is not None:
        record["waveform_samples"] = int(output.waveform.shape[-1])
    if failure:
        record["failed"] = failure
    if output.not_applicable:
        record["not_applicable"] = output.not_applicable
    if output.extra.get("missing"):
        record["missing"] = True
    return record


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Evaluate `config.model` (and the floors) and write RUN/; returns the results dict."""
    dataset = BenchDataset(config.data)
    tasks = select_tasks(config.tasks)
    chosen = selected_items(tasks, dataset.items(config.split), config.limit, config.seed)
    tasks = [task for task in tasks if chosen[task.name]]
    if not tasks:
        raise ConfigError(config.data, f"the {config.split} split has no items for the selected tasks")
    identity = {"model": config.model, "dataset_fingerprint": dataset.fingerprint(config.split), "split": config.split,
                "seed": config.seed, "limit": config.limit}
    fingerprint = model_fingerprint(config.model)
    if fingerprint is not None:  # the files it answers from: replaced ones must not reuse the cached answers
        identity["model_fingerprint"] = fingerprint
    config.out.mkdir(parents=True, exist_ok=True)
    check_run_folder(config.out, identity)
    context = ModelContext(dataset=dataset, seed=config.seed, split=config.split, options=dict(config.model_options))
    scoring = ScoringContext(dataset=dataset, options={"cache_dir": config.out / "cache", **config.metric_options})
    results: dict[str, Any] = {
        "model": config.model,
        "dataset": {"path": str(config.data), "version": dataset.version, "fingerprint": identity["dataset_fingerprint"],
                    "card": dataset.card_fingerprint()},
        "split": config.split, "heartcare_version": __version__, "seed": config.seed, "limit": config.limit,
        **({"model_fingerprint": fingerprint} if fingerprint is not None else {}),
    }
    timing: dict[str, float] = {}
    control_records: dict[str, dict[str, Any]] | None = None
    block, records, timing[config.model] = evaluate(config.model, context, chosen, tasks, config, scoring)
    results.update(block)
    if config.mismatched_ecgs:
        from heartcare.bench.compare import paired_tasks
        from heartcare.bench.following import following, shown_answer
        from heartcare.bench.mismatch import CONTROL, mismatched_items

        swapped, kept_own, donors = mismatched_items(chosen, config.seed)
        control_block, control_records, timing[f"{config.model} [{CONTROL}]"] = evaluate(
            config.model, context, swapped, tasks, config, scoring, variant=CONTROL)
        for item in (item for members in chosen.values() for item in members if item.id in donors):
            donor = donors[item.id]
            control_records[item.id].update(ecgs_of=donor.id, shown_answer=shown_answer(item, donor))
        # Model and control answer the same questions, so their per-item difference is paired: far
        # tighter than two separate intervals, it says whether the ECG moved the score at all.
        paired = paired_tasks(block["tasks"], control_block["tasks"], records, control_records, config.seed)
        results["controls"] = {CONTROL: {**control_block, "items_that_kept_their_own_ecg": kept_own,
                                         "model_minus_control": paired,
                                         "follows_shown_ecg": following(records, control_records, config.seed)}}
    judge = config.metric_options.get("judge")
    if judge is not None:
        results["judge"] = {"model": getattr(judge, "model", None), "url": getattr(judge, "url", None),
                            "failures": scoring.options.get("judge_failures")}
    if config.floors:
        results["floors"] = {}
        floor_scoring = ScoringContext(dataset=dataset, options={**scoring.options, "judge": None})
        for floor in FLOORS:
            if floor == config.model:
                continue
            try:
                floor_block, _, timing[floor] = evaluate(floor, context, chosen, tasks, config, floor_scoring)
            except ConfigError as error:  # e.g. the blind floor without scikit-learn: say so, keep the rest
                results["floors"][floor] = {"error": str(error)}
                continue
            results["floors"][floor] = floor_block
    write_outputs(config.out, results, records, timing, control_records)
    return results


def write_outputs(out: Path, results: dict[str, Any], records: dict[str, dict[str, Any]], timing: dict[str, float],
                  control_records: dict[str, dict[str, Any]] | None = None) -> None:
    """results.json, predictions.jsonl (+ predictions-control.jsonl: the mismatched-ECG control's per-item
    records, which `heartcare bench control` pools over splits) and the report."""
    from heartcare.bench.report import write_report

    def jsonl(chosen: dict[str, dict[str, Any]]) -> str:
        ordered = sorted(chosen.values(), key=lambda record: (record["task"], record["id"]))
        return "".join(json.dumps(record, sort_keys=True) + "\n" for record in ordered)

    write_atomic(out / "predictions.jsonl", jsonl(records))
    control_path = out / CONTROL_PREDICTIONS
    if control_records is not None:
        write_atomic(control_path, jsonl(control_records))
    elif control_path.exists():  # a rerun without the control: an old file would pair with other answers
        control_path.unlink()
    results = {**results, "timing": {"answer_seconds": {key: round(value, 3) for key, value in timing.items()}}}
    write_atomic(out / "results.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
    write_report([results], out, predictions_folder=out)
