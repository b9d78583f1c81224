"""WFDB records (`.hea` + `.dat`/`.mat`), the PhysioNet format, read through `wfdb`.

`wfdb` trusts the header: a truncated `.dat` either crashes deep inside numpy or
comes back silently short. So before decoding we compare each signal file's size
with what the header promises, and after decoding we verify the header checksums,
turning both kinds of damage into errors that name the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.ecg.raw import RawRecording, millivolt_factor, parse_age, parse_sex
from heartcare.errors import HeaderMismatchError, InvalidSignalError, UnreadableFileError

# WFDB storage format -> bytes per sample (212/310/311 pack samples into bit fields).
BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}
SIGNAL_SUFFIXES: tuple[str, ...] = (".hea", ".dat", ".mat")


def record_base(path: Path) -> Path:
    """The record path without extension, which is what `wfdb` wants."""
    return path.with_suffix("") if path.suffix.lower() in SIGNAL_SUFFIXES else path


def parse_header_comments(comments: list[str]) -> dict[str, str]:
    """`# Key: value` header comments (Challenge `Age`, `Sex`, `Dx`, ...) as a dict."""
    fields: dict[str, str] = {}
    for comment in comments:
        match = re.match(r"^\s*#?\s*([A-Za-z][A-Za-z _]*?)\s*:\s*(.*?)\s*$", comment)
        if match:
            fields[match.group(1).strip().lower()] = match.group(2)
    return fields


def check_signal_files(header: Any, base: Path) -> None:
    """Raise when a signal file is missing, shorter or longer than the header says."""
    header_file = base.with_suffix(".hea")
    if header.sig_len is None or not header.file_name:
        return
    channels: dict[str, list[int]] = {}
    for index, file_name in enumerate(header.file_name):
        channels.setdefault(file_name, []).append(index)
    for file_name, indices in channels.items():
        signal_file = base.parent / file_name
        if not signal_file.is_file():
            raise UnreadableFileError(signal_file, f"signal file named in {header_file.name} is missing")
        fmt = str(header.fmt[indices[0]])
        if fmt not in BYTES_PER_SAMPLE:
            raise UnreadableFileError(header_file, f"unsupported WFDB storage format {fmt!r}")
        offset = int((header.byte_offset or [0] * header.n_sig)[indices[0]] or 0)
        expected = offset + int(np.ceil(header.sig_len * len(indices) * BYTES_PER_SAMPLE[fmt]))
        actual = signal_file.stat().st_size
        if actual < expected:
            raise UnreadableFileError(
                signal_file,
                f"truncated: header promises {header.sig_len} samples x {len(indices)} channels "
                f"({expected} bytes) but the file has {actual} bytes",
            )
        # .mat files may carry trailing metadata; raw .dat files must match exactly.
        if signal_file.suffix.lower() == ".dat" and actual > expected + 2:
            found = (actual - offset) / (len(indices) * BYTES_PER_SAMPLE[fmt])
            raise HeaderMismatchError(
                signal_file,
                f"file holds {found:.0f} samples per channel but {header_file.name} says {header.sig_len}",
            )


def read_wfdb(path: Path) -> RawRecording:
    """Decode one WFDB record; `path` may be the `.hea`, the `.dat`/`.mat` or the bare record."""
    import wfdb

    base = record_base(path)
    header_file = base.with_suffix(".hea")
    if not header_file.is_file():
        raise UnreadableFileError(path, f"WFDB header {header_file.name} not found beside the record")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as error:  # wfdb raises bare ValueError/IndexError on bad headers
        raise UnreadableFileError(header_file, f"not a valid WFDB header ({error})") from error
    if not header.n_sig:
        raise UnreadableFileError(header_file, "header declares no signals")
    check_signal_files(header, base)
    try:
        record = wfdb.rdrecord(str(base), physical=False)
    except Exception as error:
        raise UnreadableFileError(path, f"cannot decode WFDB signal ({error})") from error
    digital = np.asarray(record.d_signal)  # [samples, channels] integers
    if digital.ndim != 2 or digital.shape[1] != header.n_sig:
        raise HeaderMismatchError(
            header_file, f"header declares {header.n_sig} signals, data holds shape {digital.shape}"
        )
    if header.sig_len is not None and digital.shape[0] != header.sig_len:
        raise HeaderMismatchError(
            header_file, f"header says {header.sig_len} samples, data holds {digital.shape[0]}"
        )
    if header.checksum:
        computed = [int(np.sum(digital[:, i].astype(np.int64))) for i in range(digital.shape[1])]
        # WFDB checksums are the 16-bit signed sum of the samples.
        wrapped = [((value + 32768) % 65536) - 32768 for value in computed]
        bad = [
            record.sig_name[i] for i, (want, got) in enumerate(zip(header.checksum, wrapped, strict=True))
            if ((int(want) + 32768) % 65536) - 32768 != got
        ]
        if bad:
            raise HeaderMismatchError(
                base.parent / header.file_name[0],
                f"checksum mismatch with {header_file.name} in lead(s) {', '.join(bad)} (corrupt data)",
            )
    invalid = digital == np.asarray([wfdb_invalid_value(fmt) for fmt in record.fmt])[None, :]
    if invalid.any():
        lead = record.sig_name[int(np.argmax(invalid.any(axis=0)))]
        raise InvalidSignalError(path, f"missing (invalid-marker) samples in lead {lead}")
    gains = np.asarray(record.adc_gain, dtype=np.float64)
    if np.any(gains == 0):
        raise HeaderMismatchError(header_file, "ADC gain of 0 in the header")
    baselines = np.asarray(record.baseline, dtype=np.float64)
    physical = (digital.astype(np.float64) - baselines) / gains  # [samples, channels]
    factors = np.asarray([millivolt_factor(unit, header_file) for unit in record.units])
    comments = parse_header_comments(record.comments or [])
    meta: dict[str, Any] = {
        "record_id": base.name,
        "age": parse_age(comments.get("age")),
        "sex": parse_sex(comments.get("sex")),
        "header_comments": list(record.comments or []),
    }
    if "dx" in comments:
        meta["dx"] = comments["dx"]
    if record.base_date is not None:
        meta["recording_date"] = str(record.base_date)
    return RawRecording(
        signal=(physical * factors).T,
        fs=float(record.fs),
        lead_names=list(record.sig_name),
        units=[unit or "mV" for unit in record.units],
        meta=meta,
    )


def wfdb_invalid_value(fmt: str) -> int:
    """The digital value WFDB uses to mark a missing sample in `fmt` (never a real sample)."""
    return {"8": -128, "16": -32768, "24": -8388608, "32": -2147483648, "61": -32768,
            "80": -128, "160": -32768, "212": -2048, "310": -512, "311": -512}.get(str(fmt), -32768)
