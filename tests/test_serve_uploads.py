"""Uploads: formats recognised from content, each bad input refused with a message naming the upload."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")

from heartcare.ecg.record import Ecg  # noqa: E402
from heartcare.errors import UnreadableFileError, UploadTooLargeError  # noqa: E402
from heartcare.serve.uploads import decode, sniff  # noqa: E402

LIMIT = 20 * 2**20


@pytest.fixture(scope="module")
def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()


def distinct_leads(samples: int = 2500) -> np.ndarray:
    """Each lead its own frequency and offset, so a swap or a lost baseline is visible."""
    time = np.arange(samples) / 250.0
    return np.stack([0.1 * (index + 1) * np.sin(2 * np.pi * (index + 1) * time) + 0.05 * index for index in range(12)]).astype(np.float32)


def test_the_real_dicom_is_read_from_its_bytes_whatever_its_name(dicom_bytes):
    upload = decode([("photo.png", dicom_bytes)], None, LIMIT)  # a misleading name changes nothing
    assert upload.kind == "ecg" and upload.format == "dicom"
    assert upload.ecg.signal.shape == (12, 10000) and upload.ecg.fs == 1000.0
    assert upload.ecg.meta["upload"] == "photo.png" and "path" not in upload.ecg.meta


@pytest.mark.parametrize(("name", "make", "problem"), [
    ("garbage.dcm", lambda dicom: bytes(range(256)) * 8, "not an ECG format"),
    ("truncated.dcm", lambda dicom: dicom[:3000], "DICOM"),
])
def test_garbage_and_a_truncated_dicom_are_refused_naming_the_upload(dicom_bytes, name, make, problem):
    with pytest.raises(UnreadableFileError) as caught:
        decode([(name, make(dicom_bytes))], None, LIMIT)
    assert name in str(caught.value) and problem in str(caught.value)
    assert "heartcare-upload-" not in str(caught.value)  # the scratch folder never leaks into messages


def test_a_pickled_npy_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Exploit()], dtype=object), allow_pickle=True)
    with pytest.raises(UnreadableFileError, match="never unpickles"):
        decode([("evil.npy", buffer.getvalue())], 500.0, LIMIT)
    assert not marker.exists()
    assert pickle  # the payload above is a real pickle, built by numpy


def test_an_npy_round_trips_lead_by_lead_and_needs_a_rate():
    signal = distinct_leads()
    buffer = io.BytesIO()
    np.save(buffer, signal)
    with pytest.raises(UnreadableFileError, match="sampling rate"):
        decode([("x.npy", buffer.getvalue())], None, LIMIT)
    upload = decode([("x.npy", buffer.getvalue())], 250.0, LIMIT)
    np.testing.assert_allclose(upload.ecg.signal, signal, atol=1e-5)


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def wfdb_files(tmp_path: Path) -> dict[str, bytes]:
    from heartcare.ecg.write import write_wfdb

    header = write_wfdb(Ecg(distinct_leads(), 250.0), tmp_path / "rec")
    return {path.name: path.read_bytes() for path in header.parent.iterdir() if path.stem == "rec"}


def test_a_wfdb_zip_and_a_header_signal_pair_read_the_same_leads(tmp_path):
    files = wfdb_files(tmp_path)
    zipped = decode([("record.zip", _zip(files))], None, LIMIT)
    pair = decode(list(files.items()), None, LIMIT)
    for upload in (zipped, pair):
        assert upload.ecg.fs == 250.0
        np.testing.assert_allclose(upload.ecg.signal, distinct_leads(), atol=2e-3)  # 16-bit ADC steps


@pytest.mark.parametrize(("member", "problem"), [("../../etc/evil.hea", "outside"), ("/abs/rec.hea", "outside"),
                                                   ("inner.zip", "nested")])
def test_zips_with_traversal_or_nesting_are_refused_before_extraction(tmp_path, member, problem):
    files = wfdb_files(tmp_path)
    files[member] = files.pop("rec.hea") if member.endswith(".hea") else _zip({"x": b"y"})
    with pytest.raises(UnreadableFileError, match=problem):
        decode([("bad.zip", _zip(files))], None, LIMIT)
    assert not (tmp_path.parent / "etc" / "evil.hea").exists()


def test_a_zip_bomb_is_refused_by_its_ratio_or_expanded_size():
    small_bomb = _zip({"rec.hea": b"rec 12 500 5000\n", "rec.dat": bytes(10 * 2**20)})  # fits the limit, 1000x ratio
    with pytest.raises(UnreadableFileError, match="zip bomb"):
        decode([("bomb.zip", small_bomb)], None, LIMIT)
    low_entropy = np.random.default_rng(0).integers(0, 4, 30 * 2**20, dtype=np.uint8).tobytes()  # ~4x compressible
    big = _zip({"rec.hea": b"rec 12 500 5000\n", "rec.dat": low_entropy})
    assert len(big) < LIMIT
    with pytest.raises(UploadTooLargeError, match="expands to 30.0 MiB"):
        decode([("big.zip", big)], None, LIMIT)  # the upload fits, what it expands to does not


def test_an_oversized_upload_is_refused_with_its_size(dicom_bytes):
    with pytest.raises(UploadTooLargeError, match="limit"):
        decode([("big.dcm", dicom_bytes)], None, len(dicom_bytes) - 1)


def test_a_csv_needs_a_rate_and_keeps_lead_order():
    signal = distinct_leads(1000)
    text = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6\n" + "\n".join(",".join(f"{value:.5f}" for value in row) for row in signal.T)
    assert sniff(text.encode()) == "csv"
    upload = decode([("x.csv", text.encode())], 250.0, LIMIT)
    np.testing.assert_allclose(upload.ecg.signal, signal, atol=1e-4)


def test_a_picture_is_kept_for_the_image_stream():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), (250, 200, 200)).save(buffer, format="PNG")
    upload = decode([("scan.bin", buffer.getvalue())], None, LIMIT)
    assert upload.kind == "picture" and upload.picture.pixels.shape == (32, 64, 3) and upload.ecg is None
    assert upload.picture.render_parameters is None  # a photo: read whole


def test_a_declared_format_must_match_the_content(dicom_bytes):
    with pytest.raises(UnreadableFileError, match="declared format 'npy'"):
        decode([("x", dicom_bytes)], None, LIMIT, declared="npy")


def test_a_vector_ecg_pdf_is_read_back_into_its_leads():
    pytest.importorskip("pypdf")
    from heartcare.render.output import render

    ecg = Ecg(distinct_leads(2500), 250.0)
    upload = decode([("export.pdf", render(ecg, format="pdf"))], None, LIMIT)
    assert upload.kind == "ecg" and upload.format == "pdf"
    # 3x4 layout: each lead is drawn for its column's 2.5 s; there it must match its own source, not another lead.
    recovered, fs = upload.ecg.signal, upload.ecg.fs
    time = np.arange(recovered.shape[1]) / fs
    for lead in range(12):
        column = lead // 3
        shown = (time >= 2.5 * column + 0.05) & (time < 2.5 * (column + 1) - 0.05)
        sources = np.stack([np.interp(time[shown], np.arange(2500) / 250.0, row) for row in ecg.signal])
        correlations = [np.corrcoef(recovered[lead, shown], source)[0, 1] for source in sources]
        assert int(np.argmax(correlations)) == lead and correlations[lead] > 0.95, (lead, correlations)
