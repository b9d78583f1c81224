"""`GenerationEngine`: a bounded queue in front of the model, decoding waiting requests together.

Features (Beat, drawing, image encoder) are computed before a request is queued, on one
feature thread (`prepare_job`), so they overlap the decoding of the batch in flight. One
worker thread owns the generation. It takes the first waiting request, waits up to
`batch_wait_s` for more (up to `max_batch`), then decodes them as one left-padded batch,
each with its own token budget. Tokens stream back to each request's asyncio queue as
they are decoded. A full queue refuses at once (`QueueFullError` -> 429) instead of
piling up; a request whose client went away is dropped from the queue, or stopped
mid-batch, freeing its slot.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from heartcare.errors import HeartcareError
from heartcare.model.ask import Answer, Question, answer_encoded, finish, prepare
from heartcare.model.option_answers import question_options
from heartcare.serve.feature_memo import FeatureMemo
from heartcare.serve.metrics import Metrics

log = logging.getLogger(__name__)


class QueueFullError(Exception):
    """Every queue slot is taken."""


@dataclass
class Job:
    """One chat request in flight; `events` receives ("delta", str), then ("answer", Answer) or ("error", exc)."""

    question: Question
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    tokens: list[int] = field(default_factory=list)
    sent: str = ""
    prompt_tokens: int = 0
    encoded: Any = None  # the prompt with its features, when computed before queueing (see `prepare_job`)

    def emit(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))


class GenerationEngine:
    def __init__(self, model, metrics: Metrics, max_queue: int = 32, max_batch: int = 8, batch_wait_s: float = 0.02) -> None:
        self.model = model
        self.metrics = metrics
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self._waiting: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self._running = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="heartcare-generation", daemon=True)
        self.features = FeatureMemo()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def depth(self) -> int:
        return self._waiting.qsize() + self._running

    def prepare_job(self, job: Job) -> None:
        """Compute the job's features and prompt now, in the caller's thread (raises for an unusable ECG).

        The server calls this on its one feature thread before queueing, so the encoders of the
        next requests run while the worker decodes the current batch instead of after it.
        """
        job.encoded = prepare(self.model, job.question, features_of=self.features)

    @property
    def full(self) -> bool:
        return self._waiting.full()

    def submit(self, job: Job) -> None:
        try:
            self._waiting.put_nowait(job)
        except queue.Full as error:
            self.metrics.add_rejected()
            raise QueueFullError from error
        self.metrics.set_queue_depth(self.depth)

    def _next_batch(self) -> list[Job]:
        try:
            first = self._waiting.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._waiting.get(timeout=max(remaining, 0)) if remaining > 0 else self._waiting.get_nowait())
            except queue.Empty:
                break
        return [job for job in batch if not job.cancelled.is_set()]

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if not batch:
                continue
            self._running = len(batch)
            self.metrics.set_queue_depth(self.depth)
            try:
                self._decode(batch)
            except Exception as error:  # a model failure answers every request of the batch, never kills the worker
                log.exception("generation failed for a batch of %d", len(batch))
                for job in batch:
                    job.emit("error", error)
            finally:
                self._running = 0
                self.metrics.set_queue_depth(self.depth)

    def _decode(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        ready, encoded = [], []
        for job in batch:
            try:
                encoded.append(job.encoded or prepare(self.model, job.question, features_of=self.features))
            except HeartcareError as error:  # this request's ECG or prompt is unusable; the others go on
                job.emit("error", error)
                continue
            job.prompt_tokens = len(encoded[-1].input_ids)
            ready.append(job)
        if not ready:
            return

        def on_token(row: int, token: int) -> None:
            job = ready[row]
            job.tokens.append(token)
            text = self.model.tokenizer.decode(job.tokens, skip_special_tokens=False).lstrip()
            if not text.endswith("\ufffd") and text.startswith(job.sent):  # hold back half a UTF-8 character
                delta, job.sent = text[len(job.sent):], text
                if delta:
                    job.emit("delta", delta)

        chosen: dict[int, dict] = {}  # rows answered by scoring their offered options (GptConfig.closed_answers)
        token_lists = answer_encoded(self.model, encoded, [job.question.max_new_tokens for job in ready],
                                     on_token, lambda row: ready[row].cancelled.is_set(),
                                     options=[question_options(job.question.text) for job in ready], chosen=chosen)
        seconds = time.perf_counter() - started
        for row, (job, tokens) in enumerate(zip(ready, token_lists, strict=True)):
            self.metrics.add_tokens(len(tokens))
            if job.cancelled.is_set():
                continue
            text = self.model.tokenizer.decode(tokens, skip_special_tokens=False).lstrip()
            if text.startswith(job.sent) and len(text) > len(job.sent):  # what was held back as a possible half character
                job.emit("delta", text[len(job.sent):])
            try:
                answer: Answer = finish(self.model, job.question, tokens, seconds)
            except HeartcareError as error:
                job.emit("error", error)
                continue
            if row in chosen:
                answer.extra["options"] = chosen[row]["scores"]
            job.emit("answer", answer)
