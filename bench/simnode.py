"""A light simulated node that speaks the real node wire protocol, many per process.

The real `NodeDaemon` carries a backend, a config file and an HTTP client each; ten
thousand of them will not fit one benchmark process. A `SimNode` keeps only what the
control plane sees: a node key, a signed `POST /api/v1/node/register`, signed heartbeats
(`POST /api/v1/heartbeat`, every interval the control plane asks for), and the signed
WebSocket job channel on which it answers each `JobAssignment` at once with one
`JobToken` and a `JobDone` carrying real counts of what it sent. It records when each
assignment arrived, keyed by the tag the load client put in the prompt, so dispatch
latency can be measured on one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

from websockets.asyncio.client import ClientConnection, connect

from bench.httpclient import Connection
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from infernet.protocol.wire import (
    NODE_CHANNEL_PATH,
    Heartbeat,
    JobDone,
    JobToken,
    UsageReport,
)


class SimNodeError(Exception):
    """The control plane refused a simulated node; the message says at which step."""


class SimPool:
    """A few keep-alive connections that every simulated node's requests share, as a
    fleet of nodes behind one NAT or proxy would: the control plane checks each request's
    signature, not which connection carried it. Without it, each heartbeat of 10,000 nodes
    would open and close a TCP connection on both sides of the benchmark."""

    def __init__(self, port: int, size: int = 16) -> None:
        self.port = port
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        self.users = 0  # nodes that joined through this pool and have not stopped
        for _ in range(size):
            self._free.put_nowait(Connection("127.0.0.1", port))

    async def post(self, key: NodeKey, path: str, body: bytes) -> tuple[int, bytes]:
        conn = await self._free.get()
        try:  # signed at the last moment: a request waiting for a connection stays fresh
            headers = {"content-type": "application/json", **sign_request(key, "POST", path, body)}
            response = await conn.request("POST", path, body, headers)
            return response.status, await response.read()
        except BaseException:
            await conn.close()  # a half-read answer must not leak into the next request
            raise
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        while not self._free.empty():
            await self._free.get_nowait().close()

    async def release(self) -> None:
        """One user stopped; the last one closes the connections."""
        self.users -= 1
        if self.users == 0:
            await self.close()


class SimNode:
    def __init__(self, pool: SimPool, beat: Heartbeat, arrivals: dict[str, float]) -> None:
        self.pool = pool
        self.port = pool.port
        self.key = NodeKey.generate()
        self.beat = beat
        self.arrivals = arrivals
        self.node_id = ""
        self.interval_s = 30.0
        self._channel: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _post(self, path: str, body: bytes) -> dict[str, object]:
        status, reply = await self.pool.post(self.key, path, body)
        if status != 200:
            raise SimNodeError(f"{path} answered {status}: {reply[:200]!r}")
        parsed: dict[str, object] = json.loads(reply)
        return parsed

    async def start(self) -> None:
        """Register, beat once, open the job channel; then beat and serve in the background."""
        body = json.dumps({"public_key": self.key.public_hex, "name": "sim"}).encode()
        self.node_id = str((await self._post("/api/v1/node/register", body))["node_id"])
        await self.heartbeat()
        headers = sign_request(self.key, "GET", NODE_CHANNEL_PATH)
        self._channel = await connect(
            f"ws://127.0.0.1:{self.port}{NODE_CHANNEL_PATH}",
            additional_headers=headers,
            ping_interval=20,
            open_timeout=60,
        )
        self._tasks = [
            asyncio.create_task(self._serve(self._channel)),
            asyncio.create_task(self._beat_loop()),
        ]
        self.pool.users += 1

    async def heartbeat(self) -> None:
        reply = await self._post("/api/v1/heartbeat", self.beat.model_dump_json().encode())
        self.interval_s = float(str(reply.get("heartbeat_interval_s", 30.0)))

    async def _beat_loop(self) -> None:
        await asyncio.sleep(random.uniform(0, self.interval_s))
        while True:
            with contextlib.suppress(SimNodeError, OSError):
                await self.heartbeat()
            await asyncio.sleep(self.interval_s)

    async def _serve(self, channel: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for raw in channel:
                message = json.loads(raw)
                if message.get("type") != "job":
                    continue
                tag = message["messages"][-1]["content"]
                self.arrivals[tag] = time.perf_counter()
                ids = {"job_id": message["job_id"], "attempt": message.get("attempt", 1)}
                await channel.send(JobToken(text="ok", **ids).model_dump_json())
                usage = UsageReport(prompt_tokens=len(tag.split()), completion_tokens=1)
                await channel.send(JobDone(usage=usage, **ids).model_dump_json())

    @property
    def connected(self) -> bool:
        return self._channel is not None and not all(t.done() for t in self._tasks[:1])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
        if self._tasks:
            self._tasks = []
            await self.pool.release()
