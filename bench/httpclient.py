"""A minimal HTTP/1.1 client on asyncio streams, for load generation on loopback.

The benchmark's client shares two cores with the servers it measures, so it must cost as
little as possible: no connection pool, no header objects, no decoding layers. It speaks
just what the measured servers answer with (Content-Length or chunked bodies, keep-alive)
and hands back the body line by line so SSE streams can be timed token by token. The same
client drives every target, so whatever it costs is the same on both sides of a ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


class HttpError(Exception):
    """The server closed early or answered something this client does not parse."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    _conn: Connection

    async def lines(self) -> AsyncIterator[bytes]:
        """The body split on newlines (without the newline), read as it arrives."""
        pending = b""
        async for data in self._conn.body(self.headers):
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending:
            yield pending

    async def read(self) -> bytes:
        return b"".join([data async for data in self._conn.body(self.headers)])


class Connection:
    """One keep-alive connection; requests on it run one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reusable = False

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or not self.reusable:
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 22
            )
        return self._reader, self._writer

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        """Send one request; a kept-alive connection the server has meanwhile closed is
        reopened and the request sent once more (as any HTTP client does)."""
        if self.reusable:
            try:
                return await self._request(method, path, body, headers)
            except HttpError:
                pass
        return await self._request(method, path, body, headers)

    async def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str] | None
    ) -> Response:
        reader, writer = await self._open()
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            head.append(f"content-length: {len(body)}")
        self.reusable = False
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status_line = await reader.readuntil(b"\r\n")
            raw_headers = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise HttpError(f"{method} {path}: connection closed before a response") from exc
        status = int(status_line.split(b" ", 2)[1])
        parsed: dict[str, str] = {}
        for line in raw_headers.decode("latin-1").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                parsed[name.strip().lower()] = value.strip()
        return Response(status, parsed, self)

    async def body(self, headers: dict[str, str]) -> AsyncIterator[bytes]:
        reader = self._reader
        assert reader is not None
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")
                        break
                    yield await reader.readexactly(size)
                    await reader.readexactly(2)
            elif "content-length" in headers:
                length = int(headers["content-length"])
                if length:
                    yield await reader.readexactly(length)
            else:
                while data := await reader.read(65536):
                    yield data
                return
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise HttpError("connection closed in the middle of the body") from exc
        self.reusable = headers.get("connection", "").lower() != "close"

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        self.reusable = False
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def post_json(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request on a fresh connection, closed afterwards."""
    conn = Connection(host, port)
    try:
        response = await conn.request("POST", path, body, headers)
        return response.status, await response.read()
    finally:
        await conn.close()
