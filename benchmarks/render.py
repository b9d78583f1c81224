"""Render speed: heartcare (into memory, to PNG) against a straightforward matplotlib figure.

The same 10 s 12-lead record (pydicom's packaged waveform_ecg.dcm, 1000 Hz) is drawn
in the 3x4+II layout at 1650 x 1275 px (US letter at 150 DPI) three ways:
  1. heartcare into memory (RGB array),
  2. heartcare to PNG bytes (indexed PNG, zlib level 1),
  3. matplotlib: one figure, grid lines, 13 traces, savefig to PNG (how peers draw).
It also times PNG encoding alone of heartcare's output (the floor), and images/s with
--workers processes rendering PNGs. Requirements (issue 4): PNG >= 10x faster than
matplotlib, memory >= 30x, overhead over encoding < 50%.

    .venv/bin/python benchmarks/render.py [--repeats 30] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def load_record():
    from pydicom.data import get_testdata_file

    from heartcare.ecg.read import read_ecg

    return read_ecg(get_testdata_file("waveform_ecg.dcm"))


def timed(function, repeats: int) -> tuple[float, float]:
    """(best, median) seconds per call after one warm-up call (caches, imports).

    Ratios use the best run, as `timeit` advises: on a shared machine the slower runs
    measure the other processes, not this code. Medians are printed too.
    """
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return min(samples), statistics.median(samples)


def matplotlib_png(ecg) -> bytes:
    """A plain matplotlib 3x4+II sheet: ECG-paper grid, 13 traces with offsets, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
    figure = plt.figure(figsize=(11, 8.5), dpi=150)
    axes = figure.add_axes([0.035, 0.03, 0.93, 0.89])
    seconds, rows = 10.0, 4
    row_mv = 4.8  # 48 mm rows at 10 mm/mV
    axes.set_xlim(0, seconds)
    axes.set_ylim(-rows * row_mv, 0)
    axes.set_xticks(np.arange(0, seconds + 1e-9, 0.2))
    axes.set_xticks(np.arange(0, seconds + 1e-9, 0.04), minor=True)
    axes.set_yticks(np.arange(-rows * row_mv, 1e-9, 0.5))
    axes.set_yticks(np.arange(-rows * row_mv, 1e-9, 0.1), minor=True)
    axes.grid(which="major", color=(0.92, 0.47, 0.47), linewidth=0.6)
    axes.grid(which="minor", color=(0.98, 0.78, 0.78), linewidth=0.3)
    axes.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    time_axis = np.arange(ecg.samples) / ecg.fs
    for row, leads in enumerate(layout):
        for column, lead in enumerate(leads):
            window = (time_axis >= column * 2.5) & (time_axis < (column + 1) * 2.5)
            offset = -(row + 0.58) * row_mv
            axes.plot(time_axis[window], ecg.lead(lead)[window] + offset, color="black", linewidth=0.8)
            axes.text(column * 2.5 + 0.05, offset + 1.8, lead, fontsize=8)
    axes.plot(time_axis, ecg.lead("II") - 3.58 * row_mv, color="black", linewidth=0.8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150)
    plt.close(figure)
    return buffer.getvalue()


def _render_png(ecg) -> int:
    from heartcare.render import render

    return len(render(ecg, format="png"))


def throughput(ecg, workers: int, images: int) -> float:
    """Images per second rendering PNG bytes in `workers` processes (pool started before timing)."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_render_png, [ecg] * workers))  # warm: imports and background caches
        start = time.perf_counter()
        list(pool.map(_render_png, [ecg] * images, chunksize=max(images // (4 * workers), 1)))
        return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=120, help="images for the throughput run")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    from heartcare.render import render
    from heartcare.render.output import encode_image
    from heartcare.render.sheet import render_parameters, sheet_layers

    ecg = load_record()
    image = render(ecg)
    assert image.shape == (1275, 1650, 3), image.shape
    layers = sheet_layers(ecg)
    indexed = layers.to_indexed()
    parameters = render_parameters(ecg, "3x4+II", layers.spec, "II")
    memory, memory_median = timed(lambda: render(ecg), args.repeats)
    png, png_median = timed(lambda: render(ecg, format="png"), args.repeats)
    encode, encode_median = timed(lambda: encode_image(indexed, "png", parameters), args.repeats)
    mpl, mpl_median = timed(lambda: matplotlib_png(ecg), max(args.repeats // 5, 3))
    rate = throughput(ecg, args.workers, args.images)
    figures = {
        "record": "pydicom waveform_ecg.dcm (10 s, 1000 Hz, 12 leads), 3x4+II, 1650x1275 px",
        "heartcare_memory_ms": round(memory * 1e3, 2),
        "heartcare_png_ms": round(png * 1e3, 2),
        "png_encode_only_ms": round(encode * 1e3, 2),
        "matplotlib_png_ms": round(mpl * 1e3, 1),
        "speedup_png": round(mpl / png, 1),
        "speedup_memory": round(mpl / memory, 1),
        "render_overhead_over_encode": round((png - encode) / encode, 3),
        "median_ms_memory_png_encode_matplotlib": [
            round(v * 1e3, 2) for v in (memory_median, png_median, encode_median, mpl_median)
        ],
        f"images_per_s_workers_{args.workers}": round(rate, 1),
        "png_bytes": len(render(ecg, format="png")),
    }
    for key, value in figures.items():
        print(f"{key:32s} {value}")
    checks = {
        "png >= 10x matplotlib": mpl / png >= 10,
        "memory >= 30x matplotlib": mpl / memory >= 30,
        "overhead < 50% of encoding": (png - encode) / encode < 0.5,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**figures, "checks": checks}, handle, indent=2)


if __name__ == "__main__":
    main()
