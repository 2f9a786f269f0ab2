"""Errors the client API answers with, and the two shapes they are rendered in.

    ApiError(status, code, message)
    ├── BadRequest        400 bad_request
    ├── ContextLengthExceeded 400 context_length_exceeded (OpenAI's code, param "messages")
    ├── Unauthorized      401 unauthorized
    ├── InsufficientFunds 402 insufficient_funds
    ├── NotFound          404 not_found
    ├── Forbidden         403 forbidden
    ├── ModelNotFound     404 model_not_found
    ├── PreferencesUnmet  404 preferences_unmet (no node meets the routing preferences)
    ├── Conflict          409 conflict
    ├── PayloadTooLarge   413 payload_too_large
    ├── CrossSite         403 cross_site_request
    ├── RateLimited       429 rate_limited
    ├── NoCapacity        503 no_capacity
    ├── BackendsDown      503 backend_unavailable
    └── NotOffered        503 not_offered (a feature this control plane cannot run)

Native routes answer the Book's envelope `{"error": code, "error_message": text}`; routes
under `/v1` answer OpenAI's `{"error": {"message", "type", "code", "param"}}`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("infernet.controlplane")


class ApiError(Exception):
    status = 500
    code = "internal_error"
    param: str | None = None  # the request field at fault, in OpenAI's error shape

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class ContextLengthExceeded(ApiError):
    """The prompt, with room for one token of answer, fits no node serving the model."""

    status, code, param = 400, "context_length_exceeded", "messages"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class InsufficientFunds(ApiError):
    status, code = 402, "insufficient_funds"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class ModelNotFound(ApiError):
    status, code = 404, "model_not_found"


class PreferencesUnmet(ApiError):
    """No online node serving any of the models asked for meets the routing preferences;
    the message says which preference left out which nodes."""

    status, code, param = 404, "preferences_unmet", "provider"


class Conflict(ApiError):
    """The request is valid but the thing is no longer in a state that allows it."""

    status, code = 409, "conflict"


class StreamExpired(ApiError):
    """A resume (`Last-Event-ID` >= 1) of a stream whose event numbering is no longer
    kept: the rest cannot be told exactly, so none is guessed."""

    status, code = 410, "stream_expired"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"


class NoCapacity(ApiError):
    status, code = 503, "no_capacity"


class BackendsDown(ApiError):
    """Nodes serving the model are online, but every one's inference engine is down."""

    status, code = 503, "backend_unavailable"


class NotOffered(ApiError):
    status, code = 503, "not_offered"


class CrossSite(ApiError):
    """A state-changing dashboard request sent from a page on another site (CSRF)."""

    status, code = 403, "cross_site_request"


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
}


def openai_error(
    status: int, code: str, message: str, param: str | None = None
) -> dict[str, object]:
    """OpenAI's error body (also sent as the error chunk of a broken `/v1` stream)."""
    return {
        "error": {
            "message": message,
            "type": _OPENAI_TYPES.get(status, "server_error"),
            "code": code,
            "param": param,
        }
    }


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    if request.url.path.startswith("/v1/"):
        body = openai_error(status, code, message, param)
    else:
        body = {"error": code, "error_message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    return describe_errors(exc.errors())


def describe_errors(errors: Sequence[Any]) -> str:
    """pydantic's error list as one line: `field: what is wrong; ...`."""
    parts = []
    for err in errors:
        if err["type"] == "json_invalid":
            reason = err.get("ctx", {}).get("error", "invalid")
            position = err["loc"][-1]
            parts.append(
                f"body: not valid JSON ({reason}: character {position}); send a JSON object"
            )
            continue
        loc = ".".join(str(p) for p in err["loc"] if p != "body")
        parts.append(f"{loc or 'body'}: {err['msg']}")
    return "; ".join(parts) or "invalid request"


def _unstorable(request: Request, exc: DBAPIError) -> JSONResponse:
    # PostgreSQL text cannot hold NUL (SQLite can): the client's text, not our fault.
    if "0x00" in str(exc.orig):
        text = "Text fields may not contain NUL characters (\\u0000); remove them and retry."
        return error_response(request, 400, "bad_request", text)
    log.error("database error", exc_info=exc)  # unreachable, full, locked too long...
    text = "The control plane's database failed this request (its log says why); retry shortly."
    return error_response(request, 500, "internal_error", text)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    return error_response(request, exc.status_code, code, str(exc.detail))


def error_for(request: Request, exc: Exception) -> JSONResponse | None:
    """The answer to `exc` in the request's envelope; None for an exception none of these
    cases covers (a bug: the server's plain 500)."""
    if isinstance(exc, ApiError):
        return error_response(request, exc.status, exc.code, exc.message, exc.headers, exc.param)
    if isinstance(exc, RequestValidationError):
        return error_response(request, 400, "bad_request", _describe_validation(exc))
    if isinstance(exc, DBAPIError):
        return _unstorable(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_error(request, exc)
    return None


HANDLED = (ApiError, RequestValidationError, DBAPIError, StarletteHTTPException)


async def _handle(request: Request, exc: Exception) -> Response:
    answer = error_for(request, exc)
    if answer is None:  # registered for HANDLED only
        raise exc
    return answer


def register_handlers(app: FastAPI) -> None:
    """Every route's errors through `error_for` (the `/v1` lane calls it directly)."""
    for kind in HANDLED:
        app.add_exception_handler(kind, _handle)
