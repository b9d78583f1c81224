"""HeartAgent: the data engine that turns ECG records into a multimodal QA dataset.

Stages (paper, Sec. 3): Converter/Analyzer (PDF/DICOM -> signal + text), Optimizer
(resample, denoise, quality window), Image Generator (renderer), Multi-task QA
Builder (closed, open, comparison, report, signal prediction), then
de-identification, patient-level splits and the Parquet writer. `build_dataset`
runs them all; heavy imports stay inside the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.description import RecordDescription

__all__ = ["BuildConfig", "RecordDescription", "build_dataset"]


def __getattr__(name: str) -> Any:
    # Lazy so `import heartcare.agent` does not pull pyarrow or the renderer.
    if name == "build_dataset":
        from heartcare.agent.build import build_dataset

        return build_dataset
    if name == "BuildConfig":
        from heartcare.agent.config import BuildConfig

        return BuildConfig
    if name == "RecordDescription":
        from heartcare.agent.description import RecordDescription

        return RecordDescription
    raise AttributeError(name)
