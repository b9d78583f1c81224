"""`ServeSettings`: what one `heartcare serve` process is configured with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from heartcare.errors import ConfigError


@dataclass(frozen=True)
class ServeSettings:
    """model: a HeartcareGPT checkpoint folder (None = no chat); beat: a Beat checkpoint for forecasts
    when the model brings none. api_key_env names the environment variable holding the bearer key
    (None = no key). Limits bound memory: uploads kept, their size, queued generation requests."""

    model: Path | None = None
    beat: Path | None = None
    api_key_env: str | None = None
    max_upload_mb: float = 20.0
    max_uploads: int = 64  # uploads kept in memory; the least recently used goes first
    upload_ttl_s: float = 3600.0
    max_queue: int = 32  # waiting generation requests; one more is answered 429
    max_batch: int = 8  # requests decoded together
    batch_wait_s: float = 0.02  # how long the first request of a batch waits for company
    max_tokens_limit: int = 512
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_upload_mb <= 0 or self.max_uploads <= 0 or self.max_queue <= 0 or self.max_batch <= 0:
            raise ConfigError("serve", "max_upload_mb, max_uploads, max_queue and max_batch must be positive")
        if self.api_key_env is not None and not os.environ.get(self.api_key_env):
            raise ConfigError("serve", f"--api-key-env {self.api_key_env}: that environment variable is empty or unset")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None
