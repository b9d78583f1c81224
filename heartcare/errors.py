"""The error family every heartcare component raises for bad input.

Each message names the offending file (or record) and says what is wrong, so a
batch job can log it verbatim and move on to the next item.
"""

from __future__ import annotations

from pathlib import Path


class HeartcareError(Exception):
    """Base class: bad input or a request heartcare cannot honour."""

    def __init__(self, source: str | Path | None, problem: str) -> None:
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class UnreadableFileError(HeartcareError):
    """The file is missing, truncated, corrupt or not an ECG format heartcare reads."""


class HeaderMismatchError(HeartcareError):
    """Header and signal data disagree (sample count, channel count, length)."""


class InvalidSignalError(HeartcareError):
    """The samples are unusable: NaN/inf, flat (all-constant) leads, wrong shape."""


class LeadError(HeartcareError):
    """Lead names that cannot be mapped onto the 12 standard leads."""


class SamplingRateError(HeartcareError):
    """A sampling rate that is missing, non-positive or outside what a step supports."""


class DatasetLayoutError(HeartcareError):
    """A dataset folder lacks the files its layout requires."""


class ConfigError(HeartcareError):
    """A configuration value is out of range or inconsistent."""


class UploadTooLargeError(HeartcareError):
    """An uploaded or read file exceeds the configured size limit."""


class UnsafeFileError(UnreadableFileError):
    """A file refused for safety: XML entity declarations or external references
    (billion-laughs and external-entity attacks), never expanded or fetched."""


class TrainingDivergedError(HeartcareError):
    """The loss or gradient norm stopped being finite; the step was not applied."""
