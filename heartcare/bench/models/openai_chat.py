"""`openai:URL`: any OpenAI-compatible chat endpoint as a bench model (served HeartcareGPT, vLLM, llama.cpp, Ollama).

URL is the base URL, e.g. `openai:http://127.0.0.1:8000/v1`. One chat request per item:
system = `prompt.SYSTEM_PROMPT`; user content = one part per ECG of the item, in order,
then the text part `prompt.user_text(item)`; `max_tokens = prompt.max_new_tokens(item)`,
temperature 0. Options (context.options): "openai_model" (default: the first id of
GET /v1/models), "api_key_env" (OPENAI_API_KEY; local servers need no key), "timeout_s"
(60), "retries" (3), "backoff_s" (1.0), "concurrency" (4 requests in flight).

Conventions (our own `heartcare serve` follows them; other servers need not):
- An ECG ("S") is the part `{"type": "input_ecg", "input_ecg": {"data": BASE64, "format":
  "npy", "fs": HZ}}`, the base64 of a .npy file of float32 [12, samples] mV in the standard
  lead order: the whole stored record, or for signal prediction only the context window.
  It is sent only when the model's entry in GET /v1/models lists "ecg" in
  "input_modalities" (also read from "architecture.input_modalities"); otherwise items
  with a signal get `Output(not_applicable=...)`, reported apart, never scored as wrong.
- A picture ("I") is an `image_url` part with a data URL of the record's first image (for
  signal prediction: the context sheet `meta.image`). Items with images are not
  applicable only when "input_modalities" is given without "image". Images are always
  read from the local dataset; no http(s) URL is ever fetched.
- A signal-prediction answer comes back as an extra field of the response message,
  `"ecg_prediction": {"fs": 250, "leads": [12 names], "signal": [[...], ...]}` (mV);
  it becomes `Output.waveform` float32 [12, n] in the standard lead order at the item's fs.

Failures: each request is retried with backoff on 429/5xx, timeouts and connection
errors. If an item still fails, `respond` raises `EndpointError` once every request of
the batch has finished; the answers that did arrive are kept, so the runner's retry of the
batch, and then of each item alone, re-sends only the items that failed.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.bench.http_client import (
    EndpointError,
    RetryPolicy,
    chat_url,
    models_url,
    request_json,
)
from heartcare.bench.items import BenchItem, EcgRef
from heartcare.bench.models.base import ModelContext, Output
from heartcare.bench.prompt import SYSTEM_PROMPT, max_new_tokens, user_text
from heartcare.errors import ConfigError, DatasetLayoutError, HeartcareError

PREDICTION_FIELD = "ecg_prediction"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
NO_ECG = "endpoint does not accept ECG signals"
NO_IMAGE = "endpoint does not accept images"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """The endpoint's model that answers, and which ECG forms it takes."""

    id: str
    accepts_ecg: bool
    accepts_image: bool


def served_model(entries: list[dict[str, Any]], wanted: str | None, source: str) -> ServedModel:
    """Pick the wanted (or first) entry of a GET /v1/models listing and read its input modalities."""
    if wanted is None:
        if not entries or "id" not in entries[0]:
            raise ConfigError(source, "the endpoint lists no models; pass the model name as the openai_model option")
        wanted = str(entries[0]["id"])
    entry = next((entry for entry in entries if entry.get("id") == wanted), {})
    modalities = entry.get("input_modalities", (entry.get("architecture") or {}).get("input_modalities"))
    if modalities is None:
        return ServedModel(wanted, accepts_ecg=False, accepts_image=True)
    return ServedModel(wanted, accepts_ecg="ecg" in modalities, accepts_image="image" in modalities)


def prediction_waveform(field: Any, fs: float, source: str) -> np.ndarray:
    """float32 [12, n] mV at `fs` from an "ecg_prediction" field (leads reordered by name, resampled if needed)."""
    from heartcare.ecg.leads import STANDARD_LEADS, to_standard_leads

    if not isinstance(field, dict) or "signal" not in field:
        raise EndpointError(source, f'"{PREDICTION_FIELD}" must be an object with a "signal" array')
    try:
        signal = np.asarray(field["signal"], dtype=np.float32)
        leads = tuple(field.get("leads") or STANDARD_LEADS)
        field_fs = float(field.get("fs") or fs)
        if signal.ndim != 2 or signal.shape[1] == 0 or not np.isfinite(signal).all() or not field_fs > 0:
            raise ValueError(f"a finite [leads, samples] signal and a positive fs, got shape {signal.shape}, fs {field_fs}")
        standard = to_standard_leads(signal, leads, source)
    except (ValueError, TypeError, HeartcareError) as error:
        raise EndpointError(source, f'unusable "{PREDICTION_FIELD}": {error}') from None
    if not all(standard.present):
        missing = [name for name, present in zip(STANDARD_LEADS, standard.present, strict=True) if not present]
        raise EndpointError(source, f'"{PREDICTION_FIELD}" lacks lead(s) {", ".join(missing)}')
    if abs(field_fs - fs) > 1e-9:
        from heartcare.ecg.preprocess import resample
        from heartcare.ecg.record import Ecg

        return resample(Ecg(standard.signal, field_fs), fs).signal.astype(np.float32)
    return standard.signal


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


