"""`read_ecg(path)`: one function that reads any ECG file heartcare knows.

The reader is chosen by extension through `READERS` (a plain dict), falling back to
the file's content (DICOM preamble, NumPy magic, an XML declaration, a WFDB header
beside it) when the extension says nothing. XML files are told apart by their root
element (GE MUSE, GE CardioSoft, Philips, HL7 aECG; see `xml_formats`). Every reader decodes to a `RawRecording`; `to_ecg` then
applies the same checks and lead canonicalisation to all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from heartcare.ecg.raw import RawRecording, to_ecg
from heartcare.ecg.record import Ecg
from heartcare.errors import UnreadableFileError, UploadTooLargeError

# 12 leads x 24 h x 500 Hz x 2 bytes is ~1 GB; single ECGs are kilobytes to a few MB.
DEFAULT_MAX_BYTES: int = 256 * 1024 * 1024


def _wfdb(path: Path, fs: float | None) -> RawRecording:
    from heartcare.ecg.wfdb_format import read_wfdb

    return read_wfdb(path)


def _dicom(path: Path, fs: float | None) -> RawRecording:
    from heartcare.ecg.dicom_format import read_dicom

    return read_dicom(path)


def _csv(path: Path, fs: float | None) -> RawRecording:
    from heartcare.ecg.table_format import read_csv

    return read_csv(path, fs)


def _npy(path: Path, fs: float | None) -> RawRecording:
    from heartcare.ecg.table_format import read_npy

    return read_npy(path, fs)


def _xml(path: Path, fs: float | None) -> RawRecording:
    from heartcare.ecg.xml_formats import read_xml

    return read_xml(path)


Reader = Callable[[Path, "float | None"], RawRecording]

# Lower-case suffix -> (reader, source label written to meta["source"]).
READERS: dict[str, tuple[Reader, str]] = {
    ".hea": (_wfdb, "wfdb"),
    ".dat": (_wfdb, "wfdb"),
    ".mat": (_wfdb, "wfdb"),
    ".dcm": (_dicom, "dicom"),
    ".dicom": (_dicom, "dicom"),
    ".csv": (_csv, "csv"),
    ".txt": (_csv, "csv"),
    ".tsv": (_csv, "csv"),
    ".npy": (_npy, "npy"),
    ".xml": (_xml, "xml"),
}
# How an XML file can begin: plain or UTF-8 BOM, UTF-16 little or big endian.
XML_STARTS: tuple[bytes, ...] = (b"<", b"\xef\xbb\xbf<", b"\xff\xfe<\x00", b"\xfe\xff\x00<")


def sniff_reader(path: Path) -> tuple[Reader, str] | None:
    """Pick a reader from the file's content when its extension is unknown or absent."""
    if path.with_name(path.name + ".hea").is_file() or (path.suffix == "" and path.with_suffix(".hea").is_file()):
        return READERS[".hea"]
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        head = handle.read(132)
    if head[128:132] == b"DICM":
        return READERS[".dcm"]
    if head.startswith(b"\x93NUMPY"):
        return READERS[".npy"]
    if head.lstrip(b" \t\r\n").startswith(XML_STARTS):
        return READERS[".xml"]
    return None


def resolve_path(path: Path) -> Path:
    """Accept a bare WFDB record path (`records500/00000/00001_hr`) as well as files."""
    if path.exists():
        return path
    if path.with_name(path.name + ".hea").is_file():
        return path.with_name(path.name + ".hea")
    raise UnreadableFileError(path, "file not found")


def check_size(path: Path, max_bytes: int) -> None:
    """Refuse files above `max_bytes` before reading them into memory."""
    candidates = [path]
    if path.suffix.lower() in {".hea", ".dat", ".mat"}:
        candidates += [path.with_suffix(suffix) for suffix in (".dat", ".mat")]
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size > max_bytes:
            size_mb = candidate.stat().st_size / 2**20
            raise UploadTooLargeError(
                candidate, f"file is {size_mb:.1f} MiB, above the {max_bytes / 2**20:.1f} MiB limit"
            )


def read_ecg(
    path: str | Path,
    fs: float | None = None,
    *,
    allow_flat_leads: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Ecg:
    """Read one ECG file into a canonical 12-lead `Ecg` (signal [12, samples] mV).

    path: WFDB (`.hea`/`.dat`/`.mat` or the bare record), DICOM, CSV/TXT, NPY, or
        cart XML (GE MUSE, GE CardioSoft, Philips PageWriter/TraceMaster, HL7 aECG).
    fs: sampling rate in Hz for formats that do not store one (CSV, NPY); for
        formats that do (WFDB, DICOM) a different value resamples to it.
    allow_flat_leads: mask constant leads instead of raising (see `raw.to_ecg`).
    max_bytes: files larger than this raise `UploadTooLargeError`.
    Raises a `HeartcareError` subclass naming the file for anything unreadable.
    """
    path = resolve_path(Path(path))
    if path.is_dir():
        raise UnreadableFileError(path, "is a folder; pass one record (a dataset adapter reads folders)")
    check_size(path, max_bytes)
    choice = READERS.get(path.suffix.lower()) or sniff_reader(path)
    if choice is None:
        suffix = path.suffix or "(no extension)"
        raise UnreadableFileError(
            path, f"not an ECG format heartcare reads ({suffix}); expected one of {', '.join(READERS)}"
        )
    reader, source = choice
    raw = reader(path, fs)
    ecg = to_ecg(raw, path, source, allow_flat_leads=allow_flat_leads)
    if fs is not None and abs(fs - ecg.fs) > 1e-6:
        # The file stores its own rate; a different `fs` asks for resampling to it.
        from heartcare.ecg.preprocess import resample

        ecg = resample(ecg, fs)
    return ecg
