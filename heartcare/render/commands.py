"""`heartcare render PATH -o OUT`: draw one record or a whole folder/dataset as ECG paper."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LAYOUT_NAMES = ("3x4+II", "3x4", "6x2", "12x1")  # kept here so --help does not import the renderer
PRESET_NAMES = ("clean", "print", "scan", "photo")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="draw ECGs as paper images (png, jpg, svg, pdf)",
        description="Draw one ECG file to OUT.(png|jpg|svg|pdf), or every record of a folder or "
        "PTB-XL-layout dataset into the folder OUT.",
    )
    parser.add_argument("path", type=Path, help="an ECG file, a folder of them, or a PTB-XL-layout folder")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output file, or folder for many records")
    parser.add_argument("--layout", choices=LAYOUT_NAMES, default="3x4+II")
    parser.add_argument("--rhythm-lead", default="II", help="lead of the full-length rhythm strip (3x4+II)")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="clean", help="image degradation preset")
    parser.add_argument("--seed", type=int, default=0, help="augmentation seed (record i of a batch: seed + i)")
    parser.add_argument("--speed", type=float, default=25.0, help="paper speed mm/s (25 or 50)")
    parser.add_argument("--gain", type=float, default=10.0, help="gain mm/mV (5, 10 or 20)")
    parser.add_argument("--dpi", type=float, default=150.0)
    parser.add_argument("--page", choices=("letter", "a4"), default="letter")
    parser.add_argument("--no-grid", action="store_true", help="blank paper")
    parser.add_argument("--no-header", action="store_true", help="omit the header line")
    parser.add_argument("--fs", type=float, default=None, help="sampling rate for CSV/NPY input")
    parser.add_argument("--allow-flat-leads", action="store_true", help="mask constant (flat) leads, e.g. a lead-off, instead of rejecting the file")
    parser.add_argument("--format", choices=("png", "jpg", "svg", "pdf"), default="png", help="per-record format (folders)")
    parser.add_argument("--workers", type=int, default=1, help="processes (folders and datasets)")
    parser.set_defaults(handler=run_render)


def _spec(args: argparse.Namespace):
    from heartcare.render.paper import PaperColours, PaperSpec

    return PaperSpec(
        speed_mm_s=args.speed, gain_mm_mv=args.gain, dpi=args.dpi, page=args.page,
        header=not args.no_header, colours=PaperColours(show_grid=not args.no_grid),
    )


def run_render(args: argparse.Namespace) -> int:
    from heartcare.atomic import write_atomic
    from heartcare.render.batch import render_many, write_rendering

    spec = _spec(args)
    if not args.path.is_dir():
        from heartcare.ecg.read import read_ecg

        ecg = read_ecg(args.path, fs=args.fs, allow_flat_leads=args.allow_flat_leads)
        written = write_rendering(ecg, args.out, args.layout, spec, args.preset, args.seed, args.rhythm_lead)
        print(f"wrote {written}")
        return 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("rendering", total=None)
        report = render_many(
            args.path, args.out, workers=args.workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            format=args.format, layout=args.layout, spec=spec, preset=args.preset, seed=args.seed,
            rhythm_lead=args.rhythm_lead, input_fs=args.fs, allow_flat_leads=args.allow_flat_leads,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "skipped.json", json.dumps(report.skipped, indent=2))
    print(f"{len(report.written)} written, {len(report.existing)} already there, {len(report.skipped)} skipped")
    for skipped in report.skipped[:10]:
        print(f"  skipped {skipped['record']}: {skipped['reason']}")
    if len(report.skipped) > 10:
        print(f"  ... see {args.out / 'skipped.json'}")
    return 0
