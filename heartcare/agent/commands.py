"""`heartcare agent build ...`, `heartcare agent stats DATASET` and `heartcare agent audit DATASET`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("agent", help="HeartAgent: build a multimodal ECG QA dataset")
    commands = parser.add_subparsers(dest="agent_command", metavar="AGENT_COMMAND")

    build = commands.add_parser("build", help="build (or --resume) a dataset from ECG sources")
    build.add_argument("--source", action="append", required=True, metavar="KIND:PATH",
                       help="ptbxl:DIR, dicom:DIR, pdf:DIR or ecgqa:FILE (repeatable; sources compose)")
    build.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    build.add_argument("--workers", type=int, default=1, help="processes for the per-record stage")
    build.add_argument("--images-per-record", type=int, default=1, help="paper images per ECG (0: signal only)")
    build.add_argument("--image-dpi", type=float, default=100.0, help="sheet resolution (150 = 1650 x 1275 px)")
    build.add_argument("--presets", default="clean,print,scan,photo", help="augmentation presets, comma-separated")
    build.add_argument("--denoise", action="store_true",
                       help="store signals denoised, as the paper's Optimizer does (then no signal-quality questions)")
    build.add_argument("--shard-size", type=int, default=256, help="records per shard (unit of resume)")
    build.add_argument("--limit", type=int, default=None, help="only the first N records")
    build.add_argument("--llm", default=None, metavar="URL", help="OpenAI-compatible endpoint for rewriting")
    build.add_argument("--llm-model", default="gpt-4o-mini", help="model name sent to --llm")
    build.add_argument("--llm-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--min-per-answer", type=int, default=5,
                       help="valid/test keep a question kind only with at least this many items per answer")
    build.add_argument("--resume", action="store_true", help="continue an interrupted build in --out")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(handler=run_build)

    stats = commands.add_parser("stats", help="print a dataset's card")
    stats.add_argument("dataset", type=Path, help="a folder written by `heartcare agent build`")
    stats.set_defaults(handler=run_stats)

    audit = commands.add_parser("audit", help="blind baselines, answer checker and test cell sizes of a dataset")
    audit.add_argument("dataset", type=Path, help="a folder written by `heartcare agent build`")
    audit.add_argument("--json", action="store_true", help="print the audit as JSON instead of Markdown")
    audit.set_defaults(handler=run_audit)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig

    config = BuildConfig(
        sources=tuple(args.source),
        out=str(args.out),
        workers=args.workers,
        images_per_record=args.images_per_record,
        image_presets=tuple(p.strip() for p in args.presets.split(",") if p.strip()),
        image_dpi=args.image_dpi,
        denoise=args.denoise,
        shard_size=args.shard_size,
        limit=args.limit,
        llm_url=args.llm,
        llm_model=args.llm_model,
        llm_key_env=args.llm_key_env,
        seed=args.seed,
        min_per_answer=args.min_per_answer,
        resume=args.resume,
    )
    result = build_dataset(config, progress=not args.quiet)
    print(
        f"{result.out}: {result.records} records, {result.items} QA items, {result.skipped} skipped "
        f"(see build_report.json), {result.seconds:.1f} s ({result.records_per_second:.1f} records/s)"
    )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    print(dataset_stats(args.dataset))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    """Exit 1 when the checker finds a wrong answer, a blind baseline beats chance by the issue's margins,
    or an option text of valid/test is the answer well above chance when offered (`audit_failures`)."""
    import json
    import sys

    from heartcare.agent.audit import audit_dataset, audit_failures, render_audit

    audit = audit_dataset(args.dataset)
    print(json.dumps(audit, indent=1, sort_keys=True) if args.json else "\n".join(render_audit(audit)))
    failures = audit_failures(audit)
    for failure in failures:
        print(f"audit: {failure}", file=sys.stderr)
    return int(bool(failures))


def dataset_stats(dataset: Path) -> str:
    """The card text of a built dataset (README.md is rebuilt from dataset.json + build_report.json)."""
    import json

    from heartcare.agent.card import render_markdown
    from heartcare.errors import DatasetLayoutError

    card_file = Path(dataset) / "dataset.json"
    if not card_file.is_file():
        raise DatasetLayoutError(dataset, "dataset.json not found (not a HeartAgent dataset)")
    card = json.loads(card_file.read_text())
    report_file = Path(dataset) / "build_report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    return render_markdown(card, report.get("skipped", []), report.get("timing"), terminal=True)
