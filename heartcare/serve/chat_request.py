"""An OpenAI chat-completions request body -> a HeartcareGPT `Question`, refusing what it cannot honour.

Content parts: `text`; `image_url` with a base64 `data:` URL (a picture: image stream only);
`input_ecg` `{"data": BASE64, "format": ..., "fs": HZ}` (modelled on `input_audio`); `file`
`{"file_id": ID}` of an upload made through `/v1/files` or the page. Every ECG part of the
user turns reaches the model, in order; the question is the text of the last user turn.
HeartcareGPT is trained on single questions, so earlier text turns are not shown to it
(the page re-sends the ECGs with every question). Decoding is greedy: `temperature` and
`top_p` are accepted and have no effect; `n` > 1 is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from heartcare.errors import HeartcareError
from heartcare.model.ask import Question
from heartcare.serve.api_errors import ApiError, from_heartcare
from heartcare.serve.store import UploadStore
from heartcare.serve.uploads import Upload, decode

DATA_URL = re.compile(r"^data:(?P<mime>[\w.+/-]+)?(;[\w-]+=[\w.-]+)*;base64,(?P<data>.*)$", re.DOTALL)
DEFAULT_MAX_TOKENS = 256


@dataclass
class ChatRequest:
    question: Question
    stream: bool
    model: str


def _base64(value: Any, param: str) -> bytes:
    if not isinstance(value, str):
        raise ApiError(400, f"{param} must be a base64 string", "invalid_value", param)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"{param} is not valid base64 ({error})", "invalid_value", param) from error


def _upload(part: dict[str, Any], param: str, store: UploadStore, max_bytes: int) -> Upload:
    kind = part.get("type")
    try:
        if kind == "image_url":
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else part.get("image_url")
            if not isinstance(url, str):
                raise ApiError(400, "image_url.url is missing", "invalid_value", param)
            match = DATA_URL.match(url)
            if match is None:
                # No outbound fetches: a server that downloads what a request names can be made to reach anything.
                raise ApiError(400, "only base64 data: URLs are accepted for images; this server never fetches http(s) URLs",
                               "url_not_allowed", param)
            upload = decode([("image_url", _base64(match["data"], param))], None, max_bytes)
            if upload.kind != "picture":
                raise ApiError(400, f"image_url holds {upload.format}, not a PNG/JPEG picture", "invalid_value", param)
            return upload
        if kind == "input_ecg":
            body = part.get("input_ecg")
            if not isinstance(body, dict):
                raise ApiError(400, "input_ecg must be an object with data, format and (for npy/csv) fs", "invalid_value", param)
            fs = body.get("fs")
            if fs is not None and (not isinstance(fs, int | float) or isinstance(fs, bool) or fs <= 0):
                raise ApiError(400, "input_ecg.fs must be a positive number (Hz)", "invalid_value", param)
            declared = body.get("format")
            if declared not in ("dicom", "wfdb-zip", "npy", "csv", "pdf", "xml"):
                raise ApiError(400, "input_ecg.format must be one of dicom, wfdb-zip, npy, csv, pdf, xml", "invalid_value", param)
            upload = decode([(f"input_ecg.{declared}", _base64(body.get("data"), param))], fs, max_bytes, declared)
            if upload.kind != "ecg":
                raise ApiError(400, "input_ecg holds a picture; send it as image_url", "invalid_value", param)
            return upload
        if kind == "file":
            file_id = (part.get("file") or {}).get("file_id") if isinstance(part.get("file"), dict) else None
            upload = store.get(file_id) if isinstance(file_id, str) else None
            if upload is None:
                raise ApiError(404, f"no uploaded file {file_id!r} (uploads expire; upload it again)", "file_not_found", param)
            return upload
    except HeartcareError as error:
        raise from_heartcare(error, param) from error
    raise ApiError(400, f"unsupported content part type {kind!r}; use text, image_url, input_ecg or file", "invalid_value", param)


def parse(body: Any, store: UploadStore, max_bytes: int, max_tokens_limit: int, served_name: str) -> ChatRequest:
    """Validate a chat request and decode its ECGs (raises `ApiError` with the offending parameter)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model is not None and model != served_name:
        raise ApiError(404, f"model {model!r} is not served here; GET /v1/models lists {served_name!r}", "model_not_found", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", "invalid_value", "messages")
    if body.get("n", 1) != 1:
        raise ApiError(400, "n must be 1: decoding is greedy, every choice would be the same", "invalid_value", "n")
    limit = body.get("max_completion_tokens", body.get("max_tokens")) or DEFAULT_MAX_TOKENS
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= max_tokens_limit:
        raise ApiError(400, f"max_tokens must be an integer in 1..{max_tokens_limit}", "invalid_value", "max_tokens")
    system, question, ecgs = None, None, []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise ApiError(400, f"messages[{index}] needs a role of system, user or assistant", "invalid_value", f"messages[{index}]")
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if parts is None and message["role"] == "assistant":
            continue
        if not isinstance(parts, list):
            raise ApiError(400, f"messages[{index}].content must be a string or a list of parts", "invalid_value", f"messages[{index}].content")
        texts = []
        for number, part in enumerate(parts):
            param = f"messages[{index}].content[{number}]"
            if not isinstance(part, dict):
                raise ApiError(400, f"{param} must be an object", "invalid_value", param)
            if part.get("type") == "text":
                if not isinstance(part.get("text"), str):
                    raise ApiError(400, f"{param}.text must be a string", "invalid_value", param)
                texts.append(part["text"])
            elif message["role"] != "user":
                raise ApiError(400, f"{param}: only user messages may carry ECGs or pictures", "invalid_value", param)
            else:
                upload = _upload(part, param, store, max_bytes)
                ecgs.append((upload.ecg, upload.picture))
        if message["role"] in ("system", "developer"):
            system = "\n".join(texts)
        elif message["role"] == "user":
            question = "\n".join(texts)
    if not question or not question.strip():
        raise ApiError(400, "the last user message has no text question", "invalid_value", "messages")
    return ChatRequest(Question(question, ecgs, limit, system), bool(body.get("stream", False)), served_name)
