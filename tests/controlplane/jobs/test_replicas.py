"""Several control-plane replicas sharing PostgreSQL and Redis behave as one: a node
connected to replica A serves a job submitted to B while the client reads the stream
from C; a reconnect with Last-Event-ID to another replica gets exactly the rest; rate
limits and the node-auth nonce cache hold across replicas; attempts sent through a socket
that is gone (its replica died, or the node reconnected before the replica noticed) are
taken back as soon as the node opens its new channel, not after the stall timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infernet.backends.engine_process import free_port
from infernet.controlplane.settings import Settings
from infernet.localnet import ControlPlaneServer, LocalNode
from infernet.protocol.keys import NodeKey
from infernet.protocol.signing import sign_request
from infernet.protocol.wire import (
    Heartbeat,
    JobAssignment,
    NodeLoad,
    ServedModel,
    to_node_adapter,
)
from tests.support.minute import fresh_minute_clock
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer, throwaway_redis
from tests.support.scripted import ScriptedBackend

TOKENS = ["one", " two", " three", " four", " five", " six"]
JOB = {"model": "m:1b", "messages": [{"role": "user", "content": "Count."}], "max_tokens": 50}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from throwaway_redis()


class Replicas:
    def __init__(self, home: Path, database_url: str, redis_url: str, **extra: object) -> None:
        self.home, self.servers, self.nodes = home, [], []  # type: ignore[var-annotated]
        clock = fresh_minute_clock()  # one for all: they share the limits in Redis
        for i in range(3):
            port = free_port()
            settings = Settings(
                database_url=database_url,
                redis_url=redis_url,
                replica_id=f"cp-{i}",
                public_url=f"http://127.0.0.1:{port}",
                **extra,  # type: ignore[arg-type]
            )
            self.servers.append(ControlPlaneServer(settings, port, clock))
        self.api_key = ""

    async def start(self) -> None:
        for server in self.servers:
            await server.start()
        self.api_key = await self.servers[0].create_client_key("tester")

    def client(self, i: int) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.AsyncClient(base_url=self.servers[i].url, headers=headers, timeout=30)

    async def add_node(self, at: int, tokens: list[str]) -> LocalNode:
        node = LocalNode(
            self.home / f"node{len(self.nodes)}",
            self.servers[at].url,
            ScriptedBackend(["m:1b"], tokens=tokens, delay_s=0.05),
            served_models=["m:1b"],
            heartbeat_interval_s=1.0,
        )
        self.nodes.append(node)
        node.start()
        for server in self.servers:  # every replica sees it, with a channel somewhere
            await server.wait_serving("m:1b", 1, timeout=20)
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        for server in self.servers:
            await server.stop()


@pytest_asyncio.fixture
async def replicas(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> AsyncIterator[Replicas]:
    cluster = Replicas(
        tmp_path,
        await postgres_server.create_database(),
        redis_server.url,
        key_requests_per_minute=30,
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest_asyncio.fixture
async def no_stall_replicas(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> AsyncIterator[Replicas]:
    """Replicas whose stall timeout never fires during a test: a job taken back was taken
    back because its channel was known to be gone."""
    cluster = Replicas(
        tmp_path,
        await postgres_server.create_database(),
        redis_server.url,
        stall_timeout_s=3600.0,
    )
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


class HandNode:
    """A node speaking the protocol by hand, so a test decides when its sockets open and
    close (a NodeDaemon reconnects on its own). It serves m:1b, two jobs at once."""

    def __init__(self, replicas: Replicas) -> None:
        self.replicas, self.key, self.node_id = replicas, NodeKey.generate(), ""
        self.sockets: list[ClientConnection] = []

    async def _post(self, at: int, path: str, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json", **sign_request(self.key, "POST", path, body)}
        async with httpx.AsyncClient(base_url=self.replicas.servers[at].url, timeout=10) as http:
            return await http.post(path, content=body, headers=headers)

    async def join(self, at: int) -> None:
        register = json.dumps({"public_key": self.key.public_hex, "name": "by-hand"}).encode()
        reply = await self._post(at, "/api/v1/node/register", register)
        assert reply.status_code == 200, reply.text
        self.node_id = reply.json()["node_id"]
        beat = Heartbeat(
            version="t",
            backend="scripted",
            backend_healthy=True,
            served_models=[ServedModel(name="m:1b")],
            load=NodeLoad(max_concurrent_jobs=2),
        )
        reply = await self._post(at, "/api/v1/heartbeat", beat.model_dump_json().encode())
        assert reply.status_code == 200, reply.text

    async def open_channel(self, at: int) -> ClientConnection:
        path = "/api/v1/node/channel"
        url = self.replicas.servers[at].url.replace("http://", "ws://") + path
        socket = await connect(url, additional_headers=sign_request(self.key, "GET", path))
        self.sockets.append(socket)
        return socket

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()


async def next_assignment(socket: ClientConnection) -> JobAssignment:
    while True:  # a liveness bound only: the stall timeout is an hour
        message = to_node_adapter.validate_json(await asyncio.wait_for(socket.recv(), 20))
        if isinstance(message, JobAssignment):
            return message


async def submit(replicas: Replicas, at: int) -> str:
    async with replicas.client(at) as client:
        reply = await client.post("/api/v1/jobs", json=JOB)
    assert reply.status_code in (200, 201, 202), reply.text
    return str(reply.json()["id"])


async def read_events(response: httpx.Response) -> list[tuple[int, str]]:
    """(id, data) of every event, in order."""
    events, current = [], None
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            current = int(line[4:])
        elif line.startswith("data: "):
            assert current is not None, "every event carries an id"
            events.append((current, line[6:]))
            current = None
    return events


def texts(events: list[tuple[int, str]]) -> list[str]:
    return [json.loads(data)["text"] for _, data in events if data.startswith('{"text"')]


async def test_a_node_on_a_serves_a_job_submitted_to_b_streamed_from_c(replicas: Replicas) -> None:
    await replicas.add_node(0, TOKENS)
    async with replicas.client(1) as b, replicas.client(2) as c:
        job = (await b.post("/api/v1/jobs", json=JOB)).json()
        async with c.stream("GET", f"/api/v1/jobs/{job['id']}/stream") as resp:
            events = await read_events(resp)
        assert texts(events) == TOKENS
        assert [i for i, _ in events] == list(range(1, len(TOKENS) + 2))
        assert events[-1][1] == "[DONE]"
        for _ in range(100):
            row = (await b.get(f"/api/v1/jobs/{job['id']}")).json()
            if row["status"] == "completed":
                break
            await asyncio.sleep(0.05)
    assert row["status"] == "completed"
    assert row["result"]["content"] == "".join(TOKENS)
    assert row["node_id"] == replicas.nodes[0].node_id


async def test_a_reconnect_with_last_event_id_to_another_replica_gets_exactly_the_rest(
    replicas: Replicas,
) -> None:
    await replicas.add_node(0, TOKENS)
    async with replicas.client(1) as b, replicas.client(2) as c, replicas.client(0) as a:
        job = (await b.post("/api/v1/jobs", json=JOB)).json()
        seen: list[tuple[int, str]] = []
        async with c.stream("GET", f"/api/v1/jobs/{job['id']}/stream") as resp:
            async for line in resp.aiter_lines():
                if line.startswith("id: "):
                    seen.append((int(line[4:]), ""))
                    if len(seen) == 2:
                        break  # the client drops the connection after two events
        headers = {"Last-Event-ID": str(seen[-1][0])}
        async with a.stream("GET", f"/api/v1/jobs/{job['id']}/stream", headers=headers) as resp:
            rest = await read_events(resp)
    assert [i for i, _ in rest] == list(range(3, len(TOKENS) + 2)), "no duplicates, no gaps"
    assert texts(rest) == TOKENS[2:]


async def test_rate_limits_hold_across_replicas(replicas: Replicas) -> None:
    clients = [replicas.client(i) for i in range(3)]
    statuses = []
    for n in range(31):
        statuses.append((await clients[n % 3].get("/api/v1/jobs")).status_code)
    for client in clients:
        await client.aclose()
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429, "the 31st request in the minute is refused, wherever it lands"


async def test_a_signed_request_replayed_to_another_replica_is_refused(replicas: Replicas) -> None:
    node = await replicas.add_node(0, TOKENS)
    body = b"{}"
    headers = sign_request(node.key, "POST", "/api/v1/heartbeat", body)
    headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(timeout=10) as http:
        first = await http.post(
            f"{replicas.servers[1].url}/api/v1/heartbeat", content=body, headers=headers
        )
        again = await http.post(
            f"{replicas.servers[2].url}/api/v1/heartbeat", content=body, headers=headers
        )
    assert first.status_code != 401 or "replay" not in first.text
    assert again.status_code == 401
    assert "replay" in again.text.lower()


async def test_a_node_revoked_at_one_replica_is_refused_by_another_that_had_it_cached(
    replicas: Replicas,
) -> None:
    """Replicas answer a node's identity from memory (nodeauth.IdentityCache); the
    revocation's NodeChanged event on the bus clears it everywhere, with no expiry to wait
    out: the first refused beat comes as soon as the event is delivered."""
    key = NodeKey.generate()
    beat = Heartbeat(version="t", backend="scripted", backend_healthy=True, served_models=[])

    async def signed(at: int, path: str, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json", **sign_request(key, "POST", path, body)}
        async with httpx.AsyncClient(base_url=replicas.servers[at].url, timeout=10) as http:
            return await http.post(path, content=body, headers=headers)

    register = json.dumps({"public_key": key.public_hex, "name": "cached"}).encode()
    assert (await signed(0, "/api/v1/node/register", register)).status_code == 200
    for _ in range(2):  # the second beat is answered from replica 1's cache
        accepted = await signed(1, "/api/v1/heartbeat", beat.model_dump_json().encode())
        assert accepted.status_code == 200, accepted.text
    assert (await signed(0, "/api/v1/node/deregister", b"{}")).status_code == 200
    for _ in range(200):  # the bus delivers within milliseconds; bounded, not timed
        refused = await signed(1, "/api/v1/heartbeat", beat.model_dump_json().encode())
        if refused.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert refused.status_code == 401, refused.text
    assert refused.headers["x-infernet-auth-error"] == "revoked"


async def test_a_key_revoked_at_one_replica_is_refused_by_another_that_had_it_cached(
    replicas: Replicas,
) -> None:
    """Replicas answer a live API key from memory (store/accounts.KeyCache); the
    revocation's KeyRevoked event on the bus clears it everywhere, so the key is refused
    as soon as the event is delivered, not when the cached entry would have gone stale."""
    b = replicas.servers[1].services
    b.caches.api_keys.ttl_s = 3600.0  # nothing but the event can clear it during this test
    forgotten = asyncio.Event()
    forget_key = b.caches.forget_key

    def on_forget(key_id: str | None) -> None:
        forget_key(key_id)
        forgotten.set()

    b.caches.forget_key = on_forget  # type: ignore[method-assign]
    async with replicas.client(0) as a:
        created = (await a.post("/api/v1/keys", json={"name": "temp"})).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    async with httpx.AsyncClient(base_url=replicas.servers[1].url, headers=headers) as temp:
        for _ in range(2):  # the second request is answered from replica 1's cache
            assert (await temp.get("/api/v1/jobs")).status_code == 200
        async with replicas.client(0) as a:
            assert (await a.delete(f"/api/v1/keys/{created['id']}")).status_code == 200
        await asyncio.wait_for(forgotten.wait(), timeout=20)  # a liveness bound only
        refused = await temp.get("/api/v1/jobs")
    assert refused.status_code == 401, refused.text


async def test_jobs_sent_through_a_dead_replicas_socket_are_taken_back_when_the_node_reconnects(
    no_stall_replicas: Replicas,
) -> None:
    """The node's socket at replica 0 stays open but silent, as if replica 0 had died: it
    never announces a close. The job's owner (replica 1) takes the attempt back as soon as
    the node opens a channel at replica 2, and sends it to another node as attempt 2."""
    replicas = no_stall_replicas
    node, spare = HandNode(replicas), HandNode(replicas)
    try:
        await node.join(0)
        through_dead = await node.open_channel(0)
        for server in replicas.servers:
            await server.wait_serving("m:1b", 1, timeout=20)
        job_id = await submit(replicas, 1)
        first = await next_assignment(through_dead)
        assert (first.job_id, first.attempt) == (job_id, 1)
        await spare.join(1)
        to_spare = await spare.open_channel(1)
        await replicas.servers[1].wait_serving("m:1b", 2, timeout=20)

        await node.open_channel(2)

        second = await next_assignment(to_spare)
        assert (second.job_id, second.attempt) == (job_id, 2)
    finally:
        await node.close()
        await spare.close()


async def test_a_node_reopening_its_channel_at_the_same_replica_gets_its_jobs_taken_back(
    no_stall_replicas: Replicas,
) -> None:
    """The node reconnects to replica 0 before replica 0 noticed its old socket go: the old
    socket is closed, and the attempts sent through it, replica 0's own job and the job
    replica 1 owns (forwarded down that socket), go to another node at once."""
    replicas = no_stall_replicas
    node, spare = HandNode(replicas), HandNode(replicas)
    try:
        await node.join(0)
        old = await node.open_channel(0)
        for server in replicas.servers:
            await server.wait_serving("m:1b", 1, timeout=20)
        jobs = {await submit(replicas, 0), await submit(replicas, 1)}
        sent = {(a.job_id, a.attempt) for a in [await next_assignment(old) for _ in jobs]}
        assert sent == {(job_id, 1) for job_id in jobs}
        await spare.join(0)
        to_spare = await spare.open_channel(2)
        for server in replicas.servers[:2]:
            await server.wait_serving("m:1b", 2, timeout=20)

        await node.open_channel(0)

        again = {(a.job_id, a.attempt) for a in [await next_assignment(to_spare) for _ in jobs]}
        assert again == {(job_id, 2) for job_id in jobs}
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(old.recv(), 20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    finally:
        await node.close()
        await spare.close()
