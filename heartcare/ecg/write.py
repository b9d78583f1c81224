"""`write_ecg(ecg, path, format)`: save an `Ecg` as WFDB, NumPy or CSV, atomically.

Each format round-trips through `read_ecg` without passing `fs` again:
- wfdb: `OUT.hea` + `OUT.dat`, 16-bit at 1 uV resolution (adc gain 1000/mV);
- npy:  `OUT.npy` float32 [leads, samples] mV + `OUT.json` sidecar (fs, leads, ids);
- csv:  `OUT.csv` with a `time_s` column then one column per lead in mV.
Files are written under a temporary name and renamed, so a crash never leaves a
half-written record that a later read would take for a real one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError, InvalidSignalError

WriteFormat = Literal["wfdb", "npy", "csv"]
SIDE_CAR_KEYS: tuple[str, ...] = ("record_id", "patient_id", "age", "sex")


def _strip(path: Path, suffixes: tuple[str, ...]) -> Path:
    return path.with_suffix("") if path.suffix.lower() in suffixes else path


def _with(base: Path, suffix: str) -> Path:
    """`base` + `suffix`, keeping any dots in the name ('rec.prediction' -> 'rec.prediction.npy';
    `with_suffix` would replace '.prediction' and collide with 'rec.npy')."""
    return base.with_name(base.name + suffix)


def write_wfdb(ecg: Ecg, path: Path) -> Path:
    """`path.hea` + `path.dat` (format 16, 1 uV per unit); returns the header path."""
    import wfdb

    base = _strip(path, (".hea", ".dat"))
    if not re.fullmatch(r"[-\w]+", base.name):
        raise ConfigError(str(path), "a WFDB record name may hold only letters, digits, '-' and '_'; "
                                     "rename it or write npy/csv")
    peak = float(np.max(np.abs(ecg.signal)))
    if peak * 1000 > 32767:
        raise InvalidSignalError(ecg.name, f"amplitude {peak:.1f} mV exceeds WFDB 16-bit range at 1 uV")
    base.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base.parent, prefix=f".{base.name}."))
    try:
        comments = [f"{key}: {ecg.meta[key]}" for key in ("age", "sex") if ecg.meta.get(key) is not None]
        wfdb.wrsamp(
            record_name=base.name,
            fs=ecg.fs,
            units=["mV"] * len(ecg.leads),
            sig_name=list(ecg.leads),
            p_signal=ecg.signal.T.astype(np.float64),
            fmt=["16"] * len(ecg.leads),
            adc_gain=[1000.0] * len(ecg.leads),
            baseline=[0] * len(ecg.leads),
            comments=comments,
            write_dir=str(staging),
        )
        # Data first, header last: a header is what makes a record visible to readers.
        os.replace(staging / f"{base.name}.dat", _with(base, ".dat"))
        os.replace(staging / f"{base.name}.hea", _with(base, ".hea"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _with(base, ".hea")


def write_npy(ecg: Ecg, path: Path) -> Path:
    """`path.npy` [leads, samples] float32 mV and a `path.json` sidecar with fs and leads."""
    import io

    target = _with(_strip(path, (".npy",)), ".npy")
    buffer = io.BytesIO()
    np.save(buffer, ecg.signal.astype(np.float32), allow_pickle=False)
    sidecar = {"fs": ecg.fs, "leads": list(ecg.leads), "units": "mV"}
    sidecar.update({key: ecg.meta[key] for key in SIDE_CAR_KEYS if ecg.meta.get(key) is not None})
    write_atomic(_with(target.with_suffix(""), ".json"), json.dumps(sidecar, indent=2).encode())
    write_atomic(target, buffer.getvalue())
    return target


def write_csv(ecg: Ecg, path: Path) -> Path:
    """`path.csv`: header `time_s,I,...,V6`, one row per sample, mV with 1 uV precision."""
    target = _with(_strip(path, (".csv",)), ".csv")
    times = np.arange(ecg.samples, dtype=np.float64) / ecg.fs
    table = np.column_stack([times, ecg.signal.T.astype(np.float64)])
    lines = [",".join(("time_s", *ecg.leads))]
    lines += [",".join(f"{value:.9g}" if index == 0 else f"{value:.4f}" for index, value in enumerate(row))
              for row in table]
    write_atomic(target, ("\n".join(lines) + "\n").encode())
    return target


WRITERS: dict[str, Callable[[Ecg, Path], Path]] = {
    "wfdb": write_wfdb,
    "npy": write_npy,
    "csv": write_csv,
}


def write_ecg(ecg: Ecg, path: str | Path, format: WriteFormat = "wfdb") -> Path:
    """Save `ecg` in `format`; returns the main file written (header for WFDB)."""
    if format not in WRITERS:
        raise ConfigError(str(path), f"unknown output format {format!r}; expected one of {', '.join(WRITERS)}")
    return WRITERS[format](ecg, Path(path))
