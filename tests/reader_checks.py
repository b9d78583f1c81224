"""Helpers the reader tests share: a distinct signal per lead and an error-naming check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_read_fixtures import synthetic_signal

from heartcare.errors import HeartcareError

SHUFFLED = [7, 0, 11, 4, 1, 9, 2, 5, 3, 10, 6, 8]  # file row -> canonical lead index


def distinct_signal(fs: float = 250.0, seconds: float = 2.0) -> np.ndarray:
    """[12, n] mV: the synthetic ECG with a different offset per lead, so no two leads match."""
    return synthetic_signal(fs=fs, seconds=seconds) + np.linspace(-0.6, 0.5, 12, dtype=np.float32)[:, None]


def raises_naming(error: type[HeartcareError], path: Path, problem: str, call) -> None:
    with pytest.raises(error) as caught:
        call()
    assert caught.value.source == str(path), caught.value.source
    assert problem in caught.value.problem, caught.value.problem
