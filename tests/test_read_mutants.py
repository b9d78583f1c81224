"""WFDB reading and the checks every reader shares (raw.py, leads.py), pinned where mutation testing
(issue 17) found them loose: per-channel gains, non-zero baselines, missing-sample markers, lead keys, and
error messages that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reader_checks import SHUFFLED, distinct_signal, raises_naming

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.raw import RawRecording, device_measurements, to_ecg
from heartcare.ecg.read import read_ecg
from heartcare.errors import (
    HeartcareError,
    InvalidSignalError,
    LeadError,
    SamplingRateError,
    UnreadableFileError,
)

# ---- WFDB ---------------------------------------------------------------------------------


def write_hand_wfdb(folder: Path, name: str, signal: np.ndarray, fs: float, leads: list[str],
                    gains: np.ndarray, baselines: np.ndarray, units: list[str]) -> Path:
    """A format-16 record written without `wfdb`: per-channel gain, baseline and unit."""
    digital = np.round(signal * gains[:, None] + baselines[:, None]).astype("<i2")  # [leads, n]
    (folder / f"{name}.dat").write_bytes(digital.T.tobytes())
    lines = [f"{name} {len(leads)} {fs:g} {signal.shape[1]}"]
    for lead, gain, baseline, unit, row in zip(leads, gains, baselines, units, digital, strict=True):
        checksum = ((int(row.astype(np.int64).sum()) + 32768) % 65536) - 32768
        lines.append(f"{name}.dat 16 {gain:g}({int(baseline)})/{unit} 16 0 {int(row[0])} {checksum} 0 {lead}")
    header = folder / f"{name}.hea"
    header.write_text("\n".join(lines) + "\n")
    return header


def test_wfdb_baselines_gains_and_units_per_channel_round_trip(tmp_path: Path) -> None:
    from heartcare.ecg import wfdb_format

    signal = distinct_signal()
    leads = [STANDARD_LEADS[i] for i in SHUFFLED]
    gains_per_mv = np.asarray([200.0, 1000.0, 400.0, 800.0, 500.0, 250.0, 1000.0, 2000.0, 300.0, 600.0, 1000.0, 100.0])
    baselines = np.asarray([-1024, 0, 512, 77, -300, 1500, -5, 2048, -2048, 999, 100, -77], dtype=float)
    units = ["mV"] * 12
    units[3] = "uV"  # file row 3 is stored in microvolts: values x 1000, gain per uV
    to_unit = np.where(np.arange(12) == 3, 1000.0, 1.0)[:, None]
    header = write_hand_wfdb(tmp_path, "hand", signal[SHUFFLED] * to_unit, 250, leads,
                             gains_per_mv / to_unit[:, 0], baselines, units)
    assert wfdb_format.parse_simple_header(header.read_text()) is not None  # the numpy fast path
    fast = read_ecg(header)
    slow = to_ecg(wfdb_format._read_with_wfdb(header, header.with_suffix(""), header), header, "wfdb")
    tolerance = 0.5 / gains_per_mv[np.argsort(SHUFFLED)][:, None] + 1e-6  # half a digital step, in mV
    for ecg in (fast, slow):
        assert np.all(np.abs(ecg.signal - signal) <= tolerance)
        assert ecg.meta["original_units"] == ["mV", "uV"]


def test_wfdb_packed_format_checks_checksums_and_dates(tmp_path: Path) -> None:
    import wfdb

    signal = distinct_signal()
    wfdb.wrsamp(record_name="packed", fs=250, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                p_signal=signal.T.astype(np.float64), fmt=["212"] * 12, adc_gain=[400.0] * 12,
                baseline=list(range(-60, 60, 10)), write_dir=str(tmp_path))
    header = tmp_path / "packed.hea"
    ecg = read_ecg(header)
    np.testing.assert_allclose(ecg.signal, signal, atol=1.5 / 400)
    assert "recording_date" not in ecg.meta  # no base date in the header, no made-up one
    text = header.read_text().splitlines()
    text[0] += " 10:02:03 04/03/2020"
    header.write_text("\n".join(text) + "\n")
    assert read_ecg(header).meta["recording_date"] == "2020-03-04"
    data = bytearray((tmp_path / "packed.dat").read_bytes())
    data[300] ^= 0x5A
    (tmp_path / "packed.dat").write_bytes(bytes(data))
    with pytest.raises(HeartcareError, match="checksum mismatch"):
        read_ecg(header)


def test_wfdb_fallback_path_errors_name_the_file(tmp_path: Path) -> None:
    from heartcare.ecg import wfdb_format

    header = tmp_path / "nosig.hea"
    header.write_text("nosig 0 250 100\n")
    raises_naming(UnreadableFileError, header, "header declares no signals",
                  lambda: wfdb_format._read_with_wfdb(header, header.with_suffix(""), header))
    bad = tmp_path / "bad.hea"
    bad.write_text("bad two 250 100\n")
    raises_naming(UnreadableFileError, bad, "not a valid WFDB header",
                  lambda: wfdb_format._read_with_wfdb(bad, bad.with_suffix(""), bad))


# ---- shared checks (raw.py) ---------------------------------------------------------------


def test_device_measurements_derive_the_rate_only_when_missing() -> None:
    assert device_measurements({"rr_ms": "800"}) == {"rr_ms": 800.0, "hr_bpm": 75.0}
    assert device_measurements({"rr_ms": 857}) == {"rr_ms": 857.0, "hr_bpm": 70.0}
    assert device_measurements({"rr_ms": 800, "hr_bpm": "72"}) == {"rr_ms": 800.0, "hr_bpm": 72.0}
    assert device_measurements({"qt_ms": "inf", "pr_ms": "Failed"}) == {}
    with pytest.raises(ValueError, match=r"not device measurement keys: \['pulse'\]"):
        device_measurements({"pulse": 70})


def test_median_beats_are_checked_and_canonicalised() -> None:
    signal = distinct_signal()
    median = RawRecording(signal=signal[:2, :300], fs=500.0, lead_names=["II", "I"], units=["mV"] * 2)
    raw = RawRecording(signal=signal, fs=250.0, lead_names=list(STANDARD_LEADS), units=["mV"] * 12,
                       median_beats=median)
    beats = to_ecg(raw, "cart.xml", "xml").meta["median_beats"]
    np.testing.assert_array_equal(beats.lead("II"), signal[0, :300])
    np.testing.assert_array_equal(beats.lead("I"), signal[1, :300])
    assert beats.fs == 500.0 and beats.leads == STANDARD_LEADS and beats.meta["path"] == "cart.xml"
    assert beats.meta["lead_mask"][:6] == [True] * 6 and beats.meta["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    for bad, problem in (
        (RawRecording(signal=signal[:2, :300], fs=500.0, lead_names=["I"], units=["mV"]), "unusable median beats"),
        (RawRecording(signal=np.where(signal[:2, :300] > 0, np.nan, 0.1), fs=500.0, lead_names=["I", "II"], units=["mV"] * 2),
         "unusable median beats"),
        (RawRecording(signal=signal[:2, :300], fs=0.0, lead_names=["I", "II"], units=["mV"] * 2),
         "median-beat sampling rate must be positive, got 0.0"),
    ):
        raw.median_beats = bad
        with pytest.raises(HeartcareError) as caught:
            to_ecg(raw, "cart.xml", "xml")
        assert caught.value.source == "cart.xml" and problem in caught.value.problem
    raw.median_beats = RawRecording(signal=signal[:2, :300], fs=0.5, lead_names=["I", "II"], units=["mV"] * 2)
    assert to_ecg(raw, "cart.xml", "xml").meta["median_beats"].fs == 0.5
    raw.median_beats = RawRecording(signal=signal[:1, :300], fs=500.0, lead_names=["Q"], units=["mV"])
    with pytest.raises(LeadError) as caught:  # median beats without a standard lead: named error
        to_ecg(raw, "cart.xml", "xml")
    assert caught.value.source == "cart.xml"


# ---- lead names (leads.py) ----------------------------------------------------------------


def test_a_leading_minus_is_part_of_the_lead_key() -> None:
    from heartcare.ecg.leads import is_standard_lead, lead_key, to_standard_leads

    assert lead_key("-aVR") == "-avr" and lead_key("Lead V-1") == "v1" and lead_key("--x") == "-x"
    assert not is_standard_lead("-aVR")  # an inverted lead is never silently taken as aVR
    signal = distinct_signal()[:3]
    canonical = to_standard_leads(signal, ["I", "II", "-aVR"])
    assert canonical.extra_names == ("-aVR",)
    np.testing.assert_allclose(canonical.signal[3], -(signal[0] + signal[1]) / 2, atol=1e-6)  # derived


@pytest.mark.parametrize("present", [["I", "V1"], ["II", "V1"]])
def test_limb_leads_are_derived_only_from_both_i_and_ii(present: list[str]) -> None:
    from heartcare.ecg.leads import to_standard_leads

    signal = distinct_signal()[:2]
    canonical = to_standard_leads(signal, present)
    assert canonical.derived == ()
    assert [STANDARD_LEADS[i] for i, ok in enumerate(canonical.present) if ok] == present
    assert canonical.signal.dtype == np.float32


def test_repeated_extra_channels_stay_addressable_and_float32() -> None:
    from heartcare.ecg.leads import to_standard_leads

    signal = distinct_signal()[:5].astype(np.float64)
    canonical = to_standard_leads(signal, ["II", "resp", "vx", "resp", "resp"])
    assert canonical.extra_names == ("resp", "X", "resp#2", "resp#3")
    assert canonical.extra_signal.dtype == np.float32 and canonical.signal.dtype == np.float32
    np.testing.assert_allclose(canonical.extra_signal, signal[[1, 2, 3, 4]], atol=1e-6)


def test_lead_errors_name_the_source() -> None:
    from heartcare.ecg.leads import to_standard_leads

    signal = distinct_signal()[:2]
    for names, problem in ((["I", "II", "III"], "3 lead names for a signal of shape (2, 500)"),
                           (["II", "MLII"], "lead(s) ['II'] appear more than once")):
        with pytest.raises(LeadError) as caught:
            to_standard_leads(signal, names, source="rec.hea")
        assert caught.value.source == "rec.hea" and problem in caught.value.problem
    with pytest.raises(LeadError) as caught:
        to_standard_leads(signal[0], ["I"], source="rec.hea")  # 1-D: no leads axis
    assert caught.value.source == "rec.hea"


def raw_recording(names: list[str], signal: np.ndarray | None = None, **fields) -> RawRecording:
    signal = distinct_signal()[: len(names)] if signal is None else signal
    return RawRecording(signal=signal, fs=fields.pop("fs", 250.0), lead_names=names,
                        units=fields.pop("units", ["mV"] * len(names)), **fields)


def test_to_ecg_checks_name_the_file() -> None:
    for raw, error, problem in (
        (raw_recording(["I", "II", "III"], distinct_signal()[:2]), InvalidSignalError,
         "decoded signal shape (2, 500) does not match 3 lead names"),
        (raw_recording(["I"], distinct_signal()[0]), InvalidSignalError, "does not match 1 lead names"),
        (raw_recording(["I", "II"], distinct_signal()[:2, :1]), InvalidSignalError, "signal has 1 sample(s); an ECG needs more"),
        (raw_recording(["I", "II"], fs=0.0), SamplingRateError, "sampling rate must be a positive number, got 0.0"),
        (raw_recording(["I", "II"], fs=float("inf")), SamplingRateError, "sampling rate must be a positive number"),
    ):
        with pytest.raises(error) as caught:
            to_ecg(raw, "rec.dat", "test")
        assert caught.value.source == "rec.dat" and problem in caught.value.problem
    assert to_ecg(raw_recording(["I", "II"], fs=0.5), "rec.dat", "test").fs == 0.5
    assert to_ecg(raw_recording(["I", "II"], distinct_signal()[:2, :2]), "rec.dat", "test").samples == 2


def test_to_ecg_flat_and_non_finite_leads() -> None:
    signal = distinct_signal()[:3].astype(np.float64)
    signal[2, :3] = np.nan
    with pytest.raises(InvalidSignalError) as caught:
        to_ecg(raw_recording(["I", "II", "V1"], signal), "rec.dat", "test")
    assert caught.value.problem == "NaN or infinite samples in lead(s) V1 (3 samples)"
    flat = distinct_signal()[:3]
    flat[2] = 0.2
    with pytest.raises(InvalidSignalError, match="flat"):
        to_ecg(raw_recording(["I", "II", "V1"], flat), "rec.dat", "test")  # refused unless asked
    resp = distinct_signal()[:3].astype(np.float64)
    resp[2, 10] = np.inf
    ecg = to_ecg(raw_recording(["I", "II", "resp"], resp), "rec.dat", "test")
    assert ecg.meta["unusable_extra_leads"] == ["resp"] and ecg.meta["extra_leads"] == []
    assert ecg.meta["original_leads"] == ["I", "II", "resp"]


def test_to_ecg_metadata_defaults() -> None:
    ecg = to_ecg(raw_recording(["I", "II"], units=[], meta={"record_id": "R-1"}), "dir/rec.dat", "test")
    assert ecg.meta["record_id"] == "R-1" and ecg.meta["original_units"] == ["mV"]
    assert to_ecg(raw_recording(["I", "II"]), "dir/rec.dat", "test").meta["record_id"] == "rec"


@pytest.mark.parametrize("label", ["-aVR", "minus aVR", "Minus_aVR", "- avr"])
def test_cabrera_minus_avr_is_flipped_whatever_the_spelling(label: str) -> None:
    signal = distinct_signal()[:3]
    ecg = to_ecg(raw_recording(["I", "II", label], signal), "rec.dat", "test")
    np.testing.assert_allclose(ecg.lead("aVR"), -signal[2], atol=1e-6)
    assert "aVR" not in ecg.meta["derived_leads"]


def test_units_ages_and_sexes_as_files_spell_them() -> None:
    from heartcare.ecg.raw import millivolt_factor, parse_age, parse_sex

    assert millivolt_factor("", "f") == millivolt_factor(None, "f") == millivolt_factor(" MV ", "f") == 1.0
    assert millivolt_factor("uV", "f") == 1e-3 and millivolt_factor("V", "f") == 1e3
    with pytest.raises(InvalidSignalError) as caught:
        millivolt_factor("mmHg", "rec.hea")
    assert caught.value.source == "rec.hea" and caught.value.problem == "unknown signal unit 'mmHg'; expected mV, uV or V"
    assert (parse_age("061Y"), parse_age("006M"), parse_age("012W"), parse_age("030D")) == (61.0, 0.5, 0.23, 0.08)
    assert parse_age("200") is None and parse_age("-3") is None and parse_age(61.256) == 61.26
    assert [parse_sex(v) for v in ("Man", "MALE", "m", "Woman", "female", "F", "x")] == ["M", "M", "M", "F", "F", "F", None]


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212"])  # the formats wfdb can write
def test_wfdb_missing_sample_markers_are_reported_in_every_format(tmp_path: Path, fmt: str) -> None:
    import wfdb

    signal = distinct_signal(seconds=1)[:3].astype(np.float64) * 0.1
    signal[1, 40] = np.nan  # wfdb writes its format's invalid marker here
    wfdb.wrsamp(record_name="gap", fs=250, units=["mV"] * 3, sig_name=["I", "II", "V1"], p_signal=signal.T,
                fmt=[fmt] * 3, adc_gain=[100.0] * 3, baseline=[0] * 3, write_dir=str(tmp_path))
    with pytest.raises(InvalidSignalError) as caught:
        read_ecg(tmp_path / "gap.hea")
    assert caught.value.problem == "missing (invalid-marker) samples in lead II"
    assert caught.value.source == str(tmp_path / "gap.hea")
