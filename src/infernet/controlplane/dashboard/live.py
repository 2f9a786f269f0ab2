"""Live pages over server-sent events: re-render a page's fragments when something they
show changes, and send only the fragments whose HTML changed.

A stream wakes on the event-hub topics it names (a heartbeat, a status change) and at
least every `poll_s` seconds, for what has no event yet (command acknowledgements, job
rows: see events.py). The browser swaps each fragment in by element id
(static/dashboard.js). A stream ends after `lifetime_s`; EventSource reconnects on its own,
so a long-open tab never pins a connection forever.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.responses import StreamingResponse

from infernet.controlplane.jobs.sse import SSE_HEADERS
from infernet.controlplane.services import Services

Fragments = dict[str, str]
KEEPALIVE_S = 15.0


async def fragment_events(
    services: Services,
    render: Callable[[], Awaitable[Fragments]],
    topics: tuple[str, ...],
    *,
    poll_s: float = 1.0,
    lifetime_s: float = 300.0,
) -> AsyncIterator[str]:
    sent: Fragments = {}
    started = last_write = time.monotonic()
    yield "retry: 1000\n\n"
    async with services.events.subscribe(*topics) as subscription:
        while time.monotonic() - started < lifetime_s:
            fresh = await render()
            changed = {k: v for k, v in fresh.items() if sent.get(k) != v}
            if changed:
                sent.update(changed)
                last_write = time.monotonic()
                yield f"data: {json.dumps(changed)}\n\n"
            elif time.monotonic() - last_write > KEEPALIVE_S:
                last_write = time.monotonic()
                yield ": keep-alive\n\n"
            await subscription.next(timeout=poll_s)


def live_response(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
