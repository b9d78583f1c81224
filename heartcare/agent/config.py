"""`BuildConfig`: everything that determines a HeartAgent build (saved in dataset.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from heartcare.errors import ConfigError

SOURCE_KINDS = ("ptbxl", "ecgqa", "pdf", "dicom")
IMAGE_PRESETS = ("clean", "print", "scan", "photo")


@dataclass(frozen=True)
class BuildConfig:
    """One dataset build.

    sources: "KIND:PATH" strings, KIND in ptbxl / ecgqa / pdf / dicom (they compose).
    out: the dataset folder. workers: processes for the per-record stage.
    images_per_record: paper images drawn per ECG (0 = signal-only items).
    image_presets: augmentation presets drawn uniformly per image (renderer's PRESETS);
        clean/print sheets are stored as PNG, scan/photo as JPEG (see `images`).
    image_dpi: sheet resolution (150 = the renderer's letter page at 1650 x 1275 px).
    signal_fs: stored signal rate; 250 Hz is what Beat and the prediction items use.
    seconds: the quality window kept per record.
    denoise: store the window denoised (the paper's Optimizer) instead of as recorded; a
        denoised signal no longer shows the recording's noise, so no signal-quality question
        is then asked. Measurements and prediction targets use the denoised window either way.
    shard_size: records per shard; a shard is the unit of atomic writes and resume.
    comparison_per_record: expected irrelevant pairs started per record.
    llm_url / llm_model / llm_key_env: optional OpenAI-compatible rewriting.
    limit: use only the first N records (quick builds).
    salt: key of the de-identification hashes and date shifts.
    min_per_answer: valid/test keep a multiple-choice kind only when every kept answer has at
    least this many items; thinner groups cannot be balanced without a measurable prior.
    """

    sources: tuple[str, ...]
    out: str
    workers: int = 1
    images_per_record: int = 1
    image_presets: tuple[str, ...] = IMAGE_PRESETS
    image_dpi: float = 100.0
    signal_fs: int = 250
    seconds: float = 10.0
    denoise: bool = False
    shard_size: int = 256
    comparison_per_record: float = 1.0
    seed: int = 0
    llm_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_key_env: str = "OPENAI_API_KEY"
    llm_requests_per_second: float = 5.0
    limit: int | None = None
    salt: str = "heartcare"
    min_per_answer: int = 5
    resume: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "image_presets", tuple(self.image_presets))
        for source in self.sources:
            kind, _, path = source.partition(":")
            if kind not in SOURCE_KINDS or not path:
                raise ConfigError(source, f"a source is KIND:PATH with KIND in {', '.join(SOURCE_KINDS)}")
        if self.workers < 1:
            raise ConfigError(None, f"workers must be >= 1, got {self.workers}")
        if self.images_per_record < 0:
            raise ConfigError(None, f"images_per_record must be >= 0, got {self.images_per_record}")
        unknown = [p for p in self.image_presets if p not in IMAGE_PRESETS]
        if unknown or not self.image_presets:
            raise ConfigError(None, f"image presets must be among {', '.join(IMAGE_PRESETS)}, got {unknown or 'none'}")
        if self.signal_fs < 50:
            raise ConfigError(None, f"signal_fs must be >= 50 Hz, got {self.signal_fs}")
        if self.min_per_answer < 1:
            raise ConfigError(None, f"min_per_answer must be >= 1, got {self.min_per_answer}")
        if self.seconds < 6:
            raise ConfigError(None, "seconds must be >= 6 (4-s context + 2-s target)")
        if self.shard_size < 1:
            raise ConfigError(None, f"shard_size must be >= 1, got {self.shard_size}")
        if not 0 <= self.comparison_per_record <= 1:
            raise ConfigError(None, "comparison_per_record must be in 0..1")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(None, f"limit must be >= 1, got {self.limit}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `resume` and `out` are how a build ran, not what it built."""
        data = asdict(self)
        data.pop("resume")
        data.pop("out")
        data["sources"] = list(self.sources)
        data["image_presets"] = list(self.image_presets)
        return data

    def fingerprint(self) -> str:
        """The config as canonical JSON; resume refuses a folder built with another one."""
        data = self.to_dict()
        data.pop("workers")  # worker count changes speed, never content
        return json.dumps(data, sort_keys=True)
