"""Readers pinned where mutation testing (issue 17) found them loose: non-zero baselines
and per-channel gains, distinct signals per lead in shuffled file order, the cart's own
measurements under every spelling a file uses, and error messages that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal

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

SHUFFLED = [7, 0, 11, 4, 1, 9, 2, 5, 3, 10, 6, 8]  # file row -> canonical lead index


def distinct_signal(fs: float = 250.0, seconds: float = 2.0) -> np.ndarray:
    """[12, n] mV: the synthetic ECG with a different offset per lead, so no two leads match."""
    return synthetic_signal(fs=fs, seconds=seconds) + np.linspace(-0.6, 0.5, 12, dtype=np.float32)[:, None]


def raises_naming(error: type[HeartcareError], path: Path, problem: str, call) -> None:
    with pytest.raises(error) as caught:
        call()
    assert caught.value.source == str(path), caught.value.source
    assert problem in caught.value.problem, caught.value.problem


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


# ---- DICOM --------------------------------------------------------------------------------

pydicom = pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def real_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def rhythm_counts(dataset) -> np.ndarray:
    """[channels, samples] raw integers of the rhythm group."""
    group = dataset.WaveformSequence[0]
    raw = np.frombuffer(bytes(group.WaveformData), "<i2")
    return raw.reshape(int(group.NumberOfWaveformSamples), int(group.NumberOfWaveformChannels)).T.astype(float)


def test_dicom_channel_baselines_are_added_per_lead(real_dicom: Path, tmp_path: Path) -> None:
    reference = read_ecg(real_dicom)
    dataset = pydicom.dcmread(real_dicom)
    channels = dataset.WaveformSequence[0].ChannelDefinitionSequence
    offsets_uv = {}
    for index, channel in enumerate(channels):
        channel.ChannelBaseline = 40.0 * (index + 1) - 200.0  # uV, different on every channel
        name = channel.ChannelSourceSequence[0].CodeMeaning.split(" (")[0].replace("Lead ", "")
        offsets_uv[name] = float(channel.ChannelBaseline)
    path = tmp_path / "baseline.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    for lead in STANDARD_LEADS:
        np.testing.assert_allclose(ecg.lead(lead), reference.lead(lead) + offsets_uv[lead] / 1000, atol=1e-5)


def test_dicom_defaults_are_one_unit_per_microvolt(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    counts = rhythm_counts(dataset)
    for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence:
        for keyword in ("ChannelSensitivity", "ChannelSensitivityCorrectionFactor", "ChannelBaseline",
                        "ChannelSensitivityUnitsSequence"):
            delattr(channel, keyword)
    path = tmp_path / "bare.dcm"
    dataset.save_as(path)
    raw = read_ecg(path)
    assert raw.meta["original_units"] == ["uV"]
    np.testing.assert_allclose(raw.lead("I"), counts[0] / 1000, atol=1e-6)
    np.testing.assert_allclose(raw.lead("V6"), counts[11] / 1000, atol=1e-6)


def test_dicom_lead_names_come_from_meanings_whatever_the_code(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    for index, channel in enumerate(dataset.WaveformSequence[0].ChannelDefinitionSequence):
        channel.ChannelSourceSequence[0].CodeValue = f"2:{index + 1}"  # MDC-style codes
    path = tmp_path / "mdc.dcm"
    dataset.save_as(path)
    np.testing.assert_array_equal(read_ecg(path).signal, read_ecg(real_dicom).signal)


def test_dicom_groups_are_chosen_by_label_then_by_length(real_dicom: Path, tmp_path: Path) -> None:
    reference = read_ecg(real_dicom)
    dataset = pydicom.dcmread(real_dicom)
    rhythm, median = dataset.WaveformSequence
    median.MultiplexGroupLabel = "Representative"
    dataset.WaveformSequence = [median, rhythm]  # the median group first
    path = tmp_path / "representative.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    np.testing.assert_array_equal(ecg.signal, reference.signal)
    assert ecg.meta["median_beats"].signal.shape == (12, 1200)
    del rhythm.MultiplexGroupLabel  # no RHYTHM label: the longest group that is not a median
    median.MultiplexGroupLabel = "MEDIAN BEAT"
    path = tmp_path / "unlabelled.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    np.testing.assert_array_equal(ecg.signal, reference.signal)
    assert ecg.meta["multiplex_group"] == ""
    median.MultiplexGroupLabel = "rhythm"  # a short group labelled rhythm (any case) wins
    path = tmp_path / "short_rhythm.dcm"
    dataset.save_as(path)
    assert read_ecg(path).samples == 1200


def test_dicom_measurements_by_code_in_seconds_and_sample_annotations_ignored(real_dicom: Path, tmp_path: Path) -> None:
    from pydicom.dataset import Dataset

    dataset = pydicom.dcmread(real_dicom)
    annotations = list(dataset.WaveformAnnotationSequence)
    for annotation in annotations:
        concept = annotation.get("ConceptNameCodeSequence")
        if concept and "NumericValue" in annotation:
            meaning = concept[0].CodeMeaning
            if meaning in ("PR Interval", "QRS Duration"):
                del concept[0].CodeMeaning  # only the SCPECG code is left
            if meaning == "QT Interval":
                concept[0].CodeMeaning = "  QT INTERVAL "
            if meaning == "RR Interval":
                annotation.NumericValue = 0.982  # seconds
                annotation.MeasurementUnitsCodeSequence[0].CodeValue = "s"
            if meaning == "QTc Interval":
                del annotation.MeasurementUnitsCodeSequence  # no unit: taken as given
    positioned = Dataset()  # a value tied to sample positions is a fiducial, not the global value
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "5.13.5-9", "QRS Duration"
    positioned.ConceptNameCodeSequence = [code]
    positioned.NumericValue = 999
    positioned.ReferencedSamplePositions = [10, 20]
    blank = Dataset()
    blank.UnformattedTextValue = "   "
    dataset.WaveformAnnotationSequence = [positioned, blank, *annotations]
    path = tmp_path / "coded.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    assert ecg.meta["device_measurements"] == {
        "rr_ms": 982, "hr_bpm": 61.1, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
        "p_axis_deg": 74, "axis_deg": 52, "t_axis_deg": 57,
    }
    assert ecg.meta["device_statements"] == ["RITMO SINUSALE", "ECG NORMALE"]


def test_dicom_identity_and_dates(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    del dataset.AcquisitionDateTime
    del dataset.PatientID
    uid = str(dataset.SOPInstanceUID)
    path = tmp_path / "ids.dcm"
    dataset.save_as(path)
    ecg = read_ecg(path)
    assert ecg.meta["recording_date"] == "20130125" and ecg.meta["record_id"] == uid
    assert ecg.meta["patient_id"] is None
    del dataset.StudyDate
    path = tmp_path / "nodate.dcm"
    dataset.save_as(path)
    assert read_ecg(path).meta["recording_date"] is None


def test_dicom_errors_name_the_file(real_dicom: Path, tmp_path: Path) -> None:
    dataset = pydicom.dcmread(real_dicom)
    del dataset.WaveformSequence[0].SamplingFrequency
    missing = tmp_path / "missing.dcm"
    dataset.save_as(missing)
    raises_naming(UnreadableFileError, missing, "waveform group lacks SamplingFrequency", lambda: read_ecg(missing))
    dataset = pydicom.dcmread(real_dicom)
    dataset.WaveformSequence[0].WaveformSampleInterpretation = "UB"
    encoding = tmp_path / "encoding.dcm"
    dataset.save_as(encoding)
    raises_naming(UnreadableFileError, encoding, "unsupported waveform sample encoding (16, 'UB')",
                  lambda: read_ecg(encoding))
    dataset = pydicom.dcmread(real_dicom)
    dataset.WaveformSequence[0].ChannelDefinitionSequence = list(dataset.WaveformSequence[0].ChannelDefinitionSequence)[:11]
    definitions = tmp_path / "definitions.dcm"
    dataset.save_as(definitions)
    raises_naming(UnreadableFileError, definitions, "11 channel definitions for 12 waveform channels",
                  lambda: read_ecg(definitions))
    dataset = pydicom.dcmread(real_dicom)
    del dataset.WaveformSequence
    del dataset.Modality
    nowave = tmp_path / "nowave.dcm"
    dataset.save_as(nowave)
    raises_naming(UnreadableFileError, nowave, "DICOM file (modality unknown) holds no waveform", lambda: read_ecg(nowave))


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
