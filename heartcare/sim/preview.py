"""A plain matplotlib 12-lead sheet (6 x 2, 25 mm/s, 10 mm/mV grid) for looking at records.

Stands in until `heartcare.render` draws proper ECG paper; used by `heartcare sim
preview` and the demo to put simulated records next to a real one drawn the same way.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.ecg.record import Ecg


def draw_sheet(ecg: Ecg, path: str | Path, title: str = "", seconds: float = 5.0) -> Path:
    """Write the first `seconds` of each lead as a 6 x 2 grid PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = min(ecg.samples, int(seconds * ecg.fs))
    time = np.arange(samples) / ecg.fs
    figure, axes = plt.subplots(6, 2, figsize=(14, 10), sharex=True)
    for index, name in enumerate(ecg.leads[:12]):
        axis = axes[index % 6, index // 6]
        axis.plot(time, ecg.signal[index, :samples], linewidth=0.7, color="black")
        # 0.2 s x 0.5 mV major squares, as on paper at 25 mm/s and 10 mm/mV.
        axis.set_xticks(np.arange(0, seconds + 1e-9, 0.2))
        axis.set_yticks(np.arange(-2.0, 2.51, 0.5))
        axis.set_xlim(0, seconds)
        axis.set_ylim(-2.0, 2.5)
        axis.grid(True, color="red", alpha=0.3)
        axis.tick_params(labelsize=5)
        axis.text(0.01, 0.82, name, transform=axis.transAxes, fontsize=9)
    figure.suptitle(title, fontsize=8, wrap=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return write_atomic(path, buffer.getvalue())


PREVIEW_CONDITIONS: tuple[str, ...] = (
    "normal", "left_bundle_branch_block", "right_bundle_branch_block", "acute_inferior_mi",
    "left_ventricular_hypertrophy", "atrial_fibrillation",
)


def preview_conditions(out: str | Path, conditions: tuple[str, ...] = PREVIEW_CONDITIONS, seed: int = 0) -> list[Path]:
    """One sheet per condition (severity 0.7, quiet noise) under `out`."""
    from heartcare.sim.noise import NoiseSpec
    from heartcare.sim.simulate import SimulationSpec, simulate

    paths = []
    for name in conditions:
        spec = SimulationSpec(conditions={name: 0.7}, noise=NoiseSpec(baseline_mv=0.02, muscle_mv=0.004))
        simulated = simulate(spec, seed=seed)
        paths.append(draw_sheet(simulated.ecg, Path(out) / f"{name}.png", f"{name}: {simulated.report}"))
    return paths
