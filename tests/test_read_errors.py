"""Inputs that are not ECGs at all: each raises a HeartcareError naming the file."""

from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare.ecg.read import read_ecg
from heartcare.errors import (
    HeartcareError,
    InvalidSignalError,
    UnreadableFileError,
    UploadTooLargeError,
)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"nothing\.hea: file not found"):
        read_ecg(tmp_path / "nothing.hea")


def test_png_is_not_an_ecg(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "picture.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(UnreadableFileError, match=r"picture\.png: not an ECG format heartcare reads \(\.png\)"):
        read_ecg(path)


def test_random_bytes_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(UnreadableFileError, match=r"blob: not an ECG format"):
        read_ecg(path)


def test_random_bytes_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(UnreadableFileError, match=r"binary\.csv: binary content"):
        read_ecg(path, fs=500)


def test_folder_is_not_a_record(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="is a folder"):
        read_ecg(tmp_path)


def test_oversize_file_is_refused_before_reading(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "big", synthetic_signal(seconds=2), 500)
    with pytest.raises(UploadTooLargeError, match=r"big\.dat: file is .* above the .* limit"):
        read_ecg(header, max_bytes=10_000)
    assert read_ecg(header, max_bytes=1_000_000).samples == 1000


def test_every_lead_flat_always_raises(tmp_path: Path) -> None:
    np.save(tmp_path / "zeros.npy", np.zeros((12, 1000), dtype=np.float32))
    with pytest.raises(InvalidSignalError, match=r"zeros\.npy: every lead is flat"):
        read_ecg(tmp_path / "zeros.npy", fs=500, allow_flat_leads=True)


def test_errors_share_the_heartcare_family(tmp_path: Path) -> None:
    for name in ("a.png", "b.xyz"):
        (tmp_path / name).write_bytes(b"123")
        with pytest.raises(HeartcareError):
            read_ecg(tmp_path / name)
