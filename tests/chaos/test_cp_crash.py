"""A control plane killed with SIGKILL at random points under load, again and again, on
SQLite and on PostgreSQL (one process, `infernet cp serve`, payments on; real node
daemons on scripted engines, tests/chaos/node_proc.py):

while clients submit jobs (plain and streamed), read streams, and the nodes stream tokens
and acknowledge model commands, the control plane is killed at a random moment and
started again on the same database and port. Each time, once things settle:

- no job is left unfinished after the job timeout (a short one here);
- the ledger balances, equals the sum of the settled jobs, holds nothing, and bills no
  job twice (each completed job settled once, each failed one released);
- every stream a client was reading ended, with [DONE] or a real error, each event once
  and in order across its reconnects (`Last-Event-ID`), its text the job's;
- every command a node was given was acknowledged to the end.

`INFERNET_CHAOS_CP_KILLS` sets the kills per database (default 5); a longer loop is, say,
`INFERNET_CHAOS_CP_KILLS=50`. Run counts and times are in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.chaos.crash_checks import problems, wait_settled
from tests.chaos.crash_load import Load
from tests.chaos.processes import ControlPlane, NodeProcess, client_key
from tests.support.postgres import PostgresServer

KILLS = int(os.environ.get("INFERNET_CHAOS_CP_KILLS", "5"))
JOB_TIMEOUT_S = 20.0
BEAT = 0.5
TOKEN_S = 0.1  # six tokens: a job runs well over half a second, so kills land mid-stream
NODES = 2
KEYS = 4  # the per-key request limit is 60 a minute: the load is spread over four


@dataclass
class Site:
    db: str
    control_plane: ControlPlane
    nodes: list[NodeProcess]
    owner: str  # the API key of the account that owns the nodes and commands them
    node_ids: list[str] = field(default_factory=list)

    def close(self) -> None:
        for proc in [*self.nodes, self.control_plane]:
            proc.close()


@pytest.fixture(params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "sqlite":
        db = f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        db = asyncio.run(server.create_database())
    timeout = ("--job-timeout", str(JOB_TIMEOUT_S))
    control_plane = ControlPlane(tmp_path, db, *timeout, heartbeat=BEAT)
    running = Site(db, control_plane, [], client_key(control_plane.url, credit=None))
    try:
        for i in range(NODES):
            tokens = [f" t{j}" for j in range(6)]
            home = tmp_path / f"n{i}"
            node = NodeProcess(home, control_plane.url, tokens, TOKEN_S, BEAT, running.owner)
            running.nodes.append(node)
        running.node_ids = [node.node_id() for node in running.nodes]
        yield running
    finally:
        running.close()


def test_a_control_plane_killed_again_and_again_loses_nothing(site: Site) -> None:
    began = time.monotonic()
    seed = int(os.environ.get("INFERNET_CHAOS_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    cp = site.control_plane
    keys = [client_key(cp.url, credit="100.00") for _ in range(KEYS)]
    load = Load(cp.url, keys, rng, give_up_s=JOB_TIMEOUT_S + 30)
    rounds: list[str] = []
    for kill in range(1, KILLS + 1):
        started = time.monotonic()
        kind = "model_install" if kill % 2 else "model_remove"
        load.command(site.owner, site.node_ids[kill % NODES], kind, "extra:1b")
        load.start_submitting()
        time.sleep(rng.uniform(0.3, 2.5))  # a random point under load
        cp.kill()
        killed_at = time.monotonic() - started
        load.stop_submitting()
        cp.restart()
        found = wait_settled(site.db, load.commands, JOB_TIMEOUT_S + 15)
        load.join(timeout=JOB_TIMEOUT_S + 30)
        found = wait_settled(site.db, load.commands, 5)  # what the readers finished
        wrong = problems(found, load.reads, load.commands)
        assert not wrong, f"after kill {kill} (seed {seed}):\n" + "\n".join(wrong[:30])
        rounds.append(f"{killed_at:.1f}s/{time.monotonic() - started:.1f}s")
    completed = sum(1 for job in found.jobs.values() if job["status"] == "completed")
    reconnects = sum(read.reconnects for read in load.reads)
    print(
        f"\n{KILLS} kills (seed {seed}): {len(found.jobs)} jobs ({len(load.accepted)} "
        f"acknowledged to a client), {completed} completed, {len(found.jobs) - completed} "
        f"failed; {len(load.reads)} streams read, {reconnects} stream reconnects; "
        f"{len(load.commands)} commands; {time.monotonic() - began:.0f} s in all; "
        f"kill at / round took: {', '.join(rounds)}"
    )
