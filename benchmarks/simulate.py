"""Simulator speed: heartcare.sim vs neurokit2's multilead simulator, same run, one core.

    .venv/bin/python benchmarks/simulate.py [--records 200] [--neurokit 3] [--json out.json]

Target (issue 3): >= 50 ten-second 12-lead 500 Hz records per second on one core.
Records cycle through every condition so the figure covers the whole registry.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--neurokit", type=int, default=3, help="neurokit2 records to time (0 skips)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from heartcare.sim import CONDITIONS, NoiseSpec, SimulationSpec, simulate

    names = list(CONDITIONS)
    noise = NoiseSpec(baseline_mv=0.1, muscle_mv=0.01, powerline_mv=0.02)
    specs = [SimulationSpec(conditions={names[i % len(names)]: 0.5}, noise=noise) for i in range(args.records)]
    simulate(specs[0], seed=0)  # warm caches and imports
    start = time.perf_counter()
    for seed, spec in enumerate(specs):
        simulate(spec, fs=500.0, seconds=10.0, seed=seed)
    heartcare_seconds = time.perf_counter() - start
    result = {
        "machine": platform.processor() or platform.machine(),
        "heartcare_records": args.records,
        "heartcare_records_per_second": args.records / heartcare_seconds,
        "heartcare_ms_per_record": 1000 * heartcare_seconds / args.records,
    }
    if args.neurokit:
        import neurokit2

        neurokit2.ecg_simulate(duration=10, sampling_rate=500, method="multileads", random_state=0)
        start = time.perf_counter()
        for seed in range(args.neurokit):
            neurokit2.ecg_simulate(duration=10, sampling_rate=500, method="multileads", random_state=seed)
        neurokit_seconds = (time.perf_counter() - start) / args.neurokit
        result["neurokit2_seconds_per_record"] = neurokit_seconds
        result["speedup"] = neurokit_seconds * result["heartcare_records_per_second"]
    for key, value in result.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    print("target >= 50 records/s:", "met" if result["heartcare_records_per_second"] >= 50 else "NOT met")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
