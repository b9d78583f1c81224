"""Uploaded bytes -> an `Ecg` or a picture, the format recognised from the content, never the name.

Each upload is written to a private temporary folder, read with heartcare's own readers
and the folder removed, so nothing of a patient's file outlives the request on disk.
Formats: DICOM (preamble `DICM`), NumPy `.npy` (never unpickled), WFDB as a zip or as a
header + signal file pair, CSV/TXT (a sampling rate must be given), a vector ECG PDF,
hospital XML, and PNG/JPEG pictures of printouts. Zips are checked before extraction:
member count, total size, compression ratio, nesting, links and path traversal.
"""

from __future__ import annotations

import io
import json
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.errors import HeartcareError, UnreadableFileError, UploadTooLargeError
from heartcare.model.ask import Picture

MAX_ZIP_MEMBERS = 16
MAX_ZIP_RATIO = 200  # uncompressed / compressed; ECG samples compress ~3-10x, bombs by thousands
MAX_PICTURE_PIXELS = 40_000_000  # a 600-dpi A4 scan is ~35 Mpx
FORMATS = ("dicom", "wfdb-zip", "wfdb", "npy", "csv", "pdf", "xml", "picture")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Upload:
    """What one upload decoded to: an ECG, or a picture [H, W, 3] uint8 for the image stream."""

    kind: str  # "ecg" | "picture"
    format: str
    name: str
    size: int
    ecg: Ecg | None = None
    picture: Picture | None = None
    extra: dict = field(default_factory=dict)


def sniff(data: bytes) -> str | None:
    """The format of one file's bytes, or None when none is recognised."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(b"\x93NUMPY"):
        return "npy"
    if data.startswith(b"PK\x03\x04"):
        return "wfdb-zip"
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff"):
        return "picture"
    text = _text(data[:4096])
    if text is None:
        return None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return "xml"
    if _is_wfdb_header(stripped):
        return "wfdb"
    if re.match(r"^[\w\s.,;:\"'+\-()/]+$", stripped[:2000]) and re.search(r"\d", stripped):
        return "csv"
    return None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # A cut inside a multi-byte character at the 4096-byte boundary is still text.
        try:
            return data[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None


def _is_wfdb_header(text: str) -> bool:
    """A WFDB header's record line: name, signal count, optional rate (`00001_hr 12 500 5000`)."""
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    return bool(re.match(r"^[\w./-]+(/\d+)?\s+\d+(\s+[\d.]+(/[\d.]+)?(\(\S+\))?)?(\s+\d+)?", first)) and len(text.splitlines()) > 1


def _safe_name(name: str, fallback: str) -> str:
    base = SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).lstrip(".")
    return base or fallback


