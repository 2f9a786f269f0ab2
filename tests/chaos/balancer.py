"""A small TCP load balancer for the chaos tests, on loopback: each new connection goes
to the next live backend in turn (a refused one is skipped), bytes are piped both ways.
It records when each node opens its job channel and to which backend, which is how the
tests see nodes reconnect elsewhere and measure the spread of their reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

from infernet.backends.engine_process import free_port
from infernet.protocol.wire import NODE_CHANNEL_PATH


@dataclass(frozen=True)
class ChannelOpen:
    at: float  # time.monotonic()
    node_key: str
    backend: int


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends, self.port = list(backends), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.channels: list[ChannelOpen] = []
        self._turn = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        )
        self._server = future.result(10)

    def close(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():  # stopped: its loop can go (an open one warns when freed)
            self._loop.close()

    async def _connect(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            port = self.backends[self._turn % len(self.backends)]
            self._turn += 1
            with contextlib.suppress(OSError):
                return (port, *await asyncio.open_connection("127.0.0.1", port))
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            return
        port, up_reader, up_writer = upstream
        first = await reader.read(65536)
        if first.startswith(f"GET {NODE_CHANNEL_PATH}".encode()):
            self.channels.append(ChannelOpen(time.monotonic(), _node_key(first), port))
        up_writer.write(first)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


def _node_key(request: bytes) -> str:
    for line in request.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-infernet-node":
            return value.strip()
    return ""


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            sink.close()
