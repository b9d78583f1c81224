"""ECG records: the `Ecg` type, readers and writers, preprocessing, measurements."""

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg

__all__ = ["STANDARD_LEADS", "Ecg"]
