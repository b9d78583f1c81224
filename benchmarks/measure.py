"""Benchmark: records per second of `measure` on 10-s 12-lead 500 Hz records, vs neurokit2.

Run: .venv/bin/python benchmarks/measure.py [--records 40] [--repeats 3]
Records come from the simulator (heartcare.sim) when it is installed, else from a
synthetic beat train, so the benchmark needs no download.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from heartcare.ecg.measure import measure
from heartcare.ecg.record import Ecg


def synthetic_record(seed: int, fs: float = 500.0, seconds: float = 10.0) -> Ecg:
    """A 12-lead beat train (Gaussian P, QRS, T lobes per lead) with noise."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(fs * seconds)) / fs
    rr = 60.0 / rng.uniform(50, 110)
    gains = rng.normal(1.0, 0.4, size=(12, 3))
    signal = np.zeros((12, time_s.size))
    for beat in np.arange(0.3, seconds, rr):
        for lobe, (offset, width, height) in enumerate(
            [(-0.16, 0.02, 0.15), (0.0, 0.012, 1.2), (0.28, 0.05, 0.3)]
        ):
            signal += (
                gains[:, lobe, None]
                * height
                * np.exp(-0.5 * ((time_s - beat - offset) / width) ** 2)
            )
    signal += rng.normal(0, 0.01, signal.shape)
    return Ecg(signal.astype(np.float32), fs)


def simulated_records(count: int) -> list[Ecg]:
    """Records of a simulated cohort's mix of conditions (synthetic when heartcare.sim is absent)."""
    try:
        from heartcare.sim.cohort_plan import plan_cohort
        from heartcare.sim.simulate import SimulationSpec, simulate
    except ImportError:
        return [synthetic_record(seed) for seed in range(count)]
    records = []
    for index, plan in enumerate(plan_cohort(count, seed=0)):
        spec = SimulationSpec(
            conditions=plan.conditions, age=plan.age, sex=plan.sex, noise=plan.noise
        )
        records.append(simulate(spec, 500.0, 10.0, seed=index).ecg)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--synthetic", action="store_true", help="use the synthetic beat train, not the simulator"
    )
    args = parser.parse_args()
    records = (
        [synthetic_record(seed) for seed in range(args.records)]
        if args.synthetic
        else simulated_records(args.records)
    )
    measure(records[0])  # warm-up: imports and filter design caches
    best_wall = best_cpu = float("inf")
    for _ in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for ecg in records:
            measure(ecg)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    count = len(records)
    print(f"measure: {count} records x 12 leads x 10 s @ 500 Hz, best of {args.repeats}")
    print(
        f"wall: {best_wall / count * 1000:.2f} ms/record, {count / best_wall:.1f} records/s (1 process)"
    )
    # CPU time is the fairer figure on a shared machine (wall time includes waiting).
    print(
        f"cpu:  {best_cpu / count * 1000:.2f} ms/record, {count / best_cpu:.1f} records/s (1 process)"
    )
    baseline = neurokit_seconds(records[: min(count, 10)])
    if baseline is not None:
        print(
            f"baseline neurokit2 ecg_process + DWT delineation, lead II only: {baseline * 1000:.1f} ms/record "
            f"-> heartcare (12 leads) is {baseline / (best_wall / count):.1f}x faster"
        )


def neurokit_seconds(records: list[Ecg]) -> float | None:
    """Seconds per record of the usual peer pipeline: neurokit2 on one lead (None if absent/failing)."""
    try:
        import neurokit2 as nk
    except ImportError:
        return None
    lead_ii = [ecg.lead("II") for ecg in records]
    started = time.perf_counter()
    for signal in lead_ii:
        try:
            cleaned, info = nk.ecg_process(signal, sampling_rate=500)
            nk.ecg_delineate(cleaned["ECG_Clean"], info["ECG_R_Peaks"], sampling_rate=500, method="dwt")
        except Exception:  # noqa: BLE001  neurokit raises on some records; time what it does anyway
            pass
    return (time.perf_counter() - started) / len(lead_ii)


if __name__ == "__main__":
    main()
