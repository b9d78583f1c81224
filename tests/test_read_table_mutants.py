"""CSV and NPY readers pinned where mutation testing (issue 17) found them loose: unnamed columns, time
columns, sampling-rate checks, separators, sidecar lead order, and errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reader_checks import SHUFFLED, distinct_signal, raises_naming

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import (
    InvalidSignalError,
    LeadError,
    SamplingRateError,
    UnreadableFileError,
)

# ---- CSV and NPY --------------------------------------------------------------------------


def write_csv(path: Path, rows: np.ndarray, header: list[str] | None, separator: str = ",") -> Path:
    lines = [separator.join(header)] if header else []
    lines += [separator.join(f"{v:.6f}" for v in column) for column in rows.T]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_unnamed_columns_are_leads_i_and_ii(tmp_path: Path) -> None:
    signal = distinct_signal()
    ecg = read_ecg(write_csv(tmp_path / "two.csv", signal[:2], None), fs=250)
    np.testing.assert_allclose(ecg.lead("I"), signal[0], atol=1e-5)
    np.testing.assert_allclose(ecg.lead("II"), signal[1], atol=1e-5)
    assert ecg.meta["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert ecg.meta["original_units"] == ["mV"]
    three = write_csv(tmp_path / "three.csv", signal[:3], None)
    raises_naming(LeadError, three, "3 unnamed columns; name the leads in a header row", lambda: read_ecg(three, fs=250))
    raises_naming(LeadError, three, "3 unnamed columns", lambda: read_ecg(three))  # before asking for fs


def test_sampling_rate_checks_name_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "plain.csv", distinct_signal(), list(STANDARD_LEADS))
    for fs in (0.0, -1.0, float("inf"), float("nan")):
        raises_naming(SamplingRateError, path, "sampling rate must be a positive number", lambda fs=fs: read_ecg(path, fs=fs))
    assert read_ecg(path, fs=0.5).fs == 0.5


def test_time_column_rate_is_exact_and_checked(tmp_path: Path) -> None:
    signal = distinct_signal(seconds=1)
    times = 10.0 + np.arange(signal.shape[1]) / 257.123  # starts at 10 s, an odd rate
    path = write_csv(tmp_path / "timed.csv", np.vstack([times, signal]), ["time_s", *STANDARD_LEADS])
    ecg = read_ecg(path)
    assert ecg.fs == 257.123 and ecg.meta["fs_from_time_column"] is True
    np.testing.assert_allclose(ecg.signal, signal, atol=1e-5)
    for name, bad_times in (("still", np.full(signal.shape[1], 3.0)), ("backwards", -times),
                            ("gap", np.where(np.arange(signal.shape[1]) == 5, np.nan, times))):
        bad = write_csv(tmp_path / f"{name}.csv", np.vstack([bad_times, signal]), ["time", *STANDARD_LEADS])
        text = bad.read_text().replace("nan", "")
        bad.write_text(text)
        raises_naming(SamplingRateError, bad, "time column 'time' is not increasing", lambda bad=bad: read_ecg(bad))
    one_row = write_csv(tmp_path / "one.csv", np.vstack([times[:1], signal[:, :1]]), ["t", *STANDARD_LEADS])
    raises_naming(SamplingRateError, one_row, "time column 't' is not increasing", lambda: read_ecg(one_row))


def test_non_numeric_cell_names_its_column_and_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "text.csv", distinct_signal(seconds=1), list(STANDARD_LEADS))
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[4] = "oops"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    raises_naming(InvalidSignalError, path, "non-numeric value 'oops' in column 'aVL', row 3", lambda: read_ecg(path, fs=250))


def test_tab_separated_header_with_spaces_and_quoted_numbers(tmp_path: Path) -> None:
    signal = distinct_signal()
    names = [f"Lead {STANDARD_LEADS[i]}" for i in SHUFFLED]
    tsv = write_csv(tmp_path / "spaced.tsv", signal[SHUFFLED], names, separator="\t")
    np.testing.assert_allclose(read_ecg(tsv, fs=250).signal, signal, atol=1e-5)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text("\n".join(",".join(f'"{v:.6f}"' for v in column) for column in signal.T) + "\n")
    np.testing.assert_allclose(read_ecg(quoted, fs=250).signal, signal, atol=1e-5)


def test_a_csv_that_is_not_utf8_is_reported_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"I,II\n\xb5V,\xb5V\n1,2\n3,4\n")
    with pytest.raises(UnreadableFileError) as caught:
        read_ecg(path, fs=250)
    assert caught.value.source == str(path)


def test_npy_square_array_is_leads_by_samples_and_sidecar_names_reorder(tmp_path: Path) -> None:
    square = np.arange(144, dtype=np.float32).reshape(12, 12) + np.arange(12)[:, None] * 1000
    np.save(tmp_path / "square.npy", square)
    ecg = read_ecg(tmp_path / "square.npy", fs=100)
    np.testing.assert_array_equal(ecg.signal, square)
    assert ecg.meta["original_units"] == ["mV"]
    signal = distinct_signal()
    np.save(tmp_path / "named.npy", signal[SHUFFLED])
    (tmp_path / "named.json").write_text(json.dumps({
        "fs": 250, "leads": [STANDARD_LEADS[i] for i in SHUFFLED], "record_id": "R-9", "patient_id": "P-3",
        "age": 61, "sex": "F"}))
    named = read_ecg(tmp_path / "named.npy")
    np.testing.assert_allclose(named.signal, signal, atol=1e-6)
    assert (named.fs, named.meta["record_id"], named.meta["patient_id"]) == (250, "R-9", "P-3")
    from heartcare.ecg.table_format import read_npy

    assert read_npy(tmp_path / "named.npy", fs=125).fs == 125  # a caller's fs wins over the sidecar


def test_npy_errors_name_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((2, 12, 100)))
    raises_naming(InvalidSignalError, tmp_path / "cube.npy", "expected a 2-D numeric array, got float64 (2, 12, 100)",
                  lambda: read_ecg(tmp_path / "cube.npy", fs=100))
    np.save(tmp_path / "text.npy", np.full((12, 100), "a"))
    raises_naming(InvalidSignalError, tmp_path / "text.npy", "expected a 2-D numeric array",
                  lambda: read_ecg(tmp_path / "text.npy", fs=100))
    np.save(tmp_path / "names.npy", np.zeros((12, 100)))
    (tmp_path / "names.json").write_text(json.dumps({"fs": 100, "leads": ["I", "II"]}))
    raises_naming(LeadError, tmp_path / "names.json", "2 lead names for an array with 12 leads",
                  lambda: read_ecg(tmp_path / "names.npy"))
    (tmp_path / "names.json").write_text("{not json")
    raises_naming(UnreadableFileError, tmp_path / "names.json", "invalid JSON sidecar", lambda: read_ecg(tmp_path / "names.npy"))
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"\x93NUMPY\x01\x00garbage")
    raises_naming(UnreadableFileError, broken, "not a readable NumPy .npy file", lambda: read_ecg(broken, fs=100))
    three = tmp_path / "three.npy"
    np.save(three, np.ones((3, 100)))
    raises_naming(LeadError, three, "3 unnamed columns", lambda: read_ecg(three, fs=100))


