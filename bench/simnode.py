"""A light simulated node that speaks the real node wire protocol, many per process.

The real `NodeDaemon` carries a backend, a config file and an HTTP client each; ten
thousand of them will not fit one benchmark process. A `SimNode` keeps only what the
control plane sees: a node key, a signed `POST /api/v1/node/register`, signed heartbeats
(`POST /api/v1/heartbeat`, every interval the control plane asks for), and the signed
WebSocket job channel on which it answers each `JobAssignment` at once with one
`JobToken` and a `JobDone` carrying real counts of what it sent. It records when each
assignment arrived, keyed by the tag the load client put in the prompt, so dispatch
latency can be measured on one clock.

The benchmark's client shares two cores with the control plane it measures, so a node
must cost the client far less than it costs the server, or the row measures the client:
keys and heartbeat bodies are made before the timed ramp (`SimNode.prepare`); a request
is signed with a keypair made once (`FastSigner`: the same BIP-340 signature, without
re-deriving the keypair and re-verifying each one); the job channel is a bare asyncio
protocol (`JobChannel`: WebSocket frames by hand, no task, no keep-alive timer of its
own; it answers the server's pings); and one `Beater` task sends every node's heartbeats
when due, instead of a sleeping task per node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import os
import random
import time
from collections.abc import Callable

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from bench.httpclient import Connection
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import AUTH_HEADER, NODE_HEADER, AuthHeader, request_digest
from infernet.protocol.wire import NODE_CHANNEL_PATH, Heartbeat, JobDone, JobToken, UsageReport

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA


class SimNodeError(Exception):
    """The control plane refused a simulated node; the message says at which step."""


class FastSigner:
    """`sign_request`'s headers for one key, from a secp256k1 keypair made once.

    coincurve's `sign_schnorr` rebuilds the keypair and verifies its own signature on
    every call (three times the work of signing); the control plane verifies anyway."""

    def __init__(self, key: NodeKey) -> None:
        self.public_hex = key.public_hex
        self._keypair = ffi.new("secp256k1_keypair *")
        secret = bytes.fromhex(key.private_hex)
        if not lib.secp256k1_keypair_create(GLOBAL_CONTEXT.ctx, self._keypair, secret):
            raise SimNodeError("secp256k1 refused a generated key")

    def headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        nonce, timestamp = os.urandom(16).hex(), int(time.time())
        digest = request_digest(method, path, body, nonce, timestamp)
        signature = ffi.new("unsigned char[64]")
        aux = os.urandom(32)
        if not lib.secp256k1_schnorrsig_sign32(
            GLOBAL_CONTEXT.ctx, signature, digest, self._keypair, aux
        ):
            raise SimNodeError("secp256k1 failed to sign")
        auth = AuthHeader(bytes(ffi.buffer(signature, 64)), nonce, timestamp).render()
        return {AUTH_HEADER: auth, NODE_HEADER: self.public_hex}


class SimPool:
    """A few keep-alive connections that every simulated node's requests share, as a
    fleet of nodes behind one NAT or proxy would: the control plane checks each request's
    signature, not which connection carried it. Without it, each heartbeat of 10,000 nodes
    would open and close a TCP connection on both sides of the benchmark."""

    def __init__(self, port: int, size: int = 16) -> None:
        self.port = port
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        self.users = 0  # nodes that joined through this pool and have not stopped
        self.beater = Beater(self)
        for _ in range(size):
            self._free.put_nowait(Connection("127.0.0.1", port))

    async def post(self, signer: FastSigner, path: str, body: bytes) -> tuple[int, bytes]:
        conn = await self._free.get()
        try:  # signed at the last moment: a request waiting for a connection stays fresh
            headers = {"content-type": "application/json", **signer.headers("POST", path, body)}
            response = await conn.request("POST", path, body, headers)
            return response.status, await response.read()
        except BaseException:
            await conn.close()  # a half-read answer must not leak into the next request
            raise
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        self.beater.stop()
        while not self._free.empty():
            await self._free.get_nowait().close()

    async def release(self) -> None:
        """One user stopped; the last one closes the connections."""
        self.users -= 1
        if self.users == 0:
            await self.close()


class Beater:
    """Every node's heartbeats from one task: a heap of (when due, node), each node beating
    every interval the control plane asked for, first at a random point of it."""

    def __init__(self, pool: SimPool) -> None:
        self.pool = pool
        self._due: list[tuple[float, int, SimNode]] = []
        self._count = 0  # tie-breaker: nodes do not compare
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._beating: set[asyncio.Task[None]] = set()
        self.failed = 0

    def add(self, node: SimNode) -> None:
        when = time.monotonic() + random.uniform(0, node.interval_s)
        self._count += 1
        heapq.heappush(self._due, (when, self._count, node))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        if self._due[0][2] is node:
            self._wake.set()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, node = heapq.heappop(self._due)
                if node.running:
                    task = asyncio.create_task(self._beat(node))
                    self._beating.add(task)
                    task.add_done_callback(self._beating.discard)
            delay = self._due[0][0] - now if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _beat(self, node: SimNode) -> None:
        assert node.signer is not None
        try:
            status, _ = await self.pool.post(node.signer, "/api/v1/heartbeat", node.beat_body)
        except OSError:
            status = 0
        self.failed += status != 200
        if node.running:
            self._count += 1
            heapq.heappush(self._due, (time.monotonic() + node.interval_s, self._count, node))
            if self._due[0][2] is node:
                self._wake.set()


class JobChannel(asyncio.Protocol):
    """The node's WebSocket job channel, client side, framed by hand (RFC 6455): what the
    control plane sends is text frames, pings and a close; each text frame is handed to
    `on_message`, which may answer with `send` at once (no task, no queue)."""

    def __init__(self, request: bytes, on_message: Callable[[JobChannel, bytes], None]) -> None:
        self._request, self._on_message = request, on_message
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._message = bytearray()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(SimNodeError(f"job channel closed before opening: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self.opened.done():
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buf[: self._buf.find(b"\r\n")])
            del self._buf[: end + 4]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(SimNodeError(f"job channel answered {status!r}"))
                self.close()
                return
            self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self._buf
        while len(buf) >= 2:
            size, start = buf[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buf[2:4]), 4
            elif size == 127:
                size, start = int.from_bytes(buf[2:10]), 10
            if len(buf) < start + size:
                return  # the rest of this frame is still on its way
            fin, opcode = buf[0] & 0x80, buf[0] & 0x0F
            payload = bytes(buf[start : start + size])
            del buf[: start + size]
            self._frame(bool(fin), opcode, payload)

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self._write(OP_CLOSE, payload[:2])
            self.close()
        elif opcode in (OP_TEXT, OP_CONT):
            self._message += payload
            if fin:
                message, self._message = bytes(self._message), bytearray()
                self._on_message(self, message)

    def _write(self, opcode: int, payload: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            head = bytes((0x80 | opcode, 0x80 | size))
        elif size < 1 << 16:
            head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2)
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8)
        mask = os.urandom(4)
        keystream = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload) ^ int.from_bytes(keystream)).to_bytes(size)
        self._transport.write(head + mask + masked)

    def send(self, text: str) -> None:
        self._write(OP_TEXT, text.encode())

    def close(self, code: int | None = None) -> None:
        """Close the connection, after a close frame with `code` when one is given."""
        if code is not None:
            self._write(OP_CLOSE, code.to_bytes(2))
        if self._transport is not None:
            self._transport.close()

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()


def channel_request(port: int, headers: dict[str, str]) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {NODE_CHANNEL_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class SimNode:
    def __init__(self, pool: SimPool, beat: Heartbeat, arrivals: dict[str, float]) -> None:
        self.pool = pool
        self.port = pool.port
        self.beat = beat
        self.arrivals = arrivals
        self.node_id = ""
        self.interval_s = 30.0
        self.running = False
        self.signer: FastSigner | None = None
        self.beat_body = b""
        self._channel: JobChannel | None = None

    def prepare(self) -> None:
        """What a node needs before it joins (its key, its heartbeat's body): made ahead of
        the timed ramp, as a real node has its key and its models before it starts."""
        if self.signer is None:
            self.signer = FastSigner(NodeKey.generate())
            self.beat_body = self.beat.model_dump_json().encode()

    async def _post(self, path: str, body: bytes) -> dict[str, object]:
        assert self.signer is not None
        status, reply = await self.pool.post(self.signer, path, body)
        if status != 200:
            raise SimNodeError(f"{path} answered {status}: {reply[:200]!r}")
        parsed: dict[str, object] = json.loads(reply)
        return parsed

    async def start(self) -> None:
        """Register, beat once, open the job channel; then beat and serve in the background."""
        self.prepare()
        assert self.signer is not None
        body = json.dumps({"public_key": self.signer.public_hex, "name": "sim"}).encode()
        self.node_id = str((await self._post("/api/v1/node/register", body))["node_id"])
        await self.heartbeat()
        request = channel_request(self.port, self.signer.headers("GET", NODE_CHANNEL_PATH))
        channel = JobChannel(request, self._on_message)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: channel, "127.0.0.1", self.port)
        self._channel = channel
        try:
            await asyncio.wait_for(asyncio.shield(channel.opened), 60)
        except BaseException:
            channel.close()
            raise
        self.running = True
        self.pool.users += 1
        self.pool.beater.add(self)

    async def heartbeat(self) -> None:
        reply = await self._post("/api/v1/heartbeat", self.beat_body)
        self.interval_s = float(str(reply.get("heartbeat_interval_s", 30.0)))

    def _on_message(self, channel: JobChannel, raw: bytes) -> None:
        message = json.loads(raw)
        if message.get("type") != "job":
            return
        tag = message["messages"][-1]["content"]
        self.arrivals[tag] = time.perf_counter()
        ids = {"job_id": message["job_id"], "attempt": message.get("attempt", 1)}
        channel.send(JobToken(text="ok", **ids).model_dump_json())
        usage = UsageReport(prompt_tokens=len(tag.split()), completion_tokens=1)
        channel.send(JobDone(usage=usage, **ids).model_dump_json())

    @property
    def connected(self) -> bool:
        return self._channel is not None and self._channel.open

    async def stop(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close(1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(channel.closed), 5)
        if self.running:
            self.running = False
            await self.pool.release()
