from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.errors import InvalidSignalError, LeadError, SamplingRateError, UnreadableFileError


def write_csv(path: Path, signal: np.ndarray, header: list[str] | None) -> Path:
    rows = [",".join(header)] if header else []
    rows += [",".join(f"{v:.5f}" for v in column) for column in signal.T]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_with_header_in_any_lead_order(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=2)
    order = [11, 0, 5, 4, 1, 2, 3, 6, 7, 8, 9, 10]
    names = ["v6", "Lead I", "AVF", "avl", "II", "III", "aVR", "V1", "V2", "V3", "V4", "V5"]
    path = write_csv(tmp_path / "ordered.csv", signal[order], names)
    ecg = read_ecg(path, fs=250)
    np.testing.assert_allclose(ecg.signal, signal, atol=1e-5)
    assert ecg.meta["source"] == "csv" and ecg.meta["original_fs"] == 250


def test_csv_without_header_is_taken_as_standard_order(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=2)
    ecg = read_ecg(write_csv(tmp_path / "plain.csv", signal, None), fs=250)
    np.testing.assert_allclose(ecg.signal, signal, atol=1e-5)


def test_csv_time_column_gives_the_sampling_rate(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=360, seconds=2)
    times = np.arange(signal.shape[1]) / 360
    path = write_csv(tmp_path / "timed.csv", np.vstack([times, signal]), ["time", *STANDARD_LEADS])
    assert read_ecg(path).fs == 360


def test_csv_needs_fs(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nofs.csv", synthetic_signal(seconds=1), list(STANDARD_LEADS))
    with pytest.raises(SamplingRateError, match=r"nofs\.csv: this format stores no sampling rate"):
        read_ecg(path)


def test_empty_csv_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(UnreadableFileError, match=r"empty\.csv: empty CSV file"):
        read_ecg(path, fs=500)
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(",".join(STANDARD_LEADS) + "\n")
    with pytest.raises(UnreadableFileError, match=r"header_only\.csv: CSV has a header but no rows"):
        read_ecg(header_only, fs=500)


def test_csv_text_cell_and_nan_are_reported(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=1)
    path = write_csv(tmp_path / "text.csv", signal, list(STANDARD_LEADS))
    lines = path.read_text().splitlines()
    lines[5] = "oops," + lines[5].split(",", 1)[1]
    path.write_text("\n".join(lines))
    with pytest.raises(InvalidSignalError, match=r"text\.csv: non-numeric value 'oops' in column 'I'"):
        read_ecg(path, fs=500)
    lines[5] = "nan," + lines[5].split(",", 1)[1]
    path.write_text("\n".join(lines))
    with pytest.raises(InvalidSignalError, match=r"text\.csv: NaN or infinite samples in lead\(s\) I"):
        read_ecg(path, fs=500)


def test_csv_unknown_column_is_kept_as_an_extra(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=1)
    path = write_csv(tmp_path / "leads.csv", signal, [*STANDARD_LEADS[:11], "V7x"])
    ecg = read_ecg(path, fs=500)
    assert ecg.meta["extra_leads"] == ["V7x"] and ecg.meta["lead_mask"][11] is False
    np.testing.assert_allclose(ecg.extra_lead("V7x"), signal[11], atol=1e-4)


def test_csv_without_any_standard_lead_names_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "resp.csv", synthetic_signal(seconds=1)[:2], ["Resp", "Pleth"])
    with pytest.raises(LeadError, match=r"resp\.csv: no standard ECG lead among the channels \('Resp', 'Pleth'\)"):
        read_ecg(path, fs=500)


def test_npy_either_orientation(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=500, seconds=2)
    np.save(tmp_path / "rows.npy", signal)
    np.save(tmp_path / "columns.npy", signal.T)
    for name in ("rows.npy", "columns.npy"):
        ecg = read_ecg(tmp_path / name, fs=500)
        np.testing.assert_array_equal(ecg.signal, signal)
        assert ecg.meta["source"] == "npy"


def test_npy_infinite_values_and_object_arrays(tmp_path: Path) -> None:
    signal = synthetic_signal(seconds=1)
    signal[9, 3] = np.inf
    np.save(tmp_path / "inf.npy", signal)
    with pytest.raises(InvalidSignalError, match=r"inf\.npy: NaN or infinite samples in lead\(s\) V4"):
        read_ecg(tmp_path / "inf.npy", fs=500)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnreadableFileError, match=r"objects\.npy: not a readable NumPy .* never unpickles"):
        read_ecg(tmp_path / "objects.npy", fs=500)
    (tmp_path / "text.npy").write_text("junk\n")  # not .npy at all: no hint about unpickling
    with pytest.raises(UnreadableFileError, match=r"text\.npy: not a readable NumPy \.npy file \(no \.npy header\)$"):
        read_ecg(tmp_path / "text.npy", fs=500)


def test_whitespace_separated_txt_and_tab_separated_tsv(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=1)
    text = "\n".join("  ".join(f"{v:.5f}" for v in column) for column in signal.T)
    (tmp_path / "spaces.txt").write_text(text + "\n")
    tab = "\t".join(STANDARD_LEADS) + "\n" + "\n".join("\t".join(f"{v:.5f}" for v in c) for c in signal.T)
    (tmp_path / "tabs.tsv").write_text(tab + "\n")
    for name in ("spaces.txt", "tabs.tsv"):
        np.testing.assert_allclose(read_ecg(tmp_path / name, fs=250).signal, signal, atol=1e-5)


def test_cabrera_minus_avr_is_flipped_to_avr(tmp_path: Path) -> None:
    signal = synthetic_signal(fs=250, seconds=1)
    stored = signal.copy()
    stored[3] = -stored[3]
    names = list(STANDARD_LEADS)
    names[3] = "-aVR"
    ecg = read_ecg(write_csv(tmp_path / "cabrera.csv", stored, names), fs=250)
    np.testing.assert_allclose(ecg.lead("aVR"), signal[3], atol=1e-5)
