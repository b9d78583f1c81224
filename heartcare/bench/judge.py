"""The LLM judge for generated ECG reports: the paper's 17-item weighted rubric via any OpenAI-compatible endpoint.

The judge sees the request, the reference report and the candidate, and answers one JSON
object {item_key: 0-100, ...} covering every rubric item (`rubric.yaml`); the report's
score is the weighted mean of the items (Heartcare Suite paper, "Judge rubric for
reports"). A reply that is not such an object is sent back with the reason and asked
again; after `format_retries` such rounds the item is recorded as failed, never guessed.
Valid verdicts are cached on disk by sha256(model + prompt), so a rerun costs nothing
and two runs with the same judge agree. The judge's model name is recorded by the caller.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from heartcare.atomic import write_atomic
from heartcare.bench.http_client import EndpointError, RetryPolicy, chat_url, request_json
from heartcare.errors import ConfigError

RUBRIC_FILE = Path(__file__).with_name("rubric.yaml")
SYSTEM = "You are a senior cardiologist grading machine-written 12-lead ECG reports against a reference report."
PROMPT = """Grade the candidate ECG report against the reference report on each rubric item, from 0 (fails the item entirely) to 100 (fully meets it).

Rubric items (key: what to check):
{rubric}

Request given to the writer:
{question}

Reference report:
<<<
{reference}
>>>

Candidate report:
<<<
{candidate}
>>>

Reply with one JSON object and nothing else, mapping every one of the {count} keys to a number from 0 to 100, e.g. {{"{first_key}": 80, ...}}."""
# Parameters some OpenAI-compatible servers reject with HTTP 400; dropped once when they do.
OPTIONAL_PARAMETERS = ("response_format", "temperature")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class RubricItem:
    key: str
    weight: float
    description: str


@dataclass(frozen=True)
class Rubric:
    version: int
    items: tuple[RubricItem, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.items)

    def total(self, scores: dict[str, float]) -> float:
        """The weighted mean (0-100) of item scores covering every key."""
        weight = sum(item.weight for item in self.items)
        return sum(item.weight * scores[item.key] for item in self.items) / weight


@lru_cache(maxsize=8)
def load_rubric(path: str | Path = RUBRIC_FILE) -> Rubric:
    """The rubric file parsed and checked (unique keys, positive weights)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
        items = tuple(RubricItem(str(entry["key"]), float(entry["weight"]), str(entry["description"])) for entry in data["items"])
        rubric = Rubric(version=int(data["version"]), items=items)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise ConfigError(path, f"unreadable judge rubric: {error!r}") from error
    if not items or len(set(rubric.keys)) != len(items) or any(not item.weight > 0 for item in items):
        raise ConfigError(path, "a judge rubric needs items with unique keys and positive weights")
    return rubric


@dataclass(frozen=True)
class JudgeConfig:
    """url: OpenAI-compatible base URL; model: the judge model; api_key_env: variable holding the key;
    cache_dir: verdict cache (None = no cache); concurrency: requests in flight;
    format_retries: re-asks after a reply that is not a valid verdict."""

    url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    cache_dir: str | Path | None = None
    timeout_s: float = 60.0
    retries: int = 4
    concurrency: int = 4
    backoff_s: float = 1.0
    format_retries: int = 2
    rubric_path: str | Path = RUBRIC_FILE

    def __post_init__(self) -> None:
        if not self.url or not self.model:
            raise ConfigError(None, "the judge needs an endpoint URL and a model name")
        if self.concurrency < 1 or self.format_retries < 0:
            raise ConfigError(self.url, f"judge concurrency must be >= 1 and format_retries >= 0, got {self.concurrency}, {self.format_retries}")
        RetryPolicy(self.timeout_s, self.retries, self.backoff_s)  # validates the numbers


@dataclass
class JudgeResult:
    """score: weighted rubric total 0-100 (None when judging failed); items: per-item scores; error: why it failed."""

    score: float | None
    items: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    cached: bool = False


def build_prompt(rubric: Rubric, question: str, reference: str, candidate: str) -> str:
    lines = "\n".join(f"- {item.key}: {item.description}" for item in rubric.items)
    return PROMPT.format(
        rubric=lines, question=question.strip(), reference=reference.strip(), candidate=candidate.strip(),
        count=len(rubric.items), first_key=rubric.items[0].key,
    )


