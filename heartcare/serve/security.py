"""The optional bearer key: every API route needs it when `--api-key-env` is set; the page and /healthz do not."""

from __future__ import annotations

import hmac

from fastapi import Request

from heartcare.serve.api_errors import ApiError

OPEN_PATHS = ("/", "/healthz", "/favicon.ico", "/api/capabilities")


def check_key(request: Request) -> None:
    """Raise 401 unless the request carries `Authorization: Bearer KEY` (compared in constant time)."""
    expected = request.app.state.server.settings.api_key
    if expected is None or request.url.path in OPEN_PATHS:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    # compare_digest takes as long for a wrong first byte as for a wrong last one: no timing oracle on the key.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(401, "a valid API key is required: send 'Authorization: Bearer KEY'", "invalid_api_key")
