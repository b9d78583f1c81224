"""How faithfully the digitiser reads a dataset's pictures back, by augmentation preset.

    python benchmarks/digitization.py DATASET [--split test] [--limit 200]

Each record's first picture (as HeartAgent drew and degraded it: clean, print, scan, photo) is read
by `heartcare.render.digitize` from its pixels alone, and compared with the signal it was drawn
from. Per preset: the share of pages read (and the commonest reasons for the rest), the median
per-lead correlation with the drawn signal (best within +-20 ms: a page resolves 10 ms per pixel),
and the mean absolute error of the amplitudes picture readers get (R, S, T and ST at J+60 ms, every
lead, mV) and of the heart rate, against the same morphology measured on the signal. The baseline
beside it is a reader that never looks: each value guessed as its mean over the pages read.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter, defaultdict

import numpy as np

WAVES = ("r_mv", "s_mv", "t_mv", "st_mv")


def _aligned_correlation(trace, signal: np.ndarray, fs: float, lead_index: int) -> float:
    best = -1.0
    for shift in np.arange(-0.02, 0.021, 0.004):
        times = trace.start_s + shift + np.arange(trace.signal.size) / trace.fs
        truth = np.interp(times, np.arange(signal.shape[1]) / fs, signal[lead_index])
        if np.std(truth) > 0 and np.std(trace.signal) > 0:
            best = max(best, float(np.corrcoef(trace.signal, truth)[0, 1]))
    return best


def measure(dataset: str, split: str, limit: int) -> dict[str, dict]:
    from PIL import Image

    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.leads import STANDARD_LEADS
    from heartcare.ecg.morphology import NAMES, morphology_features
    from heartcare.ecg.record import Ecg
    from heartcare.render.digitize import DigitizeError, digitize

    data = BenchDataset(dataset)
    records = sorted(record for record, row in data.records.items() if row.get("split") == split)[:limit]
    amplitude = [NAMES.index(f"{lead}_{wave}") for lead in STANDARD_LEADS for wave in WAVES]
    rate = NAMES.index("hr_bpm_scaled")
    by_preset: dict[str, dict] = defaultdict(lambda: {"pages": 0, "reasons": Counter(), "correlation": [],
                                                      "read": [], "truth": [], "seconds": []})
    for record in records:
        row = data.record(record)
        parameters = json.loads(row["image_parameters"])[0] if row.get("image_parameters") else {}
        preset = parameters.get("augment", {}).get("preset", "unknown")
        entry = by_preset[preset]
        entry["pages"] += 1
        path = data.image_paths(record)[0]
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        started = time.perf_counter()
        try:
            page = digitize(pixels, source=str(path))
        except DigitizeError as error:
            entry["reasons"][re.sub(r"\d+", "N", error.problem.split(":")[0])[:60]] += 1  # one line per kind of refusal
            continue
        read = page.morphology()
        entry["seconds"].append(time.perf_counter() - started)
        signal, fs = data.signal(record)
        entry["correlation"].append(float(np.median([_aligned_correlation(
            trace, signal, fs, STANDARD_LEADS.index(trace.lead)) for trace in page.traces])))
        entry["read"].append(read)
        entry["truth"].append(morphology_features(Ecg(signal, fs)))
    result = {}
    for preset, entry in sorted(by_preset.items()):
        summary = {"pages": entry["pages"], "read": len(entry["read"]), "reasons": entry["reasons"].most_common(2)}
        if entry["read"]:
            read, truth = np.stack(entry["read"]), np.stack(entry["truth"])
            guess = truth.mean(axis=0, keepdims=True)
            summary.update(
                correlation=float(np.median(entry["correlation"])),
                amplitude_mae=float(np.abs(read[:, amplitude] - truth[:, amplitude]).mean()),
                amplitude_blind=float(np.abs(guess[:, amplitude] - truth[:, amplitude]).mean()),
                rate_mae=float(100 * np.abs(read[:, rate] - truth[:, rate]).mean()),
                rate_blind=float(100 * np.abs(guess[:, rate] - truth[:, rate]).mean()),
                seconds=float(np.mean(entry["seconds"])))
        result[preset] = summary
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a HeartAgent dataset with pictures (records.parquet image_parameters)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=200, help="records of the split, in id order")
    args = parser.parse_args()
    result = measure(args.dataset, args.split, args.limit)
    print("| preset | pages read | median lead r | amplitude MAE mV (blind guess) | heart rate MAE bpm (blind) "
          "| s/page | commonest refusals |")
    print("|---|---|---|---|---|---|---|")
    for preset, row in result.items():
        reasons = "; ".join(f"{reason} ({count})" for reason, count in row["reasons"]) or "-"
        if not row["read"]:
            print(f"| {preset} | 0 / {row['pages']} | | | | | {reasons} |")
            continue
        print(f"| {preset} | {row['read']} / {row['pages']} | {row['correlation']:.2f} "
              f"| {row['amplitude_mae']:.3f} ({row['amplitude_blind']:.3f}) | {row['rate_mae']:.1f} ({row['rate_blind']:.1f}) "
              f"| {row['seconds']:.2f} | {reasons} |")


if __name__ == "__main__":
    main()
