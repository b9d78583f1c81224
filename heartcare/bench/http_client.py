"""A small JSON-over-HTTP client for OpenAI-compatible endpoints: timeouts, retries, backoff.

Shared by the `openai:URL` model adapter and the LLM judge. Transient failures (HTTP
408/409/425/429/5xx, refused or dropped connections, timeouts, a garbled body) are
retried with exponential backoff and a little jitter, so that concurrent workers do
not retry in lock-step; a `Retry-After` header is honoured up to a cap. Client errors
(400, 401, 404, ...) will not heal by retrying and raise at once. Built on urllib so
that requests may carry non-standard content parts (`input_ecg`) and responses extra
fields (`ecg_prediction`) without a client library in the way.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from heartcare.agent.rewrite import endpoint
from heartcare.errors import ConfigError, HeartcareError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
MAX_RETRY_AFTER_S = 30.0


class EndpointError(HeartcareError):
    """An OpenAI-compatible endpoint refused, failed or kept failing a request.

    status: the last HTTP status (None for connection errors and timeouts);
    body: the start of the error response, which often says why (e.g. unknown parameter).
    """

    def __init__(self, source: str, problem: str, status: int | None = None, body: str = "") -> None:
        super().__init__(source, problem)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class RetryPolicy:
    """timeout_s: per request (socket) timeout; retries: extra attempts; backoff_s: first wait, doubled each time."""

    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(None, f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.retries < 0:
            raise ConfigError(None, f"retries must be >= 0, got {self.retries!r}")
        if self.backoff_s < 0:
            raise ConfigError(None, f"backoff_s must be >= 0, got {self.backoff_s!r}")

    def wait_s(self, attempt: int) -> float:
        return self.backoff_s * 2**attempt * (1.0 + 0.25 * random.random())


def chat_url(url: str) -> str:
    """The chat-completions URL of a base, /v1 or full URL (HeartAgent's convention)."""
    return endpoint(url)


def models_url(url: str) -> str:
    """The model-listing URL (GET /v1/models) of a base, /v1 or chat-completions URL."""
    return endpoint(url).removesuffix("/chat/completions") + "/models"


def headers(key_env: str | None) -> dict[str, str]:
    """JSON headers plus a bearer token when the key variable is set (local servers need none)."""
    result = {"Content-Type": "application/json", "Accept": "application/json"}
    key = os.environ.get(key_env) if key_env else None
    if key:
        result["Authorization"] = f"Bearer {key}"
    return result


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def request_json(url: str, body: dict[str, Any] | None, policy: RetryPolicy, key_env: str | None = None) -> dict[str, Any]:
    """POST `body` (GET when None) to `url` and return the decoded JSON object, retrying transient failures."""
    data = None if body is None else json.dumps(body).encode()
    last_problem, last_status = "no attempt made", None
    for attempt in range(policy.retries + 1):
        wait = None
        request = urllib.request.Request(url, data, headers(key_env), method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout_s) as response:
                payload = json.loads(response.read())
            if not isinstance(payload, dict):
                raise ValueError("the response is not a JSON object")
            return payload
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")[:500] if error.fp else ""
            last_problem, last_status = f"HTTP {error.code} {error.reason}: {text}".strip(), error.code
            if error.code not in RETRYABLE_STATUS and error.code < 500:
                raise EndpointError(url, last_problem, error.code, text) from None
            wait = _retry_after(error)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            last_problem, last_status = f"{type(error).__name__}: {reason}", None
        except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
            last_problem, last_status = f"unreadable response: {error}", None
        if attempt < policy.retries:
            time.sleep(policy.wait_s(attempt) if wait is None else wait)
    raise EndpointError(url, f"failed after {policy.retries + 1} attempt(s); last error: {last_problem}", last_status)
