"""heartcare: multimodal ECG understanding (Heartcare Suite, arXiv 2506.05831).

`import heartcare` stays light: subpackages with heavy dependencies (torch,
pydicom, matplotlib) import them only inside the functions that need them.
"""

from heartcare.ecg.record import Ecg
from heartcare.errors import HeartcareError

__version__ = "0.1.0"
__all__ = ["Ecg", "HeartcareError", "__version__"]
