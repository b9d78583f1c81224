"""heartcare.ecg.spectrum.welch equals scipy.signal.welch's defaults."""

import numpy as np
import pytest
from scipy import signal as scipy_signal

from heartcare.ecg.spectrum import welch


@pytest.mark.parametrize(("fs", "samples", "segment"), [(250.0, 2500, 500), (500.0, 5000, 1000), (250.0, 2437, 1000),
                                                        (100.0, 1000, 101), (360.0, 700, 700)])
def test_welch_matches_scipy(fs: float, samples: int, segment: int) -> None:
    data = np.random.default_rng(int(fs) + samples).normal(size=(12, samples)) + np.linspace(0, 3, samples)
    freqs, power = welch(data, fs, segment)
    reference_freqs, reference = scipy_signal.welch(data, fs=fs, nperseg=segment, axis=1)
    np.testing.assert_allclose(freqs, reference_freqs)
    np.testing.assert_allclose(power, reference, rtol=1e-9, atol=1e-15)
