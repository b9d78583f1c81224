"""Errors as OpenAI's error JSON (`{"error": {"message", "type", "param", "code"}}`), for every route.

Clients written for OpenAI read `error.message` and the HTTP status; using the same shape on
the native routes lets the page handle every failure one way.
"""

from __future__ import annotations

from typing import Any

from heartcare.errors import HeartcareError, UploadTooLargeError

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               413: "invalid_request_error", 415: "invalid_request_error", 429: "rate_limit_error",
               503: "service_unavailable", 500: "server_error"}


class ApiError(Exception):
    """A request the server refuses, with its HTTP status."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}


def from_heartcare(error: HeartcareError, param: str | None = None) -> ApiError:
    """Bad input found by a reader or a model: 413 for size, 400 for the rest, the message naming the file."""
    if isinstance(error, UploadTooLargeError):
        return ApiError(413, str(error), "upload_too_large", param)
    return ApiError(400, str(error), "invalid_input", param)
