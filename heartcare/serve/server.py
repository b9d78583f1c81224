"""`Server`: what the routes share — settings, uploads, metrics, and the model and Beat when loaded."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from heartcare.serve.engine import GenerationEngine
from heartcare.serve.metrics import Metrics
from heartcare.serve.settings import ServeSettings
from heartcare.serve.store import UploadStore

log = logging.getLogger(__name__)


@dataclass
class Server:
    settings: ServeSettings
    store: UploadStore
    metrics: Metrics = field(default_factory=Metrics)
    model: object | None = None  # HeartcareGPT
    beat: object | None = None  # Beat for forecasts: the model's own, or --beat
    engine: GenerationEngine | None = None
    model_name: str | None = None
    beat_lock: threading.Lock = field(default_factory=threading.Lock)  # Beat runs outside the engine's thread
    # One thread computes chat requests' features: in parallel with decoding, never several at once
    # (each already uses torch's intra-op threads; more would only oversubscribe the cores).
    feature_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="heartcare-features"))

    @classmethod
    def load(cls, settings: ServeSettings, model=None) -> Server:
        """Load the checkpoints the settings name (or take an already loaded model, for tests and benchmarks)."""
        server = cls(settings, UploadStore(settings.max_uploads, settings.upload_ttl_s))
        if model is None and settings.model is not None:
            from heartcare.model.gpt import HeartcareGPT

            model = HeartcareGPT.from_pretrained(settings.model)
        if model is not None:
            model.eval()
            server.model = model
            server.model_name = Path(settings.model).name if settings.model else "heartcare-gpt"
            server.engine = GenerationEngine(model, server.metrics, settings.max_queue, settings.max_batch, settings.batch_wait_s)
            server.beat = model.beat
        if settings.beat is not None:
            from heartcare.beat.model import Beat

            server.beat = Beat.from_pretrained(settings.beat).eval()
        return server

    def capabilities(self) -> dict:
        needs_model = [] if self.model is not None else ["chat", "report", "compare"]
        return {"model": self.model_name, "chat": self.model is not None, "forecast": self.beat is not None,
                "needs_model": needs_model,
                "input_modalities": self.input_modalities(),
                "max_upload_mb": self.settings.max_upload_mb, "api_key_required": self.settings.api_key is not None}

    def input_modalities(self) -> list[str]:
        if self.model is None:
            return []
        modalities = ["text"]
        if self.model.config.uses_signal:
            modalities.append("ecg")
        if self.model.config.uses_image:
            modalities.append("image")
        return modalities
