"""HeartAgent end-to-end speed: records per second with one image per record.

    python benchmarks/agent.py [--records 1200] [--workers 2] [--baseline-records 300]
    python benchmarks/agent.py --records 120 --profile 50   # one worker's path, cProfile + stages

Builds (or reuses) a simulated PTB-XL-layout cohort, then times `build_dataset` over
it: read -> optimize -> measure -> de-identify -> render + augment -> QA -> Parquet.
Baseline in the same run: the same build on one worker (over the first
`--baseline-records` records), so the table shows what the worker pool adds.
Prints records/s (target >= 30 on 2 workers), the time a PTB-XL-size cohort
(21,799 records) would take at that rate (target about 12 minutes), QA items per
record and the items that cohort would yield (target >= 400,000), and the
per-stage cost. Short runs read low: pool start-up and the last shard's tail are
paid once per build (a full PTB-XL-size build amortises them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

PTBXL_RECORDS = 21_799
TARGET_RECORDS_PER_SECOND = 30.0
TARGET_ITEMS = 400_000


def timed_build(cohort: Path, records: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """One build over the cohort's first `records` records in a scratch folder (deleted after)."""
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig

    out = Path(tempfile.mkdtemp(prefix="heartcare_bench_agent_")) / "dataset"
    config = BuildConfig(
        sources=(f"ptbxl:{cohort}",), out=str(out), workers=workers, images_per_record=args.images_per_record,
        image_presets=tuple(args.presets.split(",")), image_dpi=args.image_dpi, shard_size=args.shard_size,
        limit=records,
    )
    try:
        result = build_dataset(config, progress=False)
        return {
            "workers": workers,
            "records": result.records,
            "items": result.items,
            "skipped": result.skipped,
            "seconds": round(result.seconds, 2),
            "records_per_second": round(result.records_per_second, 2),
            "items_per_record": round(result.items / max(result.records, 1), 2),
            # records stage (load .. shard write) vs merge + card, from the build's own report
            "timing": json.loads((out / "build_report.json").read_text())["timing"],
            # stored image size (scan/photo as JPEG, clean/print/context as PNG), per file type
            "image_kb_per_file": image_sizes(out / "images"),
        }
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-records", type=int, default=300, help="records for the one-worker baseline (0: skip)")
    parser.add_argument("--images-per-record", type=int, default=1)
    parser.add_argument("--presets", default="clean,print,scan,photo")
    parser.add_argument("--image-dpi", type=float, default=100.0)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--cohort", type=Path, default=Path(tempfile.gettempdir()) / "heartcare_bench_cohort")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead of a build: N records through one in-process worker under cProfile")
    args = parser.parse_args()

    from heartcare.sim.cohort import build_cohort

    cohort = args.cohort / f"n{args.records}"
    started = time.perf_counter()
    build_cohort(args.records, cohort, seed=0, workers=args.workers, progress=False)  # resumes when present
    cohort_s = time.perf_counter() - started

    if args.profile:
        profile_worker(cohort, args)
        return
    runs = [timed_build(cohort, args.records, args.workers, args)]
    if args.baseline_records > 0 and args.workers > 1:
        runs.append(timed_build(cohort, min(args.baseline_records, args.records), 1, args))
    main_run = runs[0]
    rate = main_run["records_per_second"]
    print(f"HeartAgent build, {args.images_per_record} image(s) per record ({args.presets}, {args.image_dpi:g} dpi); "
          f"cohort of {args.records} ready in {cohort_s:.1f} s")
    print(f"{'run':28s} {'records':>8s} {'seconds':>8s} {'records/s':>10s} {'PTB-XL-size min':>16s} {'items/record':>13s}")
    for run in runs:
        name = f"heartcare, {run['workers']} worker{'s' if run['workers'] > 1 else ''}"
        if run is not main_run:
            name += " (baseline)"
        minutes = PTBXL_RECORDS / max(run["records_per_second"], 1e-9) / 60
        print(f"{name:28s} {run['records']:8d} {run['seconds']:8.1f} {run['records_per_second']:10.1f} "
              f"{minutes:16.1f} {run['items_per_record']:13.2f}")
    if len(runs) > 1:
        print(f"speed-up of {args.workers} workers over 1: {rate / max(runs[1]['records_per_second'], 1e-9):.2f}x")
    stages = main_run["timing"]["stage_ms_per_record"]
    print("worker ms per record by stage: " + ", ".join(
        f"{name} {value:.1f}" for name, value in sorted(stages.items(), key=lambda item: -item[1]) if name != "total"
    ) + f" (total {stages.get('total', 0.0):.1f})")
    print("stored kB per image: " + ", ".join(f"{kind} {size}" for kind, size in main_run["image_kb_per_file"].items()))
    items_estimate = int(main_run["items_per_record"] * PTBXL_RECORDS)
    checks = {
        f"records/s >= {TARGET_RECORDS_PER_SECOND:g} on {args.workers} workers": rate >= TARGET_RECORDS_PER_SECOND,
        f"PTB-XL-size items >= {TARGET_ITEMS:,} (estimate {items_estimate:,})": items_estimate >= TARGET_ITEMS,
        "no record skipped": all(run["skipped"] == 0 for run in runs),
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        args.json.write_text(json.dumps({"cohort_seconds": round(cohort_s, 1), "runs": runs, "checks": checks}, indent=1))


def image_sizes(folder: Path) -> dict[str, float]:
    """Mean kB per image file by suffix (context sheets apart from record sheets)."""
    sizes: dict[str, list[int]] = {}
    for path in folder.rglob("*.*"):
        kind = "context.png" if path.stem.endswith("_context") else path.suffix.lstrip(".")
        sizes.setdefault(kind, []).append(path.stat().st_size)
    return {kind: round(sum(values) / len(values) / 1024, 1) for kind, values in sorted(sizes.items())}


def profile_worker(cohort: Path, args: argparse.Namespace) -> None:
    """One worker's per-record path (load -> process_record), warm, under cProfile:
    prints ms per record by stage and the 25 most expensive calls."""
    import cProfile
    import pstats

    from heartcare.agent.build import keep_freed_memory
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import PtbXlSource
    from heartcare.agent.process import process_record
    from heartcare.agent.stages import StageClock

    source = PtbXlSource(cohort)
    keys = source.keys()[: args.profile + 1]
    config = BuildConfig(sources=(f"ptbxl:{cohort}",), out=str(cohort / "unused"), images_per_record=args.images_per_record,
                         image_presets=tuple(args.presets.split(",")), image_dpi=args.image_dpi)
    keep_freed_memory()  # as a build worker does
    record, extras = source.load(keys[0])
    process_record(record, extras, config, source.kind, keys[0], 0)  # warm-up: imports, fonts, caches
    clock = StageClock()

    def run() -> None:
        for key in keys[1:]:
            with clock.stage("load"):
                loaded, found = source.load(key)
            process_record(loaded, found, config, source.kind, key, 0, clock)

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run)
    elapsed = time.perf_counter() - started
    count = len(keys) - 1
    print(json.dumps({"records": count, "ms_per_record_under_cprofile": round(1000 * elapsed / count, 1),
                      "stage_ms_per_record": clock.per_record_ms(count)}, indent=1))
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
