from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.read import read_ecg
from heartcare.ecg.record import Ecg
from heartcare.ecg.write import write_ecg
from heartcare.errors import ConfigError

TOLERANCE_MV = {"wfdb": 6e-4, "npy": 0.0, "csv": 6e-5}


@pytest.mark.parametrize("fmt", ["wfdb", "npy", "csv"])
def test_write_then_read_without_fs(tmp_path: Path, fmt: str) -> None:
    ecg = Ecg(synthetic_signal(fs=360, seconds=3), fs=360, meta={"age": 70.0, "sex": "M", "record_id": "r"})
    written = write_ecg(ecg, tmp_path / "out" / "r", format=fmt)
    back = read_ecg(written)
    assert back.fs == 360 and back.leads == STANDARD_LEADS
    np.testing.assert_allclose(back.signal, ecg.signal, atol=TOLERANCE_MV[fmt] + 1e-7)
    # Nothing temporary is left beside the output.
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    if fmt in ("wfdb", "npy"):
        assert back.meta["age"] == 70 and back.meta["sex"] == "M"


def test_unknown_format(tmp_path: Path) -> None:
    ecg = Ecg(synthetic_signal(seconds=1), fs=500)
    with pytest.raises(ConfigError, match="unknown output format 'edf'"):
        write_ecg(ecg, tmp_path / "x", format="edf")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["wfdb", "npy", "csv"])
def test_every_reader_fills_the_common_meta_keys(tmp_path: Path, fmt: str) -> None:
    from heartcare.ecg.raw import COMMON_META_KEYS

    ecg = Ecg(synthetic_signal(fs=500, seconds=1), fs=500)
    back = read_ecg(write_ecg(ecg, tmp_path / "r", format=fmt))
    assert set(COMMON_META_KEYS) <= set(back.meta)
    assert back.meta["source"] == fmt and back.meta["original_fs"] == 500
    assert back.meta["path"].endswith(tuple((".hea", ".npy", ".csv")))


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_a_dotted_name_keeps_its_whole_stem(tmp_path: Path, fmt: str) -> None:
    ecg = Ecg(synthetic_signal(fs=500, seconds=1), fs=500)
    plain = write_ecg(ecg, tmp_path / "rec", format=fmt)
    dotted = write_ecg(ecg, tmp_path / "rec.prediction", format=fmt)
    assert dotted.name == f"rec.prediction.{fmt}" and plain.name == f"rec.{fmt}"
    np.testing.assert_allclose(read_ecg(dotted).signal, ecg.signal, atol=TOLERANCE_MV[fmt] + 1e-7)


def test_wfdb_rejects_a_name_it_cannot_hold(tmp_path: Path) -> None:
    ecg = Ecg(synthetic_signal(fs=500, seconds=1), fs=500)
    with pytest.raises(ConfigError, match="letters, digits"):
        write_ecg(ecg, tmp_path / "rec.prediction", format="wfdb")
    assert not list(tmp_path.iterdir())
    assert write_ecg(ecg, tmp_path / "rec_prediction.hea", format="wfdb").name == "rec_prediction.hea"
