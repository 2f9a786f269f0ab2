"""Several control-plane replicas (`infernet cp serve` processes sharing PostgreSQL and
Redis) behind a load balancer (tests/chaos/balancer.py), with node daemons as processes:

- a replica killed under load loses no accepted job: each ends completed, or failed with
  a reason, none stuck (its own jobs, running or waiting, are adopted by lease; other
  replicas' jobs sent through its sockets are taken back when their nodes reconnect);
  its nodes reconnect through the balancer to the others with jittered exponential
  backoff, spread out in time rather than all at once.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from infernet.controlplane.store.tables import jobs
from tests.chaos.balancer import Balancer
from tests.chaos.processes import ControlPlane, NodeProcess, client_key
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer

BEAT = 0.5
NODES = 8
JOBS_PER_REPLICA = 6
TOKEN_S = 0.2  # a job takes over a second: jobs are still running at the kill
JOB = {"model": "m:1b", "messages": [{"role": "user", "content": "go"}], "max_tokens": 20}


class Cluster:
    def __init__(self, home: Path, db: str, redis: str) -> None:
        self.home, self.db, self.redis = home, db, redis
        self.replicas: list[ControlPlane] = []
        self.nodes: list[NodeProcess] = []
        self.balancer: Balancer | None = None

    def start(self) -> None:
        for name in ("a", "b", "c"):
            self.replicas.append(
                ControlPlane(
                    self.home,
                    self.db,
                    "--redis",
                    self.redis,
                    "--replica-id",
                    name,
                    "--no-payments",
                    heartbeat=BEAT,
                )
            )
        # Every node's first channel lands on replica a; then the balancer knows all three.
        self.balancer = Balancer([self.replicas[0].port])
        self.balancer.start()
        for i in range(NODES):
            tokens = [f" t{j}" for j in range(6)]
            self.nodes.append(
                NodeProcess(self.home / f"n{i}", self.balancer.url, tokens, TOKEN_S, BEAT)
            )
        deadline = time.monotonic() + 180  # a bound, not a speed: 8 processes start
        while len({c.node_key for c in self.balancer.channels}) < NODES:
            assert time.monotonic() < deadline, "nodes did not all connect"
            time.sleep(0.05)
        self.balancer.backends = [r.port for r in self.replicas]

    def close(self) -> None:
        for proc in [*self.nodes, *self.replicas]:
            proc.close()
        if self.balancer is not None:
            self.balancer.close()


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[Cluster]:
    db = asyncio.run(postgres_server.create_database())
    running = Cluster(tmp_path, db, redis_server.url)
    try:
        running.start()
        yield running
    finally:
        running.close()


def submit(url: str, key: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    accepted = []
    for _ in range(count):
        response = httpx.post(f"{url}/api/v1/jobs", json=JOB, headers=headers, timeout=30)
        if response.status_code == 202:
            accepted.append(response.json()["id"])
    return accepted


def explain(cluster: Cluster, stuck: set[str]) -> str:
    """The stuck jobs' rows and every replica log line naming them, for the failure."""
    rows = asyncio.run(job_rows(cluster.db, stuck))
    lines = [
        f"{r.log.name}: {line}"
        for r in cluster.replicas
        for line in r.log.read_text(errors="replace").splitlines()
        if any(job_id in line for job_id in stuck)
    ]
    return "\n".join([*map(str, rows), *lines])


async def job_rows(url: str, ids: set[str]) -> list[dict[str, object]]:
    db = create_async_engine(url)
    c = jobs.c
    query = select(c.id, c.status, c.node_id, c.attempts, c.lease_owner, c.lease_expires_at).where(
        c.id.in_(sorted(ids))
    )
    try:
        async with db.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]
    finally:
        await db.dispose()


def wait_all_final(url: str, key: str, ids: list[str], limit: float) -> dict[str, dict[str, str]]:
    """Each accepted job's final row, from one listing every 1.5 s (the key's rate limit
    is 60 a minute across replicas)."""
    headers = {"Authorization": f"Bearer {key}"}
    final: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + limit
    while len(final) < len(ids) and time.monotonic() < deadline:
        time.sleep(1.5)
        listing = httpx.get(f"{url}/api/v1/jobs", params={"limit": 100}, headers=headers)
        if listing.status_code != 200:
            continue
        for job in listing.json()["jobs"]:
            if job["id"] in ids and job["status"] in ("completed", "failed"):
                final[job["id"]] = job
    return final


def test_a_replica_killed_under_load_loses_no_job_and_its_nodes_spread_out(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.replicas
    assert cluster.balancer is not None
    key = client_key(b.url, credit=None)
    # a's jobs go last, so some are running (and some waiting for a node) when it dies:
    # they must be adopted by lease; b's, sent through a's sockets, are taken back.
    accepted = submit(b.url, key, JOBS_PER_REPLICA) + submit(a.url, key, JOBS_PER_REPLICA)
    killed_at = time.monotonic()
    a.kill()
    accepted += submit(c.url, key, JOBS_PER_REPLICA) + submit(b.url, key, JOBS_PER_REPLICA)
    # Jobs a owned are adopted once their lease (15 s) runs out; the limit is a bound on
    # "stuck", far above that (a taken-back job no longer waits for the 60 s stall).
    final = wait_all_final(b.url, key, accepted, limit=120)
    stuck = set(accepted) - set(final)
    assert not stuck, f"accepted jobs neither completed nor failed:\n{explain(cluster, stuck)}"
    for job in final.values():
        assert job["status"] == "completed" or job["error_message"], job

    reconnects = sorted(
        min(c.at for c in cluster.balancer.channels if c.node_key == node and c.at > killed_at)
        - killed_at
        for node in {c.node_key for c in cluster.balancer.channels}
    )
    assert len(reconnects) == NODES, "every node of the dead replica reconnected"
    assert all(c.backend != a.port for c in cluster.balancer.channels if c.at > killed_at)
    spread = reconnects[-1] - reconnects[0]
    gaps = [later - earlier for earlier, later in itertools.pairwise(reconnects)]
    completed = sum(1 for j in final.values() if j["status"] == "completed")
    print(
        f"\n{len(accepted)} accepted, {completed} completed, "
        f"{len(final) - completed} failed; reconnects after the kill (s): "
        + ", ".join(f"{r:.3f}" for r in reconnects)
        + f"; spread {spread:.3f} s, median gap {statistics.median(gaps):.3f} s"
    )
    # Full jitter on [0, 0.5 s] for the first retry: 8 nodes all within 50 ms of each
    # other would be a herd (chance under 1e-6 with real jitter).
    assert spread > 0.05, f"thundering herd: all {NODES} nodes reconnected within {spread:.3f} s"
