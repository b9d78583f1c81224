"""Beat on a folder of ECG files: batched `encode_files` / `predict_files` vs one file at a time.

Times `heartcare beat encode` (or, with --task predict, `heartcare beat predict`) on a
folder the way it runs now (windows of many records per model call; in-process, and with
--workers processes reading and cleaning files) against the named baseline, the way it
ran before: each file read, cleaned, encoded (or forecast) and saved in turn
(`encode_ecg` / `predict_ecg` per file). All write the same outputs (checked: equal
tokens, forecasts within 1e-4 mV). Prints files/s, windows/s and the time for a
PTB-XL-size folder (21,799 ten-second records).

    python benchmarks/beat_files.py [--task encode|predict] [--data PTBXL_LAYOUT_DIR] [--records 600]
                                    [--model CKPT | --preset paper] [--workers 2] [--json]

Without --data a simulated cohort of --records records is written to a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from heartcare.beat.batch import FEWEST_FILES_FOR_WORKERS, encode_files, predict_files
from heartcare.beat.config import preset
from heartcare.beat.files import encode_ecg, expand_inputs, output_name, predict_ecg
from heartcare.beat.model import Beat, build_beat
from heartcare.beat.tokens import TOKEN_SUFFIX, TokenFile
from heartcare.ecg.read import read_ecg
from heartcare.ecg.write import write_ecg

PTBXL_RECORDS = 21_799


def one_file_at_a_time(model: Beat, paths: list[Path], out: Path, task: str) -> None:
    """The baseline: read, clean, encode (or forecast) and save each file in turn."""
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if task == "encode":
            encode_ecg(model, read_ecg(path)).save(out / f"{output_name(path)}{TOKEN_SUFFIX}")
        else:
            write_ecg(predict_ecg(model, read_ecg(path)).prediction, out / f"{output_name(path)}_prediction", format="npy")


def same_outputs(first: Path, second: Path, task: str) -> bool:
    """Equal token files, or forecasts within 1e-4 mV (a batched GEMM may round differently)."""
    pattern = f"*{TOKEN_SUFFIX}" if task == "encode" else "*_prediction.npy"
    names = sorted(path.name for path in first.glob(pattern))
    if not names or names != sorted(path.name for path in second.glob(pattern)):
        return False
    if task == "encode":
        return all(np.array_equal(TokenFile.load(first / name).codes, TokenFile.load(second / name).codes) for name in names)
    return all(np.allclose(np.load(first / name), np.load(second / name), atol=1e-4) for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["encode", "predict"], default="encode")
    parser.add_argument("--data", type=Path, default=None, help="PTB-XL-layout folder (default: simulate one)")
    parser.add_argument("--records", type=int, default=600, help="records to encode (first in folder order)")
    parser.add_argument("--model", type=Path, default=None, help="Beat checkpoint (default: --preset, random weights)")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Beat.from_pretrained(args.model) if args.model else build_beat(preset(args.preset)).eval()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data = args.data
        if data is None:
            from heartcare.sim.cohort import build_cohort

            data = build_cohort(args.records, scratch / "cohort", seed=0, workers=args.workers, progress=False)
        paths = expand_inputs([data / "records500" if (data / "records500").is_dir() else data])[: args.records]
        timings: dict[str, float] = {}
        runs = {"batched": 1, "workers": args.workers}
        batched = encode_files if args.task == "encode" else predict_files
        for name, workers in runs.items():
            tick = time.perf_counter()
            report = batched(model, paths, scratch / name, workers=workers)
            timings[name] = time.perf_counter() - tick
        tick = time.perf_counter()
        one_file_at_a_time(model, paths, scratch / "baseline", args.task)
        timings["baseline"] = time.perf_counter() - tick
        identical = all(same_outputs(scratch / name, scratch / "baseline", args.task) for name in runs)
        # A forecast reads one window (the record's last context) per file.
        windows = (sum(TokenFile.load(path).windows for path in report.written) if args.task == "encode"
                   else len(report.written))
    files = len(paths)
    result = {
        "task": args.task,
        "model": str(args.model) if args.model else f"{args.preset} (random weights)",
        "files": files,
        "windows": windows,
        "workers": args.workers,
        "skipped": len(report.skipped),
        "same_output_as_baseline": identical,
        **{f"{name}_seconds": seconds for name, seconds in timings.items()},
        **{f"{name}_files_per_second": files / seconds for name, seconds in timings.items()},
        **{f"{name}_ptbxl_folder_estimate_seconds": PTBXL_RECORDS * seconds / files for name, seconds in timings.items()},
        "speedup": timings["baseline"] / min(timings["batched"], timings["workers"]),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Beat {args.task} on {files} files ({windows} windows, model {result['model']}, {args.threads} threads)\n")
    print(f"| {'method':44s} | files/s | windows/s | PTB-XL-size folder |")
    print(f"|{'-' * 46}|---------|-----------|--------------------|")
    function = f"{args.task}_files"
    rows = ((f"heartcare {function}, in-process", "batched"),
            (f"heartcare {function}, {args.workers} worker processes", "workers"),
            ("one file at a time (baseline)", "baseline"))
    for label, name in rows:
        seconds = timings[name]
        print(f"| {label:44s} | {files / seconds:7.1f} | {windows / seconds:9.1f} | {PTBXL_RECORDS * seconds / files / 60:14.1f} min |")
    print(f"\nbest speedup over one file at a time: {result['speedup']:.2f}x; same output: {identical}; "
          f"skipped: {len(report.skipped)} (worker processes start from {FEWEST_FILES_FOR_WORKERS} files)")


if __name__ == "__main__":
    main()
