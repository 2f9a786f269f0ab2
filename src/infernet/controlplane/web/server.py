"""The control plane's HTTP protocol: uvicorn's httptools (llhttp) parser, with a limit on
a request head's size that answers a readable 431.

httptools is uvicorn's faster parser (about a tenth of the control plane's CPU per relayed
job against h11, docs/benchmarks.md run 11), but it sets no limit on a request head: a
client could send headers without end. Here a head (request line and headers) over
`HEAD_LIMIT` bytes is refused with 431 ``request_header_fields_too_large`` (RFC 6585) in
the Book's error envelope (OpenAI's on a ``/v1`` path, like every error there), answered
so the client can read it: half-close, then keep reading and discarding what the client
still sends (for at most `LINGER_S`, at most `LINGER_BYTES`) before closing, a "lingering
close" as nginx and Apache do. Closing at once would make most clients (httpx, curl) see a
connection reset instead, their kernel receiving unread headers at a closed socket. Other
malformed requests keep uvicorn's 400.

The size is counted on the bytes as they arrive, before the parser sees them, from the
start of a head to its blank line; a head that arrives whole in one read is checked the
same as one that trickles in. The one approximation: a pipelined request's head that
starts in the same read as the end of the request before it is counted from its next read.

Use it with ``uvicorn.Config(app, http=LimitedHttpToolsProtocol, ...)``.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infernet.controlplane.errors import openai_error

HEAD_LIMIT = 16 * 1024  # h11's and uvicorn's default, which this server kept before
LINGER_S = 2.0
LINGER_BYTES = 4 * 1024 * 1024
HEADERS_TOO_LARGE = "request_header_fields_too_large"
_HEAD_END = b"\r\n\r\n"


def _answer(request_start: bytes) -> bytes:
    """The 431, in OpenAI's error envelope when the request line names a `/v1` path."""
    message = (
        f"The request line and headers are larger than this control plane accepts "
        f"({HEAD_LIMIT:,} bytes); send fewer or shorter headers (cookies, tokens)."
    )
    parts = request_start.split(b" ", 2)
    payload: dict[str, object] = {"error": HEADERS_TOO_LARGE, "error_message": message}
    if len(parts) >= 2 and parts[1].startswith(b"/v1/"):
        payload = openai_error(431, HEADERS_TOO_LARGE, message)
    body = json.dumps(payload).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering an oversize request head with a readable 431."""

    # Bytes of the current request head received so far; None while a body is read or a
    # request is being answered (no head is arriving).
    _head_bytes: int | None = 0
    _request_start = b""  # the head's first bytes, for the 431's envelope
    _tail = b""  # the last bytes of a head's previous read
    _lingering = False
    _discarded = 0

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)  # the rest of the refused head: read, then dropped
            if self._discarded > LINGER_BYTES:
                self._stop_lingering()
            return
        if self._head_bytes is not None:
            if self._head_bytes == 0:
                self._request_start = data[:256]
            window = self._tail + data  # the blank line may straddle two reads
            end = window.find(_HEAD_END)
            arrived = len(data) if end == -1 else end + len(_HEAD_END) - len(self._tail)
            if self._head_bytes + arrived > HEAD_LIMIT:
                self._refuse()
                return
            self._head_bytes += arrived
            self._tail = window[-3:] if end == -1 else b""
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes, self._tail = 0, b""  # what arrives next is the next request's head
        super().on_message_complete()

    def _refuse(self) -> None:
        self.transport.write(_answer(self._request_start))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the client reads the whole answer, then EOF
        self._lingering = True
        self.loop.call_later(LINGER_S, self._stop_lingering)

    def _stop_lingering(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
