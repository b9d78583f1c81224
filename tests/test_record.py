import numpy as np
import pytest

from heartcare.ecg.record import Ecg
from heartcare.errors import InvalidSignalError, SamplingRateError


def make_ecg(samples: int = 500, fs: float = 500.0) -> Ecg:
    return Ecg(signal=np.zeros((12, samples)), fs=fs, meta={"path": "a.hea"})


def test_signal_is_float32_and_duration_known() -> None:
    ecg = make_ecg()
    assert ecg.signal.dtype == np.float32
    assert ecg.seconds == pytest.approx(1.0)
    assert ecg.lead_mask.all()


def test_nan_samples_name_file_and_lead() -> None:
    signal = np.zeros((12, 10))
    signal[2, 3] = np.nan
    with pytest.raises(InvalidSignalError, match=r"a\.hea: NaN or infinite samples in lead\(s\) III"):
        Ecg(signal=signal, fs=500, meta={"path": "a.hea"})


@pytest.mark.parametrize("fs", [0, -5, float("nan")])
def test_bad_sampling_rate(fs: float) -> None:
    with pytest.raises(SamplingRateError, match="a.hea"):
        make_ecg(fs=fs)


def test_shape_must_match_leads() -> None:
    with pytest.raises(InvalidSignalError, match="rows but"):
        Ecg(signal=np.zeros((3, 10)), fs=100)


def test_crop_and_summary() -> None:
    ecg = make_ecg(samples=5000)
    part = ecg.crop(2.0, 6.0)
    assert part.samples == 2000
    assert part.summary()["seconds"] == 4.0
