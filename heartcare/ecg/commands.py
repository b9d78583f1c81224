"""`heartcare info` and `heartcare convert`: look at one ECG file, or rewrite it.

Imports stay inside the handlers so `heartcare --help` does not load wfdb/pydicom.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# Keys `info --json` always prints, in this order (None where unknown).
INFO_KEYS: tuple[str, ...] = (
    "path", "source", "record_id", "fs", "leads", "missing_leads", "samples", "seconds",
    "age", "sex", "hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg",
    "device", "device_statements",
)
MEASUREMENT_KEYS: tuple[str, ...] = ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg")
# Rows of the device-beside-heartcare table: label, the cart's key, heartcare's key
# (None: heartcare does not measure it). Keys are `raw.DEVICE_MEASUREMENT_KEYS`.
COMPARISON_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("HR (bpm)", "hr_bpm", "hr_bpm"), ("PR (ms)", "pr_ms", "pr_ms"), ("QRS (ms)", "qrs_ms", "qrs_ms"),
    ("QT (ms)", "qt_ms", "qt_ms"), ("QTc (ms)", "qtc_ms", "qtc_ms"), ("P axis (deg)", "p_axis_deg", None),
    ("QRS axis (deg)", "axis_deg", "axis_deg"), ("T axis (deg)", "t_axis_deg", None),
)


def ecg_info(path: Path, fs: float | None = None, allow_flat_leads: bool = False) -> dict[str, Any]:
    """Summary and measurements of one ECG file as a flat JSON-ready dict."""
    from heartcare.ecg.read import read_ecg

    ecg = read_ecg(path, fs=fs, allow_flat_leads=allow_flat_leads)
    summary = ecg.summary()
    info: dict[str, Any] = {key: None for key in INFO_KEYS}
    info.update(summary)
    info["path"] = str(path)
    info["original_fs"] = ecg.meta.get("original_fs")
    info["original_units"] = ecg.meta.get("original_units")
    # The cart's own findings, for formats that carry them (DICOM, cart XML); None otherwise.
    device = ecg.meta.get("device_measurements")
    info["device"] = None if device is None else dict(device)
    info["device_statements"] = ecg.meta.get("device_statements")
    if ecg.meta.get("extra_leads"):
        info["extra_leads"] = list(ecg.meta["extra_leads"])
    try:
        from heartcare.ecg.measure import measure
    except ModuleNotFoundError as error:
        if error.name != "heartcare.ecg.measure":
            raise
        # Without the measurement module info still reports the record itself.
        info["measurement_reasons"] = {key: "heartcare.ecg.measure is not available" for key in MEASUREMENT_KEYS}
        return info
    measurements = measure(ecg)
    values = measurements.to_dict()
    for key in MEASUREMENT_KEYS:
        value = values.get(key)
        info[key] = None if value is None else round(float(value), 1)
    reasons = getattr(measurements, "reasons", None)
    if reasons:
        info["measurement_reasons"] = dict(reasons)
    return info


def run_info(args: argparse.Namespace) -> int:
    info = ecg_info(Path(args.path), fs=args.fs, allow_flat_leads=args.allow_flat_leads)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    device = info.get("device")
    skipped = {"measurement_reasons", "device", "device_statements", *(MEASUREMENT_KEYS if device else ())}
    table = Table(title=Path(args.path).name, show_header=False)
    for key, value in info.items():
        if key in skipped:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        if value is None and key in MEASUREMENT_KEYS:
            shown = f"- ({info.get('measurement_reasons', {}).get(key, 'not measured')})"
        table.add_row(key, "-" if shown is None or shown == "" else str(shown))
    console = Console()
    console.print(table)
    if device:
        console.print(comparison_table(info))
    for line in info.get("device_statements") or []:
        console.print(f"device: {line}", highlight=False)
    return 0


def comparison_table(info: dict[str, Any]) -> Any:
    """The cart's measurements beside heartcare's: one row per quantity, two columns."""
    from rich.table import Table

    device = info.get("device") or {}
    reasons = info.get("measurement_reasons") or {}
    table = Table(title="measurements")
    for column in ("", "device", "heartcare"):
        table.add_column(column, justify="left" if not column else "right")
    for label, device_key, own_key in COMPARISON_ROWS:
        cart = device.get(device_key)
        own = None if own_key is None else info.get(own_key)
        if own is not None:
            shown = f"{own:g}"
        else:
            shown = "- (not measured by heartcare)" if own_key is None else f"- ({reasons.get(own_key, 'not measured')})"
        table.add_row(label, "-" if cart is None else f"{cart:g}", shown)
    return table


def run_convert(args: argparse.Namespace) -> int:
    from heartcare.ecg.read import read_ecg
    from heartcare.ecg.write import write_ecg

    ecg = read_ecg(Path(args.path), fs=args.fs, allow_flat_leads=args.allow_flat_leads)
    written = write_ecg(ecg, Path(args.out), format=args.to)
    print(f"wrote {written} ({ecg.fs:g} Hz, {len(ecg.leads)} leads, {ecg.seconds:.2f} s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    info = subparsers.add_parser(
        "info", help="print an ECG file's source, fs, leads, duration and measurements"
    )
    info.add_argument(
        "path", help="ECG file: WFDB .hea/.dat/.mat, DICOM, CSV, NPY, Challenge record, cart XML "
                     "(GE MUSE, GE CardioSoft, Philips, HL7 aECG)",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    info.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (needed for CSV/NPY)")
    info.add_argument("--allow-flat-leads", action="store_true", help="mask constant (flat) leads, e.g. a lead-off, instead of rejecting the file")
    info.set_defaults(handler=run_info)

    convert = subparsers.add_parser("convert", help="rewrite an ECG file as WFDB, NumPy or CSV")
    convert.add_argument("path", help="input ECG file (any format `info` reads)")
    convert.add_argument("out", help="output path (WFDB: record path without extension)")
    convert.add_argument("--to", choices=("wfdb", "npy", "csv"), required=True, help="output format")
    convert.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (needed for CSV/NPY input)")
    convert.add_argument("--allow-flat-leads", action="store_true", help="mask constant (flat) leads, e.g. a lead-off, instead of rejecting the file")
    convert.set_defaults(handler=run_convert)
