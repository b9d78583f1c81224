"""Augmentation speed: `heartcare.render.augment` against the previous implementation.

The same sheet (pydicom's packaged waveform_ecg.dcm, 3x4+II layout) is rendered at
150 DPI (1650 x 1275 px, US letter) and at 100 DPI (1100 x 850 px, the HeartAgent
data engine's default) and augmented with every preset over a range of seeds:
  - heartcare: `augment(image, preset, seed)` as shipped,
  - baseline:  the step functions and recipe loop before the speed work, kept verbatim
               in benchmarks/augment_baseline.py, so both are timed in one run.
"mix" is the mean over clean/print/scan/photo drawn uniformly (the data engine's default).
A second table times each step alone (geometric and shading steps each as one run).
Times are CPU seconds of this process (time.process_time) on one core: on a shared
machine that counts this code, not the neighbours. Wall-clock medians are printed too.

    .venv/bin/python benchmarks/augment.py [--seeds 24] [--baseline-seeds 6] [--json out.json]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core, as each data-engine worker has

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import augment_baseline  # noqa: E402

PRESETS = ("clean", "print", "scan", "photo")
SIZES = {"1650x1275 (150 dpi)": 150.0, "1100x850 (100 dpi)": 100.0}


def load_sheet(dpi: float) -> np.ndarray:
    from pydicom.data import get_testdata_file

    from heartcare.ecg.read import read_ecg
    from heartcare.render import PaperSpec, render

    return render(read_ecg(get_testdata_file("waveform_ecg.dcm")), "3x4+II", PaperSpec(dpi=dpi))


def per_image(function, seeds: range) -> tuple[float, float]:
    """(mean CPU ms, median wall ms) per call over `seeds`, after one warm-up call."""
    function(seeds[0])
    cpu, wall = [], []
    for seed in seeds:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        function(seed)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return 1000 * statistics.fmean(cpu), 1000 * statistics.median(wall)


def time_presets(sheet: np.ndarray, seeds: int, baseline_seeds: int) -> dict[str, dict[str, float]]:
    from heartcare.render import augment

    results: dict[str, dict[str, float]] = {}
    for preset in PRESETS:
        new_cpu, new_wall = per_image(lambda seed, p=preset: augment(sheet, p, seed), range(seeds))
        old_cpu, old_wall = per_image(lambda seed, p=preset: augment_baseline.augment(sheet, p, seed), range(baseline_seeds))
        results[preset] = {"heartcare_ms": new_cpu, "heartcare_wall_ms": new_wall,
                           "baseline_ms": old_cpu, "baseline_wall_ms": old_wall}
    results["mix"] = {key: statistics.fmean(results[p][key] for p in PRESETS) for key in results["clean"]}
    return results


def time_steps(sheet: np.ndarray, repeats: int = 5) -> dict[str, tuple[float, float]]:
    """CPU ms of each step alone, heartcare vs baseline, with the default parameter ranges."""
    from heartcare.render.augment import replay
    from heartcare.render.augment_steps import STEPS

    rng = np.random.default_rng(0)
    results = {}
    for name, step in STEPS.items():
        params = step.sample(rng, sheet.shape)
        record = [{"step": name, **params}]
        new = per_image(lambda _, r=record: replay(sheet, r), range(repeats))[0]
        old = per_image(lambda _, n=name, p=params: augment_baseline.STEPS[n].apply(sheet, **p), range(repeats))[0]
        results[name] = (new, old)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=24, help="images per preset and size (heartcare)")
    parser.add_argument("--baseline-seeds", type=int, default=6, help="images per preset and size (baseline, slow)")
    parser.add_argument("--no-steps", action="store_true", help="skip the per-step table")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    report: dict[str, object] = {}
    for label, dpi in SIZES.items():
        sheet = load_sheet(dpi)
        results = time_presets(sheet, args.seeds, args.baseline_seeds)
        report[label] = {"presets": results}
        print(f"\n{label}: CPU ms per image, one core (wall-clock medians in brackets)")
        print(f"{'preset':8s} {'heartcare':>18s} {'baseline':>20s} {'speed-up':>9s}")
        for preset, row in results.items():
            print(f"{preset:8s} {row['heartcare_ms']:8.1f} ({row['heartcare_wall_ms']:7.1f}) "
                  f"{row['baseline_ms']:9.1f} ({row['baseline_wall_ms']:7.1f}) "
                  f"{row['baseline_ms'] / max(row['heartcare_ms'], 1e-6):8.1f}x")
        mix = results["mix"]["heartcare_ms"]
        print(f"mix: {mix:.1f} ms per image -> {1000 / max(mix, 1e-6):.0f} images/s per core")
        if not args.no_steps:
            steps = time_steps(sheet)
            report[label]["steps"] = {name: {"heartcare_ms": new, "baseline_ms": old} for name, (new, old) in steps.items()}
            print(f"{'step':20s} {'heartcare':>10s} {'baseline':>10s}")
            for name, (new, old) in steps.items():
                print(f"{name:20s} {new:10.1f} {old:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
