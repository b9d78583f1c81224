"""`heartcare sim ...`: simulate one record, build a cohort, validate measurements on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="labelled 12-lead ECG simulator and PTB-XL-layout cohort")
    commands = parser.add_subparsers(dest="sim_command", metavar="SIM_COMMAND")

    cohort = commands.add_parser("cohort", help="write a simulated cohort in PTB-XL's layout")
    cohort.add_argument("--n", type=int, required=True, help="number of records")
    cohort.add_argument("--out", type=Path, required=True, help="output folder (re-run to resume)")
    cohort.add_argument("--seed", type=int, default=0, help="cohort seed (same seed, same cohort)")
    cohort.add_argument("--workers", type=int, default=1, help="processes drawing records")
    cohort.add_argument("--label-prior", choices=["ptbxl"], default=None,
                        help="ptbxl: labels follow PTB-XL's real label distribution (all 71 statements)")
    cohort.set_defaults(handler=run_cohort)

    validate = commands.add_parser("validate", help="check heartcare's measurements against the ground truth")
    validate.add_argument("root", type=Path, help="a folder written by `heartcare sim cohort`")
    validate.add_argument("--limit", type=int, default=None, help="only the first N records")
    validate.add_argument("--json", type=Path, default=None, help="also write per-record errors here")
    validate.set_defaults(handler=run_validate)

    one = commands.add_parser("record", help="simulate one record and write it (wfdb, npy or csv)")
    one.add_argument("out", type=Path, nargs="?", help="output path (WFDB: path without extension)")
    one.add_argument("--condition", action="append", default=[], metavar="NAME[=SEVERITY]",
                     help="condition name, optionally with severity 0-1 (repeatable); see --list")
    one.add_argument("--age", type=int, default=55)
    one.add_argument("--sex", choices=["M", "F"], default="M")
    one.add_argument("--fs", type=float, default=500.0)
    one.add_argument("--seconds", type=float, default=10.0)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--format", choices=["wfdb", "npy", "csv"], default="wfdb")
    one.add_argument("--list", action="store_true", help="list the conditions and exit")
    one.set_defaults(handler=run_record)

    preview = commands.add_parser("preview", help="draw a few conditions as 12-lead sheets (PNG)")
    preview.add_argument("out", type=Path, help="folder for the PNGs")
    preview.add_argument("--condition", action="append", default=None, help="condition name (repeatable)")
    preview.add_argument("--seed", type=int, default=0)
    preview.set_defaults(handler=run_preview)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_cohort(args: argparse.Namespace) -> int:
    from heartcare.sim.cohort import build_cohort

    out = build_cohort(args.n, args.out, seed=args.seed, workers=args.workers, label_prior=args.label_prior)
    print(f"cohort of {args.n} records in {out}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from heartcare.sim.validate import validate_cohort

    result = validate_cohort(args.root, limit=args.limit)
    print_validation(result)
    if args.json:
        from heartcare.atomic import write_atomic

        write_atomic(args.json, json.dumps(result.records, indent=1, default=str))
    return 0 if result.ok else 1


def print_validation(result) -> None:
    """Per-condition table and the issue's targets, as `heartcare sim validate` prints them."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"measure() vs ground truth, {len(result.records)} records")
    table.add_column("condition", no_wrap=True)
    headers = ("records", "HR<=3bpm", "PR<=25ms", "QRS<=20ms", "axis<=15deg", "QT<=20ms", "QTc<=20ms", "median QRS err ms")
    for header in headers:
        table.add_column(header, justify="right")
    percent = lambda value: "-" if value != value else f"{100 * value:.0f}%"  # noqa: E731  (nan -> '-')
    for name, row in result.by_condition.items():
        table.add_row(name, str(int(row["records"])), percent(row["hr<=3"]), percent(row["pr<=25"]),
                      percent(row["qrs<=20"]), percent(row["axis<=15"]), percent(row["qt<=20"]),
                      percent(row["qtc<=20"]), f"{row['median_qrs_error']:.0f}")
    console.print(table)
    for target in result.targets:
        mark = "[green]ok[/]" if target.met else "[red]FAILED[/]"
        console.print(f"{mark} {target.name}: {target.passed}/{target.eligible} "
                      f"({percent(target.rate)}, need {100 * target.required:.0f}%)")
    names = {"pr_ms": "PR within 25 ms", "qrs_ms": "QRS within 20 ms", "qt_ms": "QT within 20 ms"}
    for floor, shares in result.floors.items():  # guesses that never read the waveform, same records
        values = ", ".join(f"{names[key]} {percent(share)}" for key, share in shares.items())
        console.print(f"floor ({floor}, no waveform): {values}")
    for ecg_id, reason in result.skipped:
        console.print(f"[yellow]skipped[/] record {ecg_id}: {reason}")
    if not result.ok:
        failed = ", ".join(t.name for t in result.targets if not t.met)
        console.print(f"[red]validation failed[/]: {failed}")


def run_record(args: argparse.Namespace) -> int:
    from heartcare.errors import ConfigError
    from heartcare.sim.conditions import CONDITIONS
    from heartcare.sim.simulate import SimulationSpec, simulate

    if args.list:
        for name, condition in CONDITIONS.items():
            print(f"{name:32s} {','.join(condition.codes):18s} {condition.severity_range}")
        return 0
    if args.out is None:
        raise ConfigError(None, "give an output path (or --list to see the conditions)")
    conditions = {}
    for item in args.condition or ["normal"]:
        name, _, severity = item.partition("=")
        conditions[name] = float(severity) if severity else 0.5
    simulated = simulate(SimulationSpec(conditions=conditions, age=args.age, sex=args.sex), fs=args.fs, seconds=args.seconds, seed=args.seed)
    from heartcare.ecg.write import write_ecg

    write_ecg(simulated.ecg, args.out, format=args.format)
    print(simulated.report)
    print(json.dumps({"labels": simulated.labels, "truth": simulated.truth.to_dict()}, default=str))
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from heartcare.sim.preview import PREVIEW_CONDITIONS, preview_conditions

    for path in preview_conditions(args.out, tuple(args.condition or PREVIEW_CONDITIONS), seed=args.seed):
        print(path)
    return 0
