"""Server-sent events in the Book's format: `data: {"text": ...}` pieces, then
`data: [DONE]`; on failure one `data: {"error", "message"}` event and no DONE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from infernet.controlplane.streams import JobStream, StreamError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def book_events(stream: JobStream, keepalive_s: float) -> AsyncIterator[str]:
    try:
        async for piece in stream.follow(idle_timeout=keepalive_s):
            yield ": keep-alive\n\n" if piece is None else event({"text": piece})
    except StreamError as exc:
        yield event({"error": exc.code, "message": exc.message})
        return
    yield "data: [DONE]\n\n"


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
