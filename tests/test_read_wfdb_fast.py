"""The numpy fast path for simple WFDB records gives exactly what `wfdb` decodes."""

from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal, write_wfdb_record

from heartcare.ecg import wfdb_format
from heartcare.errors import HeaderMismatchError


def both_paths(header: Path):
    fast = wfdb_format.read_wfdb(header)
    slow = wfdb_format._read_with_wfdb(header, wfdb_format.record_base(header), header)
    return fast, slow


@pytest.mark.parametrize("units", ["mV", "uV"])
def test_fast_path_matches_wfdb(tmp_path: Path, units: str) -> None:
    signal = synthetic_signal(fs=500, seconds=2) * (1000 if units == "uV" else 1)
    header = write_wfdb_record(tmp_path, "rec", signal, 500, units=units, comments=["Age: 61", "Sex: Female", "Dx: 426783006"])
    text = header.read_text()
    header.write_text(text.replace("rec 12 500 1000", "rec 12 500 1000 10:02:03 04/03/2020", 1))
    assert wfdb_format.parse_simple_header(header.read_text()) is not None  # the fast path is taken
    fast, slow = both_paths(header)
    np.testing.assert_array_equal(fast.signal, slow.signal)
    assert (fast.fs, fast.lead_names, fast.units, fast.meta) == (slow.fs, slow.lead_names, slow.units, slow.meta)
    assert fast.meta["recording_date"] == "2020-03-04" and fast.meta["dx"] == "426783006"


def test_other_formats_fall_back_to_wfdb(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=2)
    header = write_wfdb_record(tmp_path, "packed", signal, 250, fmt="212")
    assert wfdb_format.parse_simple_header(header.read_text()) is None
    np.testing.assert_allclose(wfdb_format.read_wfdb(header).signal, signal, atol=6e-3)


def test_fast_path_checks_the_checksum(tmp_path: Path) -> None:
    header = write_wfdb_record(tmp_path, "bad", synthetic_signal(fs=250, seconds=2), 250)
    data = bytearray((tmp_path / "bad.dat").read_bytes())
    data[100] ^= 0x10
    (tmp_path / "bad.dat").write_bytes(bytes(data))
    with pytest.raises(HeaderMismatchError, match="checksum"):
        wfdb_format.read_wfdb(header)