class OpenAIChatModel:
    """Answers items through an OpenAI-compatible /v1/chat/completions endpoint (see the module docstring)."""

    def __init__(self, arg: str | None, context: ModelContext) -> None:
        if not arg or not arg.startswith(("http://", "https://")):
            raise ConfigError(None, f"openai needs an endpoint URL, e.g. --model openai:http://127.0.0.1:8000/v1 (got {arg!r})")
        options = context.options
        self.name = f"openai:{arg}"
        self.url = arg
        self.dataset = context.dataset
        self.key_env = str(options.get("api_key_env", "OPENAI_API_KEY"))
        self.policy = RetryPolicy(float(options.get("timeout_s", 60)), int(options.get("retries", 3)), float(options.get("backoff_s", 1.0)))
        self.concurrency = int(options.get("concurrency", 4))
        if self.concurrency < 1:
            raise ConfigError(arg, f"concurrency must be >= 1, got {self.concurrency}")
        self.batch_size = self.concurrency * 4
        self.wanted_model = options.get("openai_model")
        self._served: ServedModel | None = None
        self._answered: dict[str, Output] = {}  # outputs of a batch that raised, kept for its retry
        self._lock = threading.Lock()

    @property
    def served(self) -> ServedModel:
        """The answering model, looked up once (GET /v1/models); the runner may record it."""
        if self._served is None:
            try:
                listing = request_json(models_url(self.url), None, self.policy, self.key_env)
                entries = [entry for entry in listing.get("data") or [] if isinstance(entry, dict)]
            except EndpointError:
                if self.wanted_model is None:
                    raise
                log.warning("%s: no model listing; assuming %s takes images but not ECG signals", self.url, self.wanted_model)
                entries = []
            self._served = served_model(entries, self.wanted_model, models_url(self.url))
        return self._served

    def respond(self, items: list[BenchItem]) -> list[Output]:
        """One Output per item, in order; raises EndpointError when any item failed after its retries."""
        served = self.served
        with self._lock:
            todo = list({item.id: item for item in items if item.id not in self._answered}.values())
        failures: list[tuple[BenchItem, Exception]] = []
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
                futures = [(item, pool.submit(self._answer, item, served)) for item in todo]
                for item, future in futures:
                    try:
                        output = future.result()
                    except Exception as error:  # recorded per item; the runner decides what to retry
                        failures.append((item, error))
                        continue
                    with self._lock:
                        self._answered[item.id] = output
        if failures:
            item, error = failures[0]
            raise EndpointError(self.url, f"{len(failures)} of {len(items)} item(s) failed; first, item {item.id}: {error}") from error
        with self._lock:
            outputs = [self._answered[item.id] for item in items]
            for item in items:
                self._answered.pop(item.id, None)
        return outputs

    def _not_applicable(self, item: BenchItem, served: ServedModel) -> str | None:
        kinds = {ref.modality for ref in item.ecgs}
        if "S" in kinds and not served.accepts_ecg:
            return NO_ECG
        if "I" in kinds and not served.accepts_image:
            return NO_IMAGE
        return None

    def _image_part(self, item: BenchItem, ref: EcgRef) -> dict[str, Any]:
        if item.task == "signal_prediction" and "image" in item.meta:
            path = Path(self.dataset.path) / item.meta["image"]
        else:
            paths = self.dataset.image_paths(ref.record_id)
            if not paths:
                raise DatasetLayoutError(self.dataset.path, f"record {ref.record_id} has no image for item {item.id}")
            path = Path(paths[0])
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None:
            raise DatasetLayoutError(path, f"unsupported image type {path.suffix!r}; expected one of {', '.join(IMAGE_TYPES)}")
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError as error:
            raise DatasetLayoutError(path, f"unreadable image: {error}") from error
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}

    def _signal_part(self, item: BenchItem, ref: EcgRef) -> dict[str, Any]:
        if item.task == "signal_prediction":
            signal, fs = self.dataset.prediction_context(item), float(item.meta["fs"])
        else:
            signal, fs = self.dataset.signal(ref.record_id)
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(signal, dtype=np.float32))  # [12, samples] mV
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return {"type": "input_ecg", "input_ecg": {"data": data, "format": "npy", "fs": _number(fs)}}

    def _answer(self, item: BenchItem, served: ServedModel) -> Output:
        reason = self._not_applicable(item, served)
        if reason is not None:
            return Output(not_applicable=reason)
        parts = []
        for ref in item.ecgs:
            if ref.modality not in ("S", "I"):
                raise DatasetLayoutError(self.dataset.path, f"item {item.id}: unknown ECG modality {ref.modality!r} (expected S or I)")
            parts.append(self._signal_part(item, ref) if ref.modality == "S" else self._image_part(item, ref))
        parts.append({"type": "text", "text": user_text(item)})
        body = {
            "model": served.id,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": parts}],
            "max_tokens": max_new_tokens(item),
            "temperature": 0,
        }
        url = chat_url(self.url)
        payload = request_json(url, body, self.policy, self.key_env)
        try:
            choice = payload["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise EndpointError(url, f"no message in the response for item {item.id}") from None
        waveform = None
        if item.task == "signal_prediction" and message.get(PREDICTION_FIELD) is not None:
            waveform = prediction_waveform(message[PREDICTION_FIELD], float(item.meta["fs"]), f"{url} (item {item.id})")
        text = message.get("content")
        return Output(
            text=None if text is None else str(text), waveform=waveform,
            extra={"model": served.id, "finish_reason": choice.get("finish_reason")},
        )
