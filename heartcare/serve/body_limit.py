"""An ASGI wrapper that refuses request bodies above the upload limit before they are parsed or spooled to disk.

The multipart parser would otherwise write a file of any size to a temporary file first;
counting bytes as they arrive (Content-Length is checked up front, chunked bodies as they
stream) answers 413 without ever holding more than the limit.
"""

from __future__ import annotations

import json

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and form fields around the file itself


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send) -> None:
        limit_mb = (self.max_bytes - MULTIPART_OVERHEAD) / 2**20
        body = json.dumps({"error": {"message": f"upload is above the {limit_mb:g} MiB limit", "type": "invalid_request_error",
                                     "param": None, "code": "upload_too_large"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
