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
    reader = subparsers.add_parser(
        "digitize", help="read ECG page pictures back into millivolt traces",
        description="Read the traces of 12-lead ECG page pictures (PNG/JPEG; 3x4 + rhythm strip, 25 mm/s, "
        "a 1 mV pulse per row) into millivolts, from the pixels alone. Prints what each page gave; with "
        "--out, writes PICTURE.json per page (traces and measurements) and failures.json.",
    )
    reader.add_argument("pictures", type=Path, nargs="+", help="page pictures")
    reader.add_argument("-o", "--out", type=Path, help="folder for the readings")
    reader.add_argument("--layout", choices=("3x4+II", "3x4"), default="3x4+II")
    reader.add_argument("--rhythm-lead", default="II")
    reader.set_defaults(handler=run_digitize)


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


def _reading(page) -> dict:
    import numpy as np

    from heartcare.ecg.morphology import NAMES, SCALES

    values = page.morphology()
    measured = {name: round(float(values[NAMES.index(f"{name}_scaled")]) * scale, 4 if name == "rr_irregularity" else 1) if values[
        NAMES.index(f"{name}_measured")] else None for name, scale in SCALES.items()}
    return {"px_per_mv": page.px_per_mv, "px_per_second": page.px_per_second, "rotation_deg": page.rotation_deg,
            "time_ruler": page.time_ruler, "beat_lag_s": page.beat_lag_seconds(), "lead_ii_agreement": page.agreement(),
            "measurements": measured,
            "traces": [{"lead": trace.lead, "start_s": trace.start_s, "fs": trace.fs, "coverage": trace.coverage,
                        "mv": np.round(trace.signal.astype(np.float64), 4).tolist()} for trace in page.traces]}


def run_digitize(args: argparse.Namespace) -> int:
    """Each picture read or refused with its reason; a batch goes on past a bad one."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from heartcare.atomic import write_atomic
    from heartcare.render.digitize import DigitizeError, digitize

    failures = []
    print("| picture | leads | px/mV | turned | HR bpm | PR ms | QRS ms | QT ms |")
    print("|---|---|---|---|---|---|---|---|")
    for picture in args.pictures:
        try:
            with Image.open(picture) as image:
                pixels = np.asarray(image.convert("RGB"))
            page = digitize(pixels, layout=args.layout, rhythm_lead=args.rhythm_lead, source=str(picture))
        except (OSError, UnidentifiedImageError) as error:
            failures.append({"picture": str(picture), "reason": f"cannot decode the picture ({error})"})
            continue
        except DigitizeError as error:
            failures.append({"picture": str(picture), "reason": error.problem})
            continue
        reading = _reading(page)
        measured = reading["measurements"]
        cells = [measured[name] if measured[name] is not None else "-" for name in ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms")]
        print(f"| {picture.name} | {len({trace.lead for trace in page.traces})} | {page.px_per_mv:.1f} "
              f"| {page.rotation_deg:+.1f} deg | " + " | ".join(str(cell) for cell in cells) + " |")
        if args.out:
            write_atomic(args.out / f"{picture.stem}.json", json.dumps(reading))
    for failure in failures:
        print(f"  not read {failure['picture']}: {failure['reason']}")
    if args.out:
        write_atomic(args.out / "failures.json", json.dumps(failures, indent=2))
    return 0 if len(failures) < len(args.pictures) else 1
