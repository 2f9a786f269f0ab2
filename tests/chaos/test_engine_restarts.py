"""Redis and PostgreSQL restarted under a running cluster (two `infernet cp serve`
replicas, node daemons as processes): the system recovers by itself, without anyone
restarting a replica or a node, and every job it accepted ends completed or failed with
a reason. Requests refused while an engine is down were never accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos.processes import ControlPlane, NodeProcess, client_key
from tests.chaos.test_replica_faults import JOB, wait_all_final
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer

BEAT = 0.5


class Running:
    def __init__(self, home: Path, db: str, redis: str) -> None:
        extra = ("--redis", redis, "--no-payments")
        self.a = ControlPlane(home, db, *extra, "--replica-id", "a", heartbeat=BEAT)
        self.b = ControlPlane(home, db, *extra, "--replica-id", "b", heartbeat=BEAT)
        self.nodes = [
            NodeProcess(home / f"n{i}", cp.url, [" x", " y", " z"], 0.05, BEAT)
            for i, cp in enumerate((self.a, self.b))
        ]
        for node in self.nodes:
            node.node_id()

    def close(self) -> None:
        for proc in (*self.nodes, self.a, self.b):
            proc.close()


@pytest.fixture
def running(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[Running]:
    cluster = Running(tmp_path, asyncio.run(postgres_server.create_database()), redis_server.url)
    try:
        yield cluster
    finally:
        cluster.close()


def accepted_until_recovered(urls: list[str], key: str, limit: float = 60) -> list[str]:
    """Submit jobs, alternating replicas, until each replica has accepted two again."""
    headers, ids, ok = {"Authorization": f"Bearer {key}"}, [], dict.fromkeys(urls, 0)
    deadline = time.monotonic() + limit
    while min(ok.values()) < 2:
        assert time.monotonic() < deadline, f"not recovered after {limit} s: {ok}"
        for url in urls:
            try:
                response = httpx.post(f"{url}/api/v1/jobs", json=JOB, headers=headers, timeout=10)
            except httpx.TransportError:
                continue
            assert response.status_code != 404 or "model" in response.text
            if response.status_code == 202:
                ids.append(response.json()["id"])
                ok[url] += 1
        time.sleep(0.3)
    return ids


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def restart_postgres(server: PostgresServer) -> None:
    log = str(server.root / "server.log")
    server._run("pg_ctl", "-D", str(server.data), "-l", log, "-m", "immediate", "-w", "restart")


def test_redis_and_postgres_restarts_are_survived(
    running: Running, redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    urls = [running.a.url, running.b.url]
    key = client_key(running.a.url, credit=None)
    phases = [accepted_until_recovered(urls, key)]
    redis_server.stop()
    time.sleep(1)
    redis_server.start()
    after_redis = time.monotonic()
    phases.append(accepted_until_recovered(urls, key))
    redis_s = time.monotonic() - after_redis
    restart_postgres(postgres_server)
    after_pg = time.monotonic()
    phases.append(accepted_until_recovered(urls, key))
    pg_s = time.monotonic() - after_pg
    accepted = [job_id for ids in phases for job_id in ids]
    print(f"\naccepting again {redis_s:.1f} s after Redis, {pg_s:.1f} s after PostgreSQL")
    # A job whose dispatch or tokens were in flight through Redis when it went away is
    # taken back by the stall timeout (60 s) and run again: allow for that.
    final = wait_all_final(running.b.url, key, accepted, limit=100)
    stuck = set(accepted) - set(final)
    phase = {job_id: n for n, ids in enumerate(phases) for job_id in ids}
    rows = {  # a row, or the error a lookup of the job answers (404: never stored)
        job_id: httpx.get(f"{running.b.url}/api/v1/jobs/{job_id}", headers=auth(key)).json()
        for job_id in sorted(stuck)
    }
    assert not stuck, f"accepted jobs stuck: {[(phase[i], row) for i, row in rows.items()]}"
    for job in final.values():
        assert job["status"] == "completed" or job["error_message"], job
    completed = sum(1 for j in final.values() if j["status"] == "completed")
    slow = [
        (phase[j["id"]], round(float(j["latency_ms"]) / 1000, 1))
        for j in final.values()
        if j["latency_ms"] and float(j["latency_ms"]) > 5000
    ]
    print(
        f"{len(accepted)} accepted across the restarts, {completed} completed; "
        f"slow (phase 0 before, 1 after Redis, 2 after PostgreSQL; seconds): {slow}"
    )
