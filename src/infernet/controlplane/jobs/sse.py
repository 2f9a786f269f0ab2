"""Server-sent events in the Book's format: `data: {"text": ...}` pieces, then
`data: [DONE]`; on failure one `data: {"error", "message"}` event and no DONE.

Each event carries an `id:` (piece n has id n; the end, n + 1), so a client that
reconnects with `Last-Event-ID` resumes exactly after the last event it saw. A stream
opened by submitting (`stream: true`) names its job in `X-Infernet-Job-Id` and in the
first event's `job_id`, so the client can resume it and read its usage later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from json.encoder import encode_basestring

from fastapi.responses import StreamingResponse

from infernet.controlplane.bus.base import StreamEntry

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
JOB_HEADER = "X-Infernet-Job-Id"  # names the job of a stream opened by submitting it


# What json.dumps(..., ensure_ascii=False) writes, without the encoder it makes on every
# call given a non-default option (events are rendered per token): a str alone, any value.
json_text = encode_basestring
to_json = json.JSONEncoder(ensure_ascii=False).encode


def event(payload: object) -> str:
    return f"data: {to_json(payload)}\n\n"


def entry_event(entry: StreamEntry, job_id: str | None = None) -> str:
    """One entry as a Book event; `job_id`, when given, is added to its JSON."""
    named = {"job_id": job_id} if job_id else {}
    if entry.kind == "piece":
        body = to_json({"text": entry.text, **named}) if named else _piece(entry.text)
    elif entry.kind == "done":
        body = "[DONE]"
    else:
        body = to_json({"error": entry.code, "message": entry.text, **named})
    return f"id: {entry.seq}\ndata: {body}\n\n"


def _piece(text: str) -> str:
    return '{"text": ' + json_text(text) + "}"


async def entry_events(
    batches: AsyncIterator[list[StreamEntry]], job_id: str | None = None
) -> AsyncIterator[str]:
    """Book SSE from numbered stream entries: the entries that came together leave in one
    write, each its own event ([]: a keep-alive comment). With `job_id` (a stream opened
    by submitting), the first event names the job: a `job_id` field beside `text` (or
    `error`), which the Book's clients ignore."""
    async for batch in batches:
        if not batch:
            yield ": keep-alive\n\n"
            continue
        first, *rest = batch
        yield "".join([entry_event(first, job_id), *(entry_event(e) for e in rest)])
        job_id = None


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
