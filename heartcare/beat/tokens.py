"""The Beat token file: codes of one ECG plus what is needed to turn them back into mV.

`NAME.beat.safetensors`, a safetensors file holding
    codes   int16 [windows * queries, levels]
and string metadata
    format "heartcare-beat-tokens", version "1", model_config (BeatConfig JSON),
    windows, padding (left zero samples added before segmentation), fs, leads (JSON
    list), lead_mask (JSON list), means (JSON list, mV), std (mV), source.
Readers refuse other formats and newer versions, so old files stay readable and
new ones fail loudly on old code. Codes are stored as int16, so a codebook larger
than INT16_CODES and codes outside 0..codebook_size-1 are refused on writing, and
out-of-range codes on reading, rather than wrapped around silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.beat.config import BeatConfig
from heartcare.ecg.windows import NormalizationStats
from heartcare.errors import ConfigError, InvalidSignalError, UnreadableFileError

TOKEN_FORMAT = "heartcare-beat-tokens"
TOKEN_VERSION = 1
TOKEN_SUFFIX = ".beat.safetensors"
INT16_CODES = 2**15  # codes 0..32767 are what int16 storage holds


def code_range_problem(codes: np.ndarray, codebook_size: int) -> str | None:
    """Why `codes` cannot be stored or decoded for a codebook of `codebook_size`, or None."""
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= codebook_size):
        return f"codes span {int(codes.min())}..{int(codes.max())}, outside the codebook's 0..{codebook_size - 1}"
    return None


@dataclass
class TokenFile:
    """codes: [windows * queries, levels]; stats: the normalisation to undo on decoding."""

    codes: np.ndarray
    config: BeatConfig
    windows: int
    padding: int
    stats: NormalizationStats
    leads: list[str]
    lead_mask: list[bool]
    source: str = ""
    extra: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary name, then rename); refuses what int16 cannot hold."""
        from safetensors.numpy import save

        path = Path(path)
        if self.config.codebook_size > INT16_CODES:
            raise ConfigError(path, f"a codebook of {self.config.codebook_size} codes does not fit the token file's "
                                    f"int16 codes (at most {INT16_CODES})")
        codes = np.asarray(self.codes)
        if not np.issubdtype(codes.dtype, np.integer):
            raise InvalidSignalError(path, f"codes must be integers, got {codes.dtype}")
        problem = code_range_problem(codes, self.config.codebook_size)
        if problem:
            raise InvalidSignalError(path, problem)
        metadata = {
            "format": TOKEN_FORMAT,
            "version": str(TOKEN_VERSION),
            "model_config": self.config.to_json(),
            "windows": str(self.windows),
            "padding": str(self.padding),
            "fs": str(self.config.fs),
            "leads": json.dumps(self.leads),
            "lead_mask": json.dumps([bool(v) for v in self.lead_mask]),
            "means": json.dumps([float(v) for v in self.stats.means]),
            "std": repr(float(self.stats.std)),
            "source": self.source,
            "extra": json.dumps(self.extra),
        }
        return write_atomic(path, save({"codes": np.ascontiguousarray(codes, dtype=np.int16)}, metadata=metadata))

    @classmethod
    def load(cls, path: str | Path) -> TokenFile:
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise UnreadableFileError(path, "token file not found")
        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata() or {}
                codes = handle.get_tensor("codes")
        except Exception as error:  # safetensors raises several error types for bad files
            raise UnreadableFileError(path, f"not a Beat token file ({error})") from error
        if metadata.get("format") != TOKEN_FORMAT:
            raise UnreadableFileError(path, f"format is {metadata.get('format')!r}, expected {TOKEN_FORMAT!r}")
        version = int(metadata.get("version", "0"))
        if version > TOKEN_VERSION:
            raise UnreadableFileError(path, f"token format version {version} is newer than this heartcare reads ({TOKEN_VERSION})")
        try:
            config = BeatConfig.from_dict(json.loads(metadata["model_config"]))
        except (KeyError, ValueError, ConfigError) as error:
            raise UnreadableFileError(path, f"token metadata incomplete ({error})") from error
        problem = code_range_problem(codes, config.codebook_size)
        if problem:
            raise UnreadableFileError(path, problem)
        try:
            return cls(
                codes=codes.astype(np.int64),
                config=config,
                windows=int(metadata["windows"]),
                padding=int(metadata["padding"]),
                stats=NormalizationStats(np.asarray(json.loads(metadata["means"]), np.float32), float(metadata["std"])),
                leads=json.loads(metadata["leads"]),
                lead_mask=json.loads(metadata["lead_mask"]),
                source=metadata.get("source", ""),
                extra=json.loads(metadata.get("extra", "{}")),
            )
        except (KeyError, ValueError) as error:
            raise UnreadableFileError(path, f"token metadata incomplete ({error})") from error
