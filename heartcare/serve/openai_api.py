"""The OpenAI-compatible routes: `/v1/models`, `/v1/chat/completions` (plain and SSE), `/v1/files`.

A signal-prediction answer carries the forecast as an extra field of the message (or of the
last stream chunk's delta): `"ecg_prediction": {"fs": 250, "leads": [...], "signal": [[mV, ...], ...]}`,
the convention the bench's `openai:URL` adapter reads.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.errors import HeartcareError
from heartcare.model.ask import Answer
from heartcare.serve.api_errors import ApiError, from_heartcare
from heartcare.serve.chat_request import ChatRequest, parse
from heartcare.serve.engine import Job, QueueFullError
from heartcare.serve.native_api import read_upload

router = APIRouter(prefix="/v1")
PREDICTION_FIELD = "ecg_prediction"


def _server(request: Request):
    return request.app.state.server


@router.get("/models")
def models(request: Request) -> dict[str, Any]:
    server = _server(request)
    data = []
    if server.model is not None:
        data.append({"id": server.model_name, "object": "model", "created": 0, "owned_by": "heartcare",
                     "input_modalities": server.input_modalities()})
    return {"object": "list", "data": data}


def _file_object(identifier: str, upload, created: float) -> dict[str, Any]:
    return {"id": identifier, "object": "file", "bytes": upload.size, "created_at": int(created), "filename": upload.name,
            "purpose": "user_data", "status": "processed", "heartcare": {"kind": upload.kind, "format": upload.format}}


@router.post("/files")
async def create_file(request: Request, file: Annotated[UploadFile, File()],
                      purpose: Annotated[str, Form()] = "user_data", fs: Annotated[float | None, Form()] = None) -> dict[str, Any]:
    server = _server(request)
    upload = await read_upload(server, [file], fs)
    identifier = server.store.add(upload)
    return _file_object(identifier, upload, time.time())


@router.get("/files/{file_id}")
def get_file(request: Request, file_id: str) -> dict[str, Any]:
    upload = _server(request).store.get(file_id)
    if upload is None:
        raise ApiError(404, f"no uploaded file {file_id!r}", "file_not_found")
    return _file_object(file_id, upload, time.time())


@router.delete("/files/{file_id}")
def delete_file(request: Request, file_id: str) -> dict[str, Any]:
    if not _server(request).store.remove(file_id):
        raise ApiError(404, f"no uploaded file {file_id!r}", "file_not_found")
    return {"id": file_id, "object": "file", "deleted": True}


def _prediction(answer: Answer) -> dict[str, Any] | None:
    if answer.prediction is None:
        return None
    return {"fs": answer.prediction_fs, "leads": list(STANDARD_LEADS),
            "signal": [[round(float(value), 5) for value in lead] for lead in answer.prediction]}


def _finish_reason(answer: Answer, budget: int) -> str:
    return "length" if answer.new_tokens >= budget else "stop"


@router.post("/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    server = _server(request)
    if server.engine is None:
        raise ApiError(503, "no language model is loaded: start `heartcare serve --model CKPT` to chat", "model_not_loaded")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the request body is not JSON ({error})", "invalid_json") from error
    chat: ChatRequest = await asyncio.to_thread(parse, body, server.store, server.settings.max_upload_bytes,
                                                server.settings.max_tokens_limit, server.model_name)
    job = Job(chat.question, asyncio.get_running_loop())
    if server.engine.full:  # refuse before spending the encoders on a request that cannot queue
        server.metrics.add_rejected()
        raise ApiError(429, "the generation queue is full; retry shortly", "queue_full")
    try:
        await asyncio.get_running_loop().run_in_executor(server.feature_pool, server.engine.prepare_job, job)
    except HeartcareError as error:
        raise from_heartcare(error) from error
    try:
        server.engine.submit(job)
    except QueueFullError as error:
        raise ApiError(429, "the generation queue is full; retry shortly", "queue_full") from error
    identifier = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    if chat.stream:
        return StreamingResponse(_stream(request, job, chat, identifier, created), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answer = await _await_answer(request, job)
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    prediction = _prediction(answer)
    if prediction is not None:
        message[PREDICTION_FIELD] = prediction
    return JSONResponse({
        "id": identifier, "object": "chat.completion", "created": created, "model": chat.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(answer, chat.question.max_new_tokens)}],
        "usage": {"prompt_tokens": job.prompt_tokens, "completion_tokens": answer.new_tokens,
                  "total_tokens": job.prompt_tokens + answer.new_tokens},
    })


def _raise(error: Exception) -> None:
    if isinstance(error, HeartcareError):
        raise from_heartcare(error) from error
    raise ApiError(500, f"generation failed: {type(error).__name__}", "generation_failed") from error


async def _await_answer(request: Request, job: Job) -> Answer:
    """The final answer; a client that hangs up cancels its request (freeing its slot in the queue or the batch)."""
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(job.events.get(), timeout=0.5)
            except TimeoutError:
                if await request.is_disconnected():
                    job.cancelled.set()
                    raise ApiError(499, "client closed the request", "client_closed") from None
                continue
            if kind == "answer":
                return value
            if kind == "error":
                _raise(value)
    except asyncio.CancelledError:
        job.cancelled.set()
        raise


def _chunk(identifier: str, created: int, model: str, delta: dict[str, Any], finish: str | None) -> str:
    body = {"id": identifier, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


async def _stream(request: Request, job: Job, chat: ChatRequest, identifier: str, created: int) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's chunk format, ending with `data: [DONE]`; errors arrive as an `error` event."""
    try:
        yield _chunk(identifier, created, chat.model, {"role": "assistant", "content": ""}, None)
        while True:
            kind, value = await job.events.get()
            if kind == "delta":
                yield _chunk(identifier, created, chat.model, {"content": value}, None)
            elif kind == "answer":
                delta: dict[str, Any] = {}
                prediction = _prediction(value)
                if prediction is not None:
                    delta[PREDICTION_FIELD] = prediction
                yield _chunk(identifier, created, chat.model, delta, _finish_reason(value, chat.question.max_new_tokens))
                break
            else:
                try:
                    _raise(value)
                except ApiError as error:
                    yield f"data: {json.dumps(error.body())}\n\n"
                break
        yield "data: [DONE]\n\n"
    finally:
        job.cancelled.set()  # a no-op after a finished answer; frees the slot when the client went away mid-stream
