"""HeartAgent end-to-end speed: records per second with one image per record.

    python benchmarks/agent.py --records 200 --workers 2
    python benchmarks/agent.py --records 120 --profile 50   # one worker's path, cProfile + stages

Builds (or reuses) a simulated PTB-XL-layout cohort, then times `build_dataset` over
it: read -> optimize -> measure -> de-identify -> render + augment -> QA -> Parquet.
Prints records/s (target >= 30 on 2 workers), QA items per record, and the items a
PTB-XL-size cohort (21,799 records) would yield at that rate (target >= 400,000).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

PTBXL_RECORDS = 21_799


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images-per-record", type=int, default=1)
    parser.add_argument("--presets", default="clean,print,scan,photo")
    parser.add_argument("--image-dpi", type=float, default=100.0)
    parser.add_argument("--cohort", type=Path, default=Path(tempfile.gettempdir()) / "heartcare_bench_cohort")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead of a build: N records through one in-process worker under cProfile")
    args = parser.parse_args()

    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.sim.cohort import build_cohort

    cohort = args.cohort / f"n{args.records}"
    started = time.perf_counter()
    build_cohort(args.records, cohort, seed=0, workers=args.workers, progress=False)  # resumes when present
    cohort_s = time.perf_counter() - started

    if args.profile:
        profile_worker(cohort, args)
        return
    out = Path(tempfile.mkdtemp(prefix="heartcare_bench_agent_")) / "dataset"
    config = BuildConfig(
        sources=(f"ptbxl:{cohort}",), out=str(out), workers=args.workers, images_per_record=args.images_per_record,
        image_presets=tuple(args.presets.split(",")), image_dpi=args.image_dpi, shard_size=32,
    )
    result = build_dataset(config, progress=False)
    items_per_record = result.items / max(result.records, 1)
    figures = {
        "records": result.records,
        "items": result.items,
        "skipped": result.skipped,
        "workers": args.workers,
        "images_per_record": args.images_per_record,
        "presets": args.presets,
        "seconds": round(result.seconds, 2),
        "records_per_second": round(result.records_per_second, 2),
        "items_per_record": round(items_per_record, 2),
        "ptbxl_size_items_estimate": int(items_per_record * PTBXL_RECORDS),
        "ptbxl_size_minutes_estimate": round(PTBXL_RECORDS / max(result.records_per_second, 1e-9) / 60, 1),
        "cohort_seconds": round(cohort_s, 1),
        # records stage (load .. shard write) vs merge + card, from the build's own report
        "timing": json.loads((out / "build_report.json").read_text())["timing"],
        # stored image size (scan/photo as JPEG, clean/print/context as PNG), per file type
        "image_kb_per_file": image_sizes(out / "images"),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    shutil.rmtree(out.parent, ignore_errors=True)


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