def _check_zip(archive: zipfile.ZipFile, source: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if not members:
        raise UnreadableFileError(source, "the zip archive is empty")
    if len(members) > MAX_ZIP_MEMBERS:
        raise UnreadableFileError(source, f"the zip holds {len(members)} files; a WFDB record needs 2-3 (limit {MAX_ZIP_MEMBERS})")
    total = 0
    for info in members:
        parts = Path(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", info.filename):
            raise UnreadableFileError(source, f"zip member {info.filename!r} points outside the archive")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnreadableFileError(source, f"zip member {info.filename!r} is a symbolic link")
        if info.filename.lower().endswith((".zip", ".gz", ".tar", ".7z")):
            raise UnreadableFileError(source, f"zip member {info.filename!r} is itself an archive; nested archives are refused")
        total += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
            raise UnreadableFileError(source, f"zip member {info.filename!r} expands {info.file_size // info.compress_size}x; refused as a zip bomb")
    if total > max_bytes:
        raise UploadTooLargeError(source, f"the zip expands to {total / 2**20:.1f} MiB, above the {max_bytes / 2**20:.1f} MiB limit")
    return members


def _extract_wfdb_zip(data: bytes, source: str, folder: Path, max_bytes: int) -> Path:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise UnreadableFileError(source, f"not a readable zip archive ({error})") from error
    with archive:
        members = _check_zip(archive, source, max_bytes)
        headers = []
        for number, info in enumerate(members):
            target = folder / _safe_name(info.filename, f"member{number}")
            with archive.open(info) as stream:
                content = stream.read(max_bytes + 1)  # never trust the sizes the zip declares
            if len(content) > max_bytes:
                raise UploadTooLargeError(source, f"zip member {info.filename!r} is above the size limit")
            if content.startswith(b"PK\x03\x04"):
                raise UnreadableFileError(source, f"zip member {info.filename!r} is itself a zip; nested archives are refused")
            target.write_bytes(content)
            if target.suffix.lower() == ".hea":
                headers.append(target)
    if len(headers) != 1:
        raise UnreadableFileError(source, f"a WFDB zip must hold exactly one .hea header with its signal file; found {len(headers)}")
    return headers[0]


def _wfdb_pair(files: list[tuple[str, bytes]], source: str, folder: Path) -> Path:
    """A header + signal file uploaded side by side; the signal file is written under the name the header gives it."""
    headers = [(name, data) for name, data in files if sniff(data) == "wfdb"]
    if len(headers) != 1:
        raise UnreadableFileError(source, "a WFDB upload needs exactly one header (.hea) and its signal file (.dat)")
    header_name, header = headers[0]
    signal_names = {line.split()[0] for line in header.decode("utf-8", "replace").splitlines()[1:]
                    if line.strip() and not line.startswith("#")}
    record = _safe_name(header.decode("utf-8", "replace").split()[0].split("/")[0], "record")
    header_path = folder / f"{record}.hea"
    header_path.write_bytes(header)
    others = [(name, data) for name, data in files if data is not header]
    if len(signal_names) != 1 or len(others) != 1:
        raise UnreadableFileError(source, f"the header names signal files {sorted(signal_names)}; upload exactly that one file beside it")
    (folder / _safe_name(next(iter(signal_names)), "signal.dat")).write_bytes(others[0][1])
    return header_path


def _picture(data: bytes, source: str) -> Picture:
    """The pixels, and heartcare's render parameters when the PNG carries them (a sheet heartcare drew)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PICTURE_PIXELS:
                raise UploadTooLargeError(source, f"picture is {image.width} x {image.height} px, above {MAX_PICTURE_PIXELS:,} pixels")
            parameters = None
            text = getattr(image, "text", {}).get("heartcare")
            if text:
                try:
                    parameters = json.loads(text)
                except json.JSONDecodeError:
                    parameters = None  # a damaged chunk: read the picture as a photo
            if isinstance(parameters, dict) and "render" not in parameters and {"layout", "spec"} <= parameters.keys():
                parameters = {"render": parameters}  # `render()` writes its parameters bare; datasets nest them
            return Picture(np.asarray(image.convert("RGB")), parameters if isinstance(parameters, dict) else None)
    except (OSError, Image.DecompressionBombError) as error:
        raise UnreadableFileError(source, f"not a readable PNG/JPEG picture ({error})") from error


def decode(files: list[tuple[str, bytes]], fs: float | None, max_bytes: int, declared: str | None = None) -> Upload:
    """Decode one upload (one file, or a WFDB header + signal pair) into an `Upload`.

    files: (client file name, bytes); the name is only used in messages. fs: the sampling
    rate for CSV/NPY. declared: a format the client stated (the API's `input_ecg.format`);
    it must agree with the content. Raises `UnreadableFileError`/`UploadTooLargeError` (and
    the readers' own errors) naming the upload.
    """
    if not files:
        raise UnreadableFileError("upload", "no file in the request")
    source = " + ".join(_safe_name(name, "upload") for name, _ in files)
    size = sum(len(data) for _, data in files)
    if size > max_bytes:
        raise UploadTooLargeError(source, f"upload is {size / 2**20:.1f} MiB, above the {max_bytes / 2**20:.1f} MiB limit")
    kinds = [sniff(data) for _, data in files]
    kind = "wfdb" if len(files) > 1 else kinds[0]
    if len(files) > 2:
        raise UnreadableFileError(source, "upload one ECG at a time: one file, or a WFDB header with its signal file")
    if kind is None:
        raise UnreadableFileError(source, f"not an ECG format heartcare reads; expected one of {', '.join(FORMATS)}")
    if declared is not None and declared not in (kind, {"wfdb": "wfdb-zip"}.get(kind)):
        raise UnreadableFileError(source, f"declared format {declared!r} but the content is {kind}")
    if kind == "picture":
        return Upload("picture", kind, source, size, picture=_picture(files[0][1], source))
    try:
        ecg = _read(files, kind, fs, max_bytes, source)
    except HeartcareError as error:  # name the client's file, never the scratch path
        raise type(error)(source, error.problem) from error
    return Upload("ecg", kind, source, size, ecg=_renamed(ecg, source))


def _read(files: list[tuple[str, bytes]], kind: str, fs: float | None, max_bytes: int, source: str) -> Ecg:
    from heartcare.ecg.read import read_ecg

    with tempfile.TemporaryDirectory(prefix="heartcare-upload-") as scratch:
        folder = Path(scratch)
        if kind == "wfdb-zip":
            path = _extract_wfdb_zip(files[0][1], source, folder, max_bytes)
        elif kind == "wfdb":
            path = _wfdb_pair(files, source, folder)
        else:
            path = folder / f"upload.{ {'dicom': 'dcm', 'npy': 'npy', 'csv': 'csv', 'pdf': 'pdf', 'xml': 'xml'}[kind] }"
            path.write_bytes(files[0][1])
        if kind == "pdf":
            from heartcare.agent.converter import convert_pdf

            ecg = convert_pdf(path, fs or 500.0).ecg
        else:
            if kind in ("csv", "npy") and fs is None:
                raise UnreadableFileError(source, f"a {kind.upper()} upload carries no sampling rate: give fs (Hz)")
            # Flat leads are kept (masked) and shown as a quality warning rather than refusing the upload.
            ecg = read_ecg(path, fs, allow_flat_leads=True, max_bytes=max_bytes)
    return ecg


def _renamed(ecg: Ecg, source: str) -> Ecg:
    """Drop the scratch path from the record (it no longer exists) and name the upload instead."""
    meta = {key: value for key, value in ecg.meta.items() if key != "path"}
    meta["upload"] = source
    return replace(ecg, meta=meta)
