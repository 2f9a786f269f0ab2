"""How the control plane's HTTP server (uvicorn, h11 parser) refuses a request head
that is too large: 431 with the Book's envelope, answered so the client can read it.

Stock uvicorn, on a request head over h11's limit (``h11_max_incomplete_event_size``,
16 KiB by default), answers ``400 Invalid HTTP request received.`` in plain text and
closes the socket at once. The client is usually still sending the rest of its headers,
so its kernel sees unread data arrive at a closed socket and gets a TCP reset: most
clients (httpx, curl) report a connection error and never see any status. Here the
server answers 431 ``request_header_fields_too_large`` (RFC 6585) in the Book's error
envelope (OpenAI's on a ``/v1`` path, like every error there), half-closes, and keeps
reading and discarding what the client still sends (for at most `LINGER_S`, at most
`LINGER_BYTES`) before closing: a "lingering close", as nginx and Apache do. Other
malformed requests keep uvicorn's 400.

h11 enforces its limit only on a head still incomplete: one that arrives whole in a single
read (a fast client, loopback) would pass at any size. So the size of each new request
head is checked here too, before h11 sees it.

Use it with ``uvicorn.Config(app, http=LimitedH11Protocol, ...)``.
"""

from __future__ import annotations

import json

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # uvicorn's default too
from uvicorn.protocols.http.h11_impl import H11Protocol

from infernet.controlplane.errors import openai_error

LINGER_S = 2.0
LINGER_BYTES = 4 * 1024 * 1024
HEADERS_TOO_LARGE = "request_header_fields_too_large"


def _answer(limit: int, request_head: bytes) -> bytes:
    """The 431, in OpenAI's error envelope when the request line names a `/v1` path."""
    message = (
        f"The request line and headers are larger than this control plane accepts "
        f"({limit:,} bytes); send fewer or shorter headers (cookies, tokens)."
    )
    parts = request_head.split(b" ", 2)
    payload: dict[str, object] = {"error": HEADERS_TOO_LARGE, "error_message": message}
    if len(parts) == 3 and parts[1].startswith(b"/v1/"):
        payload = openai_error(431, HEADERS_TOO_LARGE, message)
    body = json.dumps(payload).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering an oversize request head with a readable 431."""

    _lingering = False
    _discarded = 0

    def _head_limit(self) -> int:
        configured = self.config.h11_max_incomplete_event_size
        return DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if configured is None else configured

    def send_400_response(self, msg: str) -> None:
        pending, _closed = self.conn.trailing_data
        if len(pending) <= self._head_limit():  # malformed, not oversize: uvicorn's 400
            super().send_400_response(msg)
            return
        self._refuse(bytes(pending))

    def _oversize_head(self, data: bytes) -> bool:
        """True when a new request's head in `data` (after what h11 holds) is too large."""
        if self.conn.their_state is not h11.IDLE:
            return False  # a body, or a request already being answered
        limit = self._head_limit()
        pending, _closed = self.conn.trailing_data
        buffered = bytes(pending) + data if pending else data
        if len(buffered) <= limit:
            return False
        end = buffered.find(b"\r\n\r\n", 0, limit + 4)
        return end == -1  # no end of head within the limit

    def _refuse(self, head: bytes) -> None:
        limit = self._head_limit()
        self.transport.write(_answer(limit, head[:limit]))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the client reads the whole answer, then EOF
        self._lingering = True
        self.loop.call_later(LINGER_S, self._stop_lingering)

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            if self._oversize_head(data):
                pending, _closed = self.conn.trailing_data
                self._refuse(bytes(pending) + data if pending else data)
                return
            super().data_received(data)
            return
        self._discarded += len(data)  # the rest of the refused head: read, then dropped
        if self._discarded > LINGER_BYTES:
            self._stop_lingering()

    def _stop_lingering(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
