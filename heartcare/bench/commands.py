"""`heartcare bench list|run|compare|agreement|control|report`: thin wrappers over the library functions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="Heartcare-Bench: evaluate a model beside the floors")
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND")

    listing = commands.add_parser("list", help="the tasks, their metrics and (with --data) item counts")
    listing.add_argument("--data", type=Path, default=None, help="a HeartAgent dataset folder")
    listing.add_argument("--split", default="test")
    listing.add_argument("--tasks", action="append", default=None, help="names, globs or groups (repeatable)")
    listing.add_argument("--models", action="store_true", help="also list the model adapters")
    listing.set_defaults(handler=run_list)

    run = commands.add_parser("run", help="evaluate one model (and the floors) on a dataset split")
    run.add_argument("--data", type=Path, required=True, help="a HeartAgent dataset folder")
    run.add_argument("--model", required=True, action="append", metavar="NAME[:ARG]",
                     help="one model per run (several runs into one --out share its floors); random | majority | blind | text-only[:PATH] | heartcare-gpt:CKPT | openai:URL | predictions:FILE.jsonl | beat:CKPT | periodic")
    run.add_argument("--out", type=Path, required=True, help="run folder (an interrupted run resumes here)")
    run.add_argument("--tasks", action="append", default=None, help="names, globs or groups, e.g. 'closed-*' or bench-S (repeatable)")
    run.add_argument("--split", default="test")
    run.add_argument("--limit", type=int, default=None, help="at most N items per task (a seeded sample)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--no-floors", action="store_true", help="skip the random / majority / blind floors")
    run.add_argument("--mismatched-ecgs", action="store_true",
                     help="control: also answer every item with another item's ECG (how much of the score comes from the ECG)")
    run.add_argument("--retries", type=int, default=2, help="retries of a failing batch before items fail one by one")
    run.add_argument("--bertscore-model", default=None, metavar="PATH", help="local encoder folder for F1-Bio (e.g. BioBERT)")
    run.add_argument("--judge", default=None, metavar="URL", help="OpenAI-compatible endpoint of the report judge")
    run.add_argument("--judge-model", default=None, help="judge model name (required with --judge)")
    run.add_argument("--judge-key-env", default="OPENAI_API_KEY", help="environment variable holding the judge's key")
    run.add_argument("--openai-model", default=None, help="model name for openai:URL (default: the endpoint's first)")
    run.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the endpoint's key")
    run.add_argument("--timeout", type=float, default=60.0, help="seconds per request (openai:URL, judge)")
    run.add_argument("--concurrency", type=int, default=4, help="requests in flight (openai:URL, judge)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=run_run)

    compare = commands.add_parser("compare", help="paired-bootstrap differences of two runs on the same split")
    compare.add_argument("first", type=Path, metavar="RUN_A")
    compare.add_argument("second", type=Path, metavar="RUN_B")
    compare.add_argument("--pair", type=Path, nargs=2, action="append", default=[], metavar=("RUN_A", "RUN_B"),
                         help="the same two models' runs of another split, pooled with the first pair (repeatable)")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=run_compare)

    agree = commands.add_parser("agreement", help="how often RUN_A picks RUN_B's option per task (a model and its "
                                                  "readers), and who is right where they part")
    agree.add_argument("first", type=Path, metavar="RUN_A")
    agree.add_argument("second", type=Path, metavar="RUN_B")
    agree.add_argument("--json", action="store_true")
    agree.set_defaults(handler=run_agreement)

    control = commands.add_parser("control", help="a model minus its mismatched-ECG control, pooled over runs of "
                                                  "several splits (what the ECG adds)")
    control.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="runs made with --mismatched-ecgs")
    control.add_argument("--seed", type=int, default=0)
    control.add_argument("--json", action="store_true")
    control.set_defaults(handler=run_control)

    report = commands.add_parser("report", help="one report (md + html + figures) for several runs")
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    report.add_argument("--out", type=Path, required=True)
    report.set_defaults(handler=run_report)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_list(args: argparse.Namespace) -> int:
    from heartcare.bench.tasks import select_tasks, task_items

    tasks = select_tasks(args.tasks)
    items = None
    if args.data is not None:
        from heartcare.bench.dataset import BenchDataset

        items = BenchDataset(args.data).items(args.split)
    print(f"{'task':28} {'group':11} {'v':>2} {'items':>6}  metrics (primary first)")
    for task in tasks:
        count = "" if items is None else str(len(task_items(task, items)))
        metrics = [task.primary] + [m for m in task.metrics if m != task.primary and "/" not in m]
        print(f"{task.name:28} {task.group:11} {task.version:>2} {count:>6}  {', '.join(metrics)}")
    if args.models:
        from heartcare.bench.models import FLOORS, MODELS

        print("\nmodels: " + ", ".join(sorted(MODELS)) + f"   (floors: {', '.join(FLOORS)})")
    return 0


def run_run(args: argparse.Namespace) -> int:
    from heartcare.bench.runner import BenchConfig, run_bench
    from heartcare.errors import ConfigError

    metric_options: dict = {}
    if args.bertscore_model:
        metric_options["bertscore_model"] = args.bertscore_model
    if args.judge:
        if not args.judge_model:
            raise ConfigError(None, "--judge needs --judge-model NAME")
        from heartcare.bench.judge import JudgeConfig

        metric_options["judge"] = JudgeConfig(url=args.judge, model=args.judge_model, api_key_env=args.judge_key_env,
                                              cache_dir=args.out / "judge-cache", timeout_s=args.timeout,
                                              concurrency=args.concurrency)
    model_options = {"timeout_s": args.timeout, "concurrency": args.concurrency, "api_key_env": args.api_key_env}
    if args.openai_model:
        model_options["openai_model"] = args.openai_model
    if len(args.model) > 1:  # taking the last silently would bench a model the user did not mean
        raise ConfigError("--model", f"one model per run, got {len(args.model)} ({', '.join(args.model)}); "
                                     "run each into the same --out to see them side by side")
    config = BenchConfig(data=args.data, model=args.model[0], out=args.out, tasks=_split_commas(args.tasks), split=args.split,
                         limit=args.limit, seed=args.seed, floors=not args.no_floors, retries=args.retries,
                         mismatched_ecgs=args.mismatched_ecgs, model_options=model_options, metric_options=metric_options, progress=not args.quiet)
    from heartcare.bench.report import console_tables

    print(console_tables([run_bench(config)]))
    print(f"written: {args.out}/results.json, predictions.jsonl, report.md, report.html")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from heartcare.bench.compare import comparison_lines, pooled_comparison

    comparison = pooled_comparison([(args.first, args.second), *map(tuple, args.pair)], seed=args.seed)
    splits = [f"splits: {', '.join(comparison['splits'])}"] if "splits" in comparison else []
    print(json.dumps(comparison, indent=1) if args.json else "\n".join([*splits, *comparison_lines(comparison)]))
    return 0


def run_agreement(args: argparse.Namespace) -> int:
    from heartcare.bench.agreement import agreement, agreement_lines

    report = agreement(args.first, args.second)
    print(json.dumps(report, indent=1) if args.json else "\n".join(agreement_lines(report)))
    return 0


def run_control(args: argparse.Namespace) -> int:
    from heartcare.bench.compare import comparison_lines, pooled_control
    from heartcare.bench.following import following_lines

    comparison = pooled_control(args.runs, seed=args.seed)
    print(json.dumps(comparison, indent=1) if args.json else
          "\n".join([f"splits: {', '.join(comparison['splits'])}", *comparison_lines(comparison), "",
                     *following_lines(comparison["follows_shown_ecg"])]))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from heartcare.bench.report import load_results, write_report

    results = [load_results(run) for run in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(results, args.out, predictions_folder=args.runs[0] if args.runs[0].is_dir() else None)
    from heartcare.bench.report import console_tables

    print(console_tables(results))
    print(f"written: {args.out}/report.md, report.html")
    return 0


def _split_commas(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
