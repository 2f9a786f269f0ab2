"""Server-sent events in the Book's format: `data: {"text": ...}` pieces, then
`data: [DONE]`; on failure one `data: {"error", "message"}` event and no DONE.

Each event carries an `id:` (piece n has id n; the end, n + 1), so a client that
reconnects with `Last-Event-ID` resumes exactly after the last event it saw."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from infernet.controlplane.bus.base import StreamEntry

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Names the job a response is about, so a client whose stream broke can resume it.
JOB_HEADER = "X-Infernet-Job-Id"


def event(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def entry_event(entry: StreamEntry) -> str:
    if entry.kind == "piece":
        body = json.dumps({"text": entry.text}, ensure_ascii=False)
    elif entry.kind == "done":
        body = "[DONE]"
    else:
        body = json.dumps({"error": entry.code, "message": entry.text}, ensure_ascii=False)
    return f"id: {entry.seq}\ndata: {body}\n\n"


async def entry_events(entries: AsyncIterator[StreamEntry | None]) -> AsyncIterator[str]:
    """Book SSE from numbered stream entries (None: a keep-alive comment)."""
    async for entry in entries:
        yield ": keep-alive\n\n" if entry is None else entry_event(entry)


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
