"""Optional rewriting of answers through any OpenAI-compatible chat endpoint.

The paper polishes template text with an LLM for variety. Here every call is cached
on disk by the hash of (model, prompt), retried with exponential backoff, spaced by a
rate limit, and checked: a rewrite that drops any finding or number of the original
is rejected and the template text is kept, so labels can never drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError

PROMPT = (
    "Rewrite the following ECG {kind} in fluent clinical English with different wording. "
    "Keep every finding, every hedge (consistent with / likely / possible) and every number exactly. "
    "Reply with the rewritten text only.\n\n{text}"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def endpoint(url: str) -> str:
    """Accept a base URL, a /v1 URL or the full chat-completions URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return f"{url}/chat/completions" if url.endswith("/v1") else f"{url}/v1/chat/completions"


def keeps_labels(original: str, rewritten: str, terms: list[str]) -> bool:
    """True when every required term and every number of `original` survives."""
    lowered = rewritten.lower()
    if not rewritten.strip() or any(term.lower() not in lowered for term in terms):
        return False
    return sorted(_NUMBER.findall(original)) == sorted(_NUMBER.findall(rewritten))


@dataclass
class LlmRewriter:
    """A cached, rate-limited, retrying client; `stats` counts what happened."""

    url: str
    model: str = "gpt-4o-mini"
    key_env: str = "OPENAI_API_KEY"
    cache_dir: Path = Path("llm_cache")
    requests_per_second: float = 5.0
    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    stats: dict[str, int] = field(default_factory=lambda: {"requested": 0, "cached": 0, "accepted": 0, "rejected": 0, "failed": 0})
    _last_request: float = 0.0

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise ConfigError(self.url, "requests_per_second must be > 0")
        self.cache_dir = Path(self.cache_dir)

    def _cache_file(self, prompt: str) -> Path:
        digest = hashlib.sha256(f"{self.model}\x1f{prompt}".encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def _post(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0.7})
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        for attempt in range(self.retries + 1):
            wait = self._last_request + 1.0 / self.requests_per_second - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()
            request = urllib.request.Request(endpoint(self.url), body.encode(), headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    payload = json.loads(response.read())
                return str(payload["choices"][0]["message"]["content"]).strip()
            except urllib.error.HTTPError as error:
                if error.code not in (408, 409, 429) and error.code < 500:
                    raise  # a client error (bad key, bad model) will not heal by retrying
            except (urllib.error.URLError, TimeoutError, KeyError, IndexError, json.JSONDecodeError):
                pass
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise TimeoutError(f"{self.url}: no answer after {self.retries + 1} attempts")

    def complete(self, prompt: str) -> str | None:
        """The model's reply, from the cache when present; None when the endpoint failed."""
        cache = self._cache_file(prompt)
        if cache.is_file():
            self.stats["cached"] += 1
            return json.loads(cache.read_text())["reply"]
        self.stats["requested"] += 1
        try:
            reply = self._post(prompt)
        except (TimeoutError, urllib.error.HTTPError):
            self.stats["failed"] += 1
            return None
        write_atomic(cache, json.dumps({"model": self.model, "prompt": prompt, "reply": reply}).encode())
        return reply

    def rewrite(self, text: str, kind: str, terms: list[str]) -> str:
        """The rewrite when it keeps every label term and number, else `text` unchanged."""
        reply = self.complete(PROMPT.format(kind=kind, text=text))
        if reply is None:
            return text
        if keeps_labels(text, reply, terms):
            self.stats["accepted"] += 1
            return reply
        self.stats["rejected"] += 1
        return text


def rewrite_table(table: Any, config: Any, cache_dir: Path) -> tuple[Any, dict[str, int]]:
    """Rewrite open-QA and report answers of a QA table; other items stay as built."""
    import pyarrow as pa

    from heartcare.agent.vocabulary import describe_code
    from heartcare.sources.scp import statements

    rewriter = LlmRewriter(config.llm_url, config.llm_model, config.llm_key_env, cache_dir, config.llm_requests_per_second)
    answers = table.column("answer").to_pylist()
    tasks = table.column("task").to_pylist()
    metas = table.column("meta").to_pylist()
    known = statements()
    for index, (task, meta) in enumerate(zip(tasks, metas, strict=True)):
        if task not in ("open_qa", "report"):
            continue
        codes = [code for code in json.loads(meta).get("codes", []) if code in known]
        terms = [describe_code(code) for code in codes if describe_code(code).lower() in answers[index].lower()]
        answers[index] = rewriter.rewrite(answers[index], "report" if task == "report" else "answer", terms)
    column = table.schema.get_field_index("answer")
    return table.set_column(column, "answer", pa.array(answers, pa.string())), dict(rewriter.stats)
