"""A lean HTTP/1.1 POST that streams a plain-HTTP engine's answer back line by line.

The node relays every token of every job, and beside a busy engine each CPU-millisecond
the relay spends is one the engine does not get. httpx (through httpcore, h11 and anyio)
costs several times more per streamed line than the engine spends making it, so
`openai_compat.stream_chat` uses this client for `http://` engines that no proxy sits in
front of, and httpx for everything else (TLS, proxies). Connections are kept alive
between requests, per httpx client, and dropped with that client.

Failures come out as httpx's own exception types (connect/read timeouts, transport and
protocol errors), so the caller maps them onto backend errors exactly as it does for httpx.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import httpx

_MAX_LINE = 2**22  # the longest line (or header block) accepted from an engine
_IDLE_PER_ENGINE = 32  # kept-alive connections per client, beyond which they are closed
_BLANK = ("", "\r")  # a line that ends an SSE event, nothing for a reader
_SKIPPED_HEADERS = {"host", "content-length", "connection", "accept-encoding", "content-type"}


_USABLE: WeakKeyDictionary[httpx.AsyncClient, bool] = WeakKeyDictionary()


def usable(client: httpx.AsyncClient) -> bool:
    """True when `client` talks plain HTTP straight to its engine (no proxy in between).
    Decided once per client, as httpx reads the proxy environment once, when the client is
    made (reading it again on every job was ~5 % of a node's CPU)."""
    known = _USABLE.get(client)
    if known is None:
        url = client.base_url
        direct = url.scheme == "http" and bool(url.host)
        known = _USABLE[client] = direct and not (
            client.trust_env and urllib.request.getproxies().get("http")
        )
    return known


@dataclass
class EngineResponse:
    """The status and headers of a streamed answer; `lines()` reads its body."""

    status_code: int
    headers: dict[str, str]
    _reader: asyncio.StreamReader
    _read_timeout: float | None
    complete: bool = False  # the whole body was read: the connection can serve another

    async def _read(self, coro: Coroutine[Any, Any, bytes]) -> bytes:
        try:
            async with asyncio.timeout(self._read_timeout):  # a timer, not a task, per read
                data = await coro
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the engine sent nothing within the read timeout") from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("the engine closed the connection mid-answer") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("the engine sent an over-long line") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        return data

    async def _chunks(self) -> AsyncIterator[bytes]:
        reader = self._reader
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            async for data in self._dechunked():
                yield data
        elif (length := self.headers.get("content-length")) is not None:
            yield await self._read(reader.readexactly(int(length)))
            self.complete = True
        else:
            while data := await self._read(reader.read(65536)):
                yield data

    async def _dechunked(self) -> AsyncIterator[bytes]:
        """A chunked body's data, all the chunks each read from the socket completes at
        once: one read (and one timer) per arrival, not two per chunk, and a node that
        fell behind its engine takes what piled up in one go."""
        buffer = b""
        while True:
            taken, at, ended = [], 0, False
            while (end := buffer.find(b"\r\n", at)) >= 0:
                size = _chunk_size(buffer, at, end)
                if size == 0:  # the last chunk, then the (empty) trailer's line end
                    ended = len(buffer) >= end + 4
                    break
                if len(buffer) < end + size + 4:
                    break
                taken.append(buffer[end + 2 : end + 2 + size])
                at = end + size + 4
            if taken:
                yield b"".join(taken)
            if ended:
                self.complete = len(buffer) == end + 4  # nothing after it: reusable
                return
            buffer = buffer[at:]
            if len(buffer) > _MAX_LINE:
                raise httpx.RemoteProtocolError("the engine sent an over-long chunk")
            data = await self._read(self._reader.read(65536))
            if not data:
                raise httpx.RemoteProtocolError("the engine closed the connection mid-answer")
            buffer += data

    async def line_batches(self) -> AsyncIterator[list[str]]:
        """The body's lines but blank ones (without their line ends), those completed by
        one arrival together: a stream has two lines per token (its `data:` and a blank
        one), and a step through an async generator per line was a third of a busy node's
        CPU per token. What arrived is decoded at once, up to its last line end (a
        character's boundary in UTF-8)."""
        pending = b""
        async for data in self._chunks():
            pending += data
            if cut := pending.rfind(b"\n") + 1:
                text, pending = pending[:cut].decode("utf-8", "replace"), pending[cut:]
                if lines := [ln.rstrip("\r") for ln in text.split("\n") if ln not in _BLANK]:
                    yield lines
            if len(pending) > _MAX_LINE:  # what is left is one line, not ended yet
                raise httpx.RemoteProtocolError("the engine sent an over-long line")
        if pending.strip():
            yield [pending.rstrip(b"\r").decode("utf-8", "replace")]

    async def text(self, limit: int = 4096) -> str:
        body = b""
        async for data in self._chunks():
            body += data
            if len(body) >= limit:
                break
        return body.decode("utf-8", "replace")


def _chunk_size(buffer: bytes, at: int, end: int) -> int:
    """The size on the chunk line `buffer[at:end]` (its extensions, if any, ignored)."""
    try:
        return int(buffer[at:end], 16)  # the common line: hex digits alone
    except ValueError:
        pass
    try:
        return int(buffer[at:end].split(b";", 1)[0].strip(), 16)
    except ValueError as exc:
        raise httpx.RemoteProtocolError("bad chunk size from the engine") from exc


def _request_head(client: httpx.AsyncClient, path: str, length: int) -> bytes:
    url = client.base_url
    host = f"[{url.host}]" if ":" in url.host else url.host  # an IPv6 literal
    host = host if url.port is None else f"{host}:{url.port}"
    prefix = url.raw_path.decode("ascii").rstrip("/")
    lines = [
        f"POST {prefix}{path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    lines += [f"{k}: {v}" for k, v in client.headers.items() if k.lower() not in _SKIPPED_HEADERS]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Idle:
    """Kept-alive connections to engines, per httpx client (and gone with it)."""

    def __init__(self) -> None:
        self._by_client: WeakKeyDictionary[httpx.AsyncClient, list[Connection]] = (
            WeakKeyDictionary()
        )

    def take(self, client: httpx.AsyncClient) -> Connection | None:
        idle = self._by_client.get(client) or []
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    def give_back(self, client: httpx.AsyncClient, connection: Connection) -> None:
        idle = self._by_client.setdefault(client, [])
        if len(idle) < _IDLE_PER_ENGINE:
            idle.append(connection)
        else:
            connection[1].close()


async def _connect(client: httpx.AsyncClient) -> Connection:
    url = client.base_url
    port = url.port or 80
    try:
        async with asyncio.timeout(client.timeout.connect):
            return await asyncio.open_connection(url.host, port, limit=_MAX_LINE)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(f"no connection to {url.host}:{port} in time") from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc


async def _send(
    client: httpx.AsyncClient, connection: Connection, request: bytes
) -> EngineResponse:
    reader, writer = connection
    writer.write(request)
    response = EngineResponse(0, {}, reader, client.timeout.read)
    head = await response._read(reader.readuntil(b"\r\n\r\n"))
    response.status_code, response.headers = _parse_head(head[:-4])
    return response


@asynccontextmanager
async def post_stream(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], idle: _Idle | None = None
) -> AsyncIterator[EngineResponse]:
    """POST `payload` as JSON to `path` on `client`'s engine; the response, its body
    unread. A connection whose answer was read to the end is kept for the next request;
    a kept one the engine closed meanwhile is replaced once, before any answer came."""
    idle = idle or IDLE
    body = json.dumps(payload, ensure_ascii=False).encode()
    request = _request_head(client, path, len(body)) + body
    connection = idle.take(client)
    response: EngineResponse | None = None
    if connection is not None:
        try:
            response = await _send(client, connection, request)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            connection[1].close()  # closed while idle: nothing was answered, ask afresh
    if response is None:
        connection = await _connect(client)
        response = await _send(client, connection, request)
    assert connection is not None
    reusable = False
    try:
        yield response
        reusable = response.complete and response.headers.get("connection") != "close"
    finally:
        if reusable:
            idle.give_back(client, connection)
        else:
            connection[1].close()


# Kept-alive connections of every client in this process, held weakly by client.
IDLE = _Idle()
