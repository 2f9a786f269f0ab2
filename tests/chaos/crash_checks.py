"""What must hold after every control-plane crash (tests/chaos/test_cp_crash.py), read
straight from its database: no job left unfinished, a balanced ledger equal to the sum
of the settled jobs, no hold left, no job billed twice, every command acknowledged to
the end; and from the clients' side, every stream ended ([DONE] or a real error) with
each event once, in order, its text the job's."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from infernet.controlplane.store.tables import (
    jobs,
    ledger_balances,
    ledger_postings,
    ledger_transactions,
    node_commands,
)
from tests.chaos.crash_load import StreamRead

FINAL = ("completed", "failed")
COMMAND_FINAL = ("done", "failed")


@dataclass
class Snapshot:
    jobs: dict[str, dict[str, object]]  # id -> status, content, error, error_message
    kinds: dict[str, list[str]]  # job id -> its ledger transactions' kinds
    postings: list[tuple[str, str, str, int]]  # (transaction, kind, account, micros)
    balances: dict[str, int]
    commands: dict[str, str]  # id -> status

    @property
    def unfinished(self) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if job["status"] not in FINAL]

    @property
    def unsettled(self) -> list[str]:
        """Finished jobs whose final movement is not posted (yet: it follows the job's
        final state by a moment)."""
        final = ("settle", "release")
        return [
            job_id
            for job_id, job in self.jobs.items()
            if job["status"] in FINAL and not set(self.kinds.get(job_id, [])) & set(final)
        ]


async def _snapshot(url: str) -> Snapshot:
    db = create_async_engine(url)
    j, t, p = jobs.c, ledger_transactions.c, ledger_postings.c
    try:
        async with db.connect() as conn:
            found = await conn.execute(select(j.id, j.status, j.content, j.error, j.error_message))
            job_rows = {r.id: dict(r._mapping) for r in found}
            kinds: dict[str, list[str]] = defaultdict(list)
            for r in await conn.execute(select(t.job_id, t.kind).where(t.job_id.is_not(None))):
                kinds[r.job_id].append(r.kind)
            joined = ledger_postings.join(ledger_transactions)
            query = select(p.transaction_id, t.kind, p.account, p.micros).select_from(joined)
            postings = [(r[0], r[1], r[2], int(r[3])) for r in await conn.execute(query)]
            balances = {r[0]: int(r[1]) for r in await conn.execute(select(ledger_balances))}
            found = await conn.execute(select(node_commands.c.id, node_commands.c.status))
            commands = {r[0]: r[1] for r in found}
    finally:
        await db.dispose()
    return Snapshot(job_rows, dict(kinds), postings, balances, commands)


def snapshot(url: str) -> Snapshot:
    return asyncio.run(_snapshot(url))


def wait_settled(url: str, commands: list[str], limit_s: float) -> Snapshot:
    """The database once every job, its money and every command is final (or `limit_s`
    passed)."""
    deadline = time.monotonic() + limit_s
    while True:
        found = snapshot(url)
        open_commands = [c for c in commands if found.commands.get(c) not in COMMAND_FINAL]
        settled = not found.unfinished and not found.unsettled and not open_commands
        if settled or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def money_problems(found: Snapshot) -> list[str]:
    problems = []
    by_txn: dict[str, int] = defaultdict(int)
    by_account: dict[str, int] = defaultdict(int)
    paid = 0  # what settlements paid to nodes' owners and the platform
    for txn, kind, account, micros in found.postings:
        by_txn[txn] += micros
        by_account[account] += micros
        if kind == "settle" and account.startswith(("earnings:", "platform:")):
            paid += micros
    problems += [f"transaction {t} does not balance ({m})" for t, m in by_txn.items() if m]
    if sum(by_account.values()):
        problems.append("money was created or destroyed")
    cached = {a: m for a, m in found.balances.items() if m}
    if cached != {a: m for a, m in by_account.items() if m}:
        problems.append("running balances differ from the postings")
    held = {a: m for a, m in cached.items() if a.endswith(":held")}
    if held:
        problems.append(f"holds left: {held}")
    earned = sum(m for a, m in cached.items() if a.startswith(("earnings:", "platform:")))
    clients = sum(m for a, m in cached.items() if a.startswith("client:"))
    spent = -cached.get("external:deposits", 0) - clients  # what clients paid
    losses = -cached.get("external:credit_losses", 0)
    if not earned == paid == spent + losses:
        problems.append(f"earned {earned}, settled {paid}, clients paid {spent} + {losses} lost")
    for job_id, job in found.jobs.items():
        kinds = sorted(found.kinds.get(job_id, []))
        want = ["hold", "settle" if job["status"] == "completed" else "release"]
        if job["status"] in FINAL and kinds != want:
            problems.append(f"job {job_id} ({job['status']}) has ledger entries {kinds}")
    return problems


def stream_problems(found: Snapshot, reads: list[StreamRead]) -> list[str]:
    problems = []
    for read in reads:
        job = found.jobs.get(read.job_id, {})
        if read.ids != list(range(1, len(read.ids) + 1)):
            problems.append(f"stream {read.job_id}: event ids {read.ids}")
        if read.end == "done":
            if read.text != (job.get("content") or ""):
                problems.append(f"stream {read.job_id}: {read.text!r} != {job.get('content')!r}")
        elif read.end == "error":
            if not read.error.get("error") or not read.error.get("message"):
                problems.append(f"stream {read.job_id}: empty error event {read.error}")
        else:
            problems.append(f"stream {read.job_id} did not end: {read.end or 'still reading'}")
    return problems


def problems(found: Snapshot, reads: list[StreamRead], commands: list[str]) -> list[str]:
    found_problems = [f"job {job_id} left {found.jobs[job_id]}" for job_id in found.unfinished]
    found_problems += [
        f"command {c} left {found.commands.get(c)}"
        for c in commands
        if found.commands.get(c) not in COMMAND_FINAL
    ]
    return found_problems + money_problems(found) + stream_problems(found, reads)