def parse_verdict(text: str, rubric: Rubric) -> dict[str, float]:
    """Item scores from a judge reply (bare JSON, fenced JSON, or JSON amid prose); ValueError says what is wrong."""
    fenced = _FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        start, stop = body.find("{"), body.rfind("}")
        try:
            data = json.loads(body[start : stop + 1]) if 0 <= start < stop else None
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    missing = [key for key in rubric.keys if key not in data]
    if missing:
        raise ValueError(f"missing rubric keys: {', '.join(missing)}")
    scores: dict[str, float] = {}
    for key in rubric.keys:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 100:
            raise ValueError(f"{key} must be a number from 0 to 100, got {value!r}")
        scores[key] = float(value)
    return scores


class _Judge:
    """One judging session: shared policy, cache and the parameters this endpoint turned out to reject."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.rubric = load_rubric(config.rubric_path)
        self.policy = RetryPolicy(config.timeout_s, config.retries, config.backoff_s)
        self.url = chat_url(config.url)
        self.dropped: set[str] = set()
        self.lock = threading.Lock()

    def cache_file(self, prompt: str) -> Path | None:
        if self.config.cache_dir is None:
            return None
        digest = hashlib.sha256(f"{self.config.model}\x1f{SYSTEM}\x1f{prompt}".encode()).hexdigest()
        return Path(self.config.cache_dir) / digest[:2] / f"{digest}.json"

    def chat(self, messages: list[dict[str, str]]) -> str:
        while True:
            body: dict[str, Any] = {"model": self.config.model, "messages": messages, "temperature": 0,
                                    "response_format": {"type": "json_object"}}
            with self.lock:
                for name in self.dropped:
                    body.pop(name, None)
            try:
                payload = request_json(self.url, body, self.policy, self.config.api_key_env)
            except EndpointError as error:
                rejected = [name for name in OPTIONAL_PARAMETERS if name in body and error.status == 400 and name in error.body]
                if not rejected:
                    raise
                with self.lock:
                    self.dropped.update(rejected)
                continue
            try:
                return str(payload["choices"][0]["message"]["content"] or "")
            except (KeyError, IndexError, TypeError):
                raise EndpointError(self.url, f"no message in the response: {json.dumps(payload)[:300]}") from None

    def judge(self, question: str, reference: str, candidate: str | None) -> JudgeResult:
        if candidate is None:
            return JudgeResult(None, error="no candidate text")
        prompt = build_prompt(self.rubric, question, reference, candidate)
        cache = self.cache_file(prompt)
        if cache is not None and cache.is_file():
            try:
                scores = parse_verdict(json.loads(cache.read_text())["reply"], self.rubric)
                return JudgeResult(self.rubric.total(scores), scores, cached=True)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged cache entry is judged again and overwritten
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        problem = ""
        for _ in range(self.config.format_retries + 1):
            try:
                reply = self.chat(messages)
            except EndpointError as error:
                return JudgeResult(None, error=str(error))
            try:
                scores = parse_verdict(reply, self.rubric)
            except ValueError as error:
                problem = str(error)
                # Showing the model its own reply and the reason changes the prompt, so a
                # deterministic (temperature 0) judge can produce a different answer.
                messages = messages[:2] + [
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": f"That reply is invalid ({problem}). Reply with only the JSON object, "
                                                f"all {len(self.rubric.keys)} keys, numbers from 0 to 100."},
                ]
                continue
            if cache is not None:
                record = {"model": self.config.model, "rubric_version": self.rubric.version, "prompt": prompt, "reply": reply}
                write_atomic(cache, json.dumps(record))
            return JudgeResult(self.rubric.total(scores), scores)
        return JudgeResult(None, error=f"invalid verdict after {self.config.format_retries + 1} attempt(s): {problem}")


def judge_reports(
    config: JudgeConfig, questions: list[str], references: list[str], candidates: list[str | None]
) -> list[JudgeResult]:
    """One JudgeResult per candidate report, in order (None candidates fail without a request)."""
    if not len(questions) == len(references) == len(candidates):
        raise ConfigError(config.url, f"judge_reports got {len(questions)} questions, {len(references)} references, {len(candidates)} candidates")
    if not candidates:
        return []
    judge = _Judge(config)
    with ThreadPoolExecutor(max_workers=min(config.concurrency, len(candidates))) as pool:
        return list(pool.map(judge.judge, questions, references, candidates))
