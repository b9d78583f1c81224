"""Plain tables: CSV/TXT and NumPy `.npy`, values in millivolts.

Neither format stores a sampling rate, so the caller passes `fs`, except when
(a) a CSV's first column is a time axis (`time`, `time_s`, `t`, `seconds`), from
which fs is inferred, or (b) a `.npy` has a JSON sidecar (`NAME.json` with `fs`,
`leads`) as written by `heartcare convert --to npy`.
A CSV may carry a header row of lead names; without one, or for a `.npy`, the
columns are taken as the 12 standard leads in canonical order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.raw import RawRecording
from heartcare.errors import InvalidSignalError, LeadError, SamplingRateError, UnreadableFileError

TIME_COLUMNS: frozenset[str] = frozenset({"time", "time_s", "t", "seconds", "sec", "s", "timestamp"})
INDEX_COLUMNS: frozenset[str] = frozenset({"", "index", "sample", "samples", "unnamed: 0"})


def default_lead_names(count: int, path: Path) -> list[str]:
    """Columns without names must be the 12 standard leads (or I, II for 2 columns)."""
    if count == len(STANDARD_LEADS):
        return list(STANDARD_LEADS)
    if count == 2:
        return ["I", "II"]
    raise LeadError(
        path, f"{count} unnamed columns; name the leads in a header row (12 columns are taken as I..V6)"
    )


def require_fs(fs: float | None, path: Path) -> float:
    if fs is None:
        raise SamplingRateError(path, "this format stores no sampling rate; pass fs (CLI: --fs HZ)")
    if not (np.isfinite(fs) and fs > 0):
        raise SamplingRateError(path, f"sampling rate must be a positive number, got {fs!r}")
    return float(fs)


def read_csv(path: Path, fs: float | None = None) -> RawRecording:
    """CSV/TXT with one column per lead, rows are samples; optional header and time column."""
    import pandas as pd

    text_head = path.read_bytes()[:4096]
    if not text_head.strip():
        raise UnreadableFileError(path, "empty CSV file")
    if b"\x00" in text_head:
        raise UnreadableFileError(path, "binary content; not a CSV table")
    first_line = text_head.decode("utf-8", errors="replace").splitlines()[0]
    separator = "," if "," in first_line else ("\t" if "\t" in first_line else r"\s+")
    cells = first_line.split() if separator == r"\s+" else first_line.split(separator)
    first_cells = [cell.strip().strip('"') for cell in cells]
    has_header = any(not is_number(cell) for cell in first_cells)
    try:
        table = pd.read_csv(path, sep=separator, header=0 if has_header else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UnreadableFileError(path, f"not a readable CSV table ({error})") from error
    if table.empty:
        raise UnreadableFileError(path, "CSV has a header but no rows")
    columns = [str(column).strip() for column in table.columns]
    meta: dict[str, Any] = {}
    if has_header and columns[0].lower() in TIME_COLUMNS | INDEX_COLUMNS:
        first = columns[0].lower()
        if first in TIME_COLUMNS and fs is None:
            times = pd.to_numeric(table.iloc[:, 0], errors="coerce").to_numpy(dtype=np.float64)
            steps = np.diff(times)
            if len(steps) == 0 or not np.all(np.isfinite(steps)) or np.median(steps) <= 0:
                raise SamplingRateError(path, f"time column {columns[0]!r} is not increasing")
            # Span over count, not one step: rounding in printed times cancels out.
            fs = float(np.round((len(times) - 1) / (times[-1] - times[0]), 3))
            meta["fs_from_time_column"] = True
        table, columns = table.iloc[:, 1:], columns[1:]
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    text_cells = table.isna().to_numpy() != np.isnan(values)
    if text_cells.any():
        row, column = map(int, np.argwhere(text_cells)[0])
        raise InvalidSignalError(
            path, f"non-numeric value {table.iat[row, column]!r} in column {columns[column]!r}, row {row + 1}"
        )
    names = columns if has_header else default_lead_names(values.shape[1], path)
    return RawRecording(
        signal=values.T, fs=require_fs(fs, path), lead_names=names, units=["mV"] * len(names), meta=meta
    )


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_npy(path: Path, fs: float | None = None) -> RawRecording:
    """`.npy` array [leads, samples] or [samples, leads] (the shorter axis is the leads)."""
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise UnreadableFileError(path, "not a readable NumPy .npy file (no .npy header)")
    try:
        array = np.load(path, allow_pickle=False)  # never unpickle user files
    except ValueError as error:  # an object array: loading it would mean unpickling
        if "allow_pickle" not in str(error):
            raise UnreadableFileError(path, f"not a readable NumPy .npy file ({error})") from error
        raise UnreadableFileError(path, "not a readable NumPy .npy file: it holds Python objects, which heartcare "
                                        "never unpickles; save a numeric array [leads, samples]") from error
    except (OSError, EOFError) as error:
        raise UnreadableFileError(path, f"not a readable NumPy .npy file ({error})") from error
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise InvalidSignalError(path, f"expected a 2-D numeric array, got {array.dtype} {array.shape}")
    sidecar = path.with_suffix(".json")
    meta: dict[str, Any] = {}
    names: list[str] | None = None
    if sidecar.is_file():
        try:
            info = json.loads(sidecar.read_text())
        except json.JSONDecodeError as error:
            raise UnreadableFileError(sidecar, f"invalid JSON sidecar ({error})") from error
        fs = fs if fs is not None else info.get("fs")
        names = info.get("leads")
        meta = {key: info[key] for key in ("record_id", "patient_id", "age", "sex") if key in info}
    signal = array if array.shape[0] <= array.shape[1] else array.T
    if names is not None and len(names) != signal.shape[0]:
        raise LeadError(sidecar, f"{len(names)} lead names for an array with {signal.shape[0]} leads")
    names = names or default_lead_names(signal.shape[0], path)
    return RawRecording(
        signal=signal.astype(np.float64), fs=require_fs(fs, path), lead_names=list(names),
        units=["mV"] * len(names), meta=meta,
    )
