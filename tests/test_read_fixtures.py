"""Small synthetic ECG fixtures shared by the reader and source tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS

# Einthoven-consistent lead weights for a synthetic heart vector (x, y) per lead.
LEAD_WEIGHTS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0), "II": (0.5, 0.87), "III": (-0.5, 0.87), "aVR": (-0.75, -0.43),
    "aVL": (0.75, -0.43), "aVF": (0.0, 0.87), "V1": (-0.3, 0.2), "V2": (0.1, 0.4),
    "V3": (0.4, 0.5), "V4": (0.8, 0.5), "V5": (0.9, 0.3), "V6": (0.9, 0.1),
}


def synthetic_signal(fs: float = 500.0, seconds: float = 4.0, seed: int = 0, rate_bpm: float = 72.0) -> np.ndarray:
    """[12, samples] mV: Gaussian P-QRS-T beats plus a little noise, every lead distinct."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(fs * seconds)) / fs
    beat = np.zeros_like(time)
    for onset in np.arange(0.2, seconds, 60.0 / rate_bpm):
        beat += 0.15 * np.exp(-(((time - onset) / 0.025) ** 2))
        beat += 1.2 * np.exp(-(((time - onset - 0.16) / 0.012) ** 2))
        beat += 0.3 * np.exp(-(((time - onset - 0.45) / 0.05) ** 2))
    secondary = np.gradient(beat) * fs * 0.01
    rows = [wx * beat + wy * secondary for wx, wy in LEAD_WEIGHTS.values()]
    return (np.asarray(rows) + 0.01 * rng.standard_normal((12, time.size))).astype(np.float32)


def write_wfdb_record(
    folder: Path,
    name: str,
    signal: np.ndarray,
    fs: float,
    leads: list[str] | tuple[str, ...] = STANDARD_LEADS,
    units: str = "mV",
    comments: list[str] | None = None,
    fmt: str = "16",
) -> Path:
    """Write `signal` [leads, samples] as WFDB `folder/name.hea/.dat`; returns the header path."""
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    gain = {"mV": 1000.0, "uV": 1.0, "V": 1e6}[units]
    wfdb.wrsamp(
        record_name=name, fs=fs, units=[units] * len(leads), sig_name=list(leads),
        p_signal=signal.T.astype(np.float64), fmt=[fmt] * len(leads), adc_gain=[gain] * len(leads),
        baseline=[0] * len(leads), comments=comments or [], write_dir=str(folder),
    )
    return folder / f"{name}.hea"


def write_challenge_record(
    folder: Path, name: str, signal: np.ndarray, fs: float, dx: str, age: str = "74", sex: str = "Male"
) -> Path:
    """A PhysioNet Challenge 2020/21 record: MATLAB v4 `name.mat` (`val` int16 [12, N]) + header."""
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    digital = np.round(signal * 1000).astype(np.int16)  # 1000 units per mV
    scipy.io.savemat(folder / f"{name}.mat", {"val": digital}, format="4")
    lines = [f"{name} {len(STANDARD_LEADS)} {fs:g} {digital.shape[1]}"]
    for lead, row in zip(STANDARD_LEADS, digital, strict=True):
        checksum = ((int(row.astype(np.int64).sum()) + 32768) % 65536) - 32768
        lines.append(f"{name}.mat 16+24 1000/mV 16 0 {int(row[0])} {checksum} 0 {lead}")
    lines += [f"#Age: {age}", f"#Sex: {sex}", f"#Dx: {dx}", "#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    header = folder / f"{name}.hea"
    header.write_text("\n".join(lines) + "\n")
    return header
