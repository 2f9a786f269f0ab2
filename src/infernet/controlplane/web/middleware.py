"""ASGI middleware every request passes through.

- `BodySizeLimit` refuses a request body over `max_bytes` with 413 `payload_too_large`:
  at once when `Content-Length` says so, else while the body streams in (chunked uploads
  carry no length), before any handler sees a byte too many. `uploads` (a path prefix
  and a larger limit) is for file uploads: PUT requests under that prefix (training
  shards and adapters) may be that large.
- `RateLimitHeaders` copies the rate limiter's answer for this request (left on
  `request.state` by the `CallerDep` dependency) into `X-RateLimit-Limit`,
  `X-RateLimit-Remaining` and `X-RateLimit-Reset` on whatever response follows: JSON,
  an error envelope, or an SSE stream.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infernet.controlplane.api.deps import RATE_LIMIT_STATE
from infernet.controlplane.errors import PayloadTooLarge, error_response
from infernet.controlplane.limits.rates import Decision


def _too_large(max_bytes: int) -> str:
    return (
        f"The request body is larger than this control plane accepts ({max_bytes:,} bytes); "
        "send a shorter prompt or fewer messages."
    )


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, uploads: tuple[str, int] | None = None
    ) -> None:
        self.app, self.max_bytes, self.uploads = app, max_bytes, uploads

    def _limit(self, scope: Scope) -> int:
        if self.uploads is not None and scope["method"] == "PUT":
            prefix, limit = self.uploads
            if str(scope["path"]).startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)
        length = Request(scope).headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            response = error_response(
                Request(scope),
                PayloadTooLarge.status,
                PayloadTooLarge.code,
                _too_large(max_bytes),
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Raised inside the handler's body read: FastAPI passes HTTPException
                    # on, and the registered handler renders it as the 413 envelope.
                    raise HTTPException(PayloadTooLarge.status, _too_large(max_bytes))
            return message

        await self.app(scope, counted, send)


class RateLimitHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, object] = scope.setdefault("state", {})

        async def with_headers(message: Message) -> None:
            decision = state.get(RATE_LIMIT_STATE)
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
