"""`heartcare demo`: the whole pipeline on built-in data, on a laptop CPU, no download.

Steps (each prints what it did and writes under `--out`):
1. read the real 12-lead ECG that ships inside pydicom, measure it, draw it;
2. simulate a small labelled cohort in PTB-XL's layout and check `measure` on it;
3. draw simulated records as ECG paper;
4. train a small Beat tokenizer and evaluate it;
5. build a multimodal QA dataset with HeartAgent and print its card.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def real_ecg_path() -> Path:
    """pydicom's packaged `waveform_ecg.dcm`: a real 10 s, 1000 Hz 12-lead ECG."""
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def step_real_ecg(out: Path) -> None:
    from heartcare.ecg.measure import measure
    from heartcare.ecg.read import read_ecg

    ecg = read_ecg(real_ecg_path())
    summary = ecg.summary()
    console.print(
        f"[bold]{Path(ecg.name).name}[/]: {summary['seconds']} s, {ecg.fs:g} Hz, "
        f"{len(ecg.leads)} leads, source {summary['source']}"
    )
    values = measure(ecg).to_dict()
    device = {"hr_bpm": 61.1, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370, "axis_deg": 52}
    table = Table("measurement", "heartcare", "device (from the file's text)")
    for key, reference in device.items():
        value = values.get(key)
        table.add_row(key, "-" if value is None else f"{value:.1f}", str(reference))
    console.print(table)
    (out / "real_ecg_measurements.json").write_text(json.dumps(values, indent=2))
    from heartcare.render import render

    image = render(ecg, "3x4+II", path=out / "real_ecg.png")
    console.print(f"drew it as ECG paper: {image}")


# Small enough for a laptop in minutes, large enough that every fold and condition appears.
COHORT_SIZE = 120


def cohort_folder(out: Path) -> Path:
    return out / "cohort"


def step_cohort(out: Path) -> None:
    from heartcare.sim import build_cohort
    from heartcare.sim.commands import print_validation
    from heartcare.sim.validate import validate_cohort

    root = build_cohort(COHORT_SIZE, cohort_folder(out), seed=0, workers=2)
    console.print(f"simulated cohort in PTB-XL's layout: {root}")
    print_validation(validate_cohort(root))


def step_draw(out: Path) -> None:
    from heartcare.render import augment, render
    from heartcare.sources.ptbxl import PtbXlDataset

    dataset = PtbXlDataset(cohort_folder(out), fs=500)
    folder = out / "images"
    folder.mkdir(exist_ok=True)
    for index, record in zip(range(3), dataset, strict=False):
        codes = ", ".join(code for code, likelihood in record.labels.items() if likelihood >= 50) or "-"
        path = render(record.ecg, "3x4+II", path=folder / f"{record.record_id}.png")
        photo = augment(render(record.ecg, "3x4+II"), "photo", seed=index)
        from PIL import Image

        Image.fromarray(photo.image).save(folder / f"{record.record_id}_photo.jpg", quality=90)
        console.print(f"{record.record_id} ({codes}): {path} and a 'photo' variant")


def step_dataset(out: Path) -> None:
    from heartcare.agent import BuildConfig, build_dataset
    from heartcare.agent.commands import dataset_stats

    config = BuildConfig(
        sources=(f"ptbxl:{cohort_folder(out)}",),
        out=str(out / "dataset"),
        workers=2,
        image_presets=("clean", "print", "scan", "photo"),
        resume=True,
    )
    build_dataset(config)
    console.print(dataset_stats(out / "dataset"), markup=False)


STEPS: dict[str, Callable[[Path], None]] = {
    "real-ecg": step_real_ecg,
    "cohort": step_cohort,
    "draw": step_draw,
    "dataset": step_dataset,
}


def run_demo(out: Path, steps: list[str] | None = None) -> None:
    """Run the demo steps in order, writing everything under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name in steps or list(STEPS):
        started = time.perf_counter()
        console.rule(f"[bold cyan]{name}")
        STEPS[name](out)
        console.print(f"[dim]{name} took {time.perf_counter() - started:.1f} s[/]")
    console.print(f"[bold green]demo finished[/]: outputs in {out}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline on built-in data (CPU, no download)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for everything the demo writes")
    parser.add_argument("--steps", nargs="*", choices=list(STEPS), help="run only these steps")
    parser.set_defaults(handler=lambda args: run_demo(args.out, args.steps))
