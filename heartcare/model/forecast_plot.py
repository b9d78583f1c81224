"""A forecast drawn after the record: the last seconds of each lead in black, the predicted ones in red."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartcare.ecg.record import Ecg

SHOWN_SECONDS = 4.0  # of the record before the forecast


def plot_forecast(ecg: Ecg, prediction: np.ndarray, fs: float, path: str | Path) -> Path:
    """ecg: the record; prediction: [12, samples] mV at fs -> a 12-panel PNG at `path` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from heartcare.atomic import write_figure_atomic
    from heartcare.ecg import preprocess

    record = preprocess.resample(ecg, fs)
    shown = record.signal[:, -int(SHOWN_SECONDS * fs):]
    before = np.arange(-shown.shape[1], 0) / fs
    after = np.arange(prediction.shape[1]) / fs
    figure, axes = plt.subplots(6, 2, figsize=(12, 9), sharex=True)
    for index, axis in enumerate(axes.T.reshape(-1)):
        axis.plot(before, shown[index], color="black", linewidth=0.7)
        axis.plot(after, prediction[index], color="tab:red", linewidth=0.8)
        axis.axvline(0.0, color="grey", linewidth=0.5, linestyle=":")
        axis.set_ylabel(record.leads[index], rotation=0, labelpad=14)
    axes[-1, 0].set_xlabel("s (0 = end of record)")
    axes[-1, 1].set_xlabel("s (0 = end of record)")
    figure.suptitle("HeartcareGPT <prediction>: record (black) and Beat's forecast (red), mV")
    figure.tight_layout()
    path = write_figure_atomic(figure, path)
    plt.close(figure)
    return path
