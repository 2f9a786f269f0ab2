"""Ledger writes are safe across control-plane replicas sharing one PostgreSQL database:
two replicas (each its own engine, `Ledger` and `LedgerAccounting`, as two `cp serve`
processes have) settling the same jobs at once charge each job exactly once; one settling
a job while the other releases it either charges it or returns its hold, never both; and
drawing on one balance at once never takes it below zero; the totals are exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.money import ledger as acct
from infernet.controlplane.money.accounting import FinishedJob, Segment
from infernet.controlplane.money.billing import LedgerAccounting
from infernet.controlplane.money.ledger import Ledger, Overdraft
from infernet.controlplane.money.pricing import Pricing
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import ledger as ledger_store
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import accounts, ledger_transactions, nodes
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import job_value, split_fee, usdc
from tests.support.postgres import PostgresServer

MODEL = "qwen2.5:7b"
JOBS = 24


@dataclass
class Replica:
    db: AsyncEngine
    ledger: Ledger
    accounting: LedgerAccounting


async def open_replica(url: str) -> Replica:
    db = await open_database(url)
    registry = NodeRegistry(90)
    ledger, pricing = Ledger(db), Pricing(db, registry)
    platform = NodeKey.generate()
    return Replica(db, ledger, LedgerAccounting(db, registry, ledger, pricing, platform))


@pytest_asyncio.fixture
async def replicas(postgres_server: PostgresServer) -> AsyncIterator[tuple[Replica, Replica]]:
    url = await postgres_server.create_database()
    first = await open_replica(url)
    second = await open_replica(url)
    async with first.db.begin() as conn:
        await conn.execute(insert(accounts).values(id="alice", name="alice", created_at=utcnow()))
        await conn.execute(insert(accounts).values(id="bob", name="bob", created_at=utcnow()))
        await conn.execute(
            insert(nodes).values(
                id="node_a",
                public_key=NodeKey.generate().public_hex,
                status="online",
                created_at=utcnow(),
                served_models=[],
                revoked=False,
                account_id="bob",
            )
        )
    await first.accounting.pricing.set_price("node_a", MODEL, usdc("0.001"), usdc("0.004"))
    try:
        yield first, second
    finally:
        await first.db.dispose()
        await second.db.dispose()


async def deposit(ledger: Ledger, account: str, amount: str) -> None:
    moves = [
        (acct.EXTERNAL_DEPOSITS, -usdc(amount)),
        (acct.client_available(account), usdc(amount)),
    ]
    await ledger.post("deposit", f"deposit:{account}", moves)


async def assert_books_balance(db: AsyncEngine) -> None:
    by_account, by_txn = await ledger_store.posting_sums(db)
    cached = await ledger_store.all_balances(db)
    assert all(total == 0 for total in by_txn.values()), "a transaction does not balance"
    assert {a: m for a, m in cached.items() if m} == {a: m for a, m in by_account.items() if m}
    negative = {a: m for a, m in cached.items() if m < 0 and not acct.is_external(a)}
    assert not negative, f"internal accounts below zero: {negative}"


async def test_two_replicas_settling_the_same_jobs_at_once_charge_each_exactly_once(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    finished = await reserved_jobs(first)

    await asyncio.gather(
        *(replica.accounting.settle(job) for job in finished for replica in (first, second))
    )

    await assert_paid_for(first, JOBS)


async def test_two_replicas_drawing_on_one_balance_at_once_never_overdraw_it(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    clients = [f"client_{n}" for n in range(JOBS)]
    for client in clients:
        await deposit(first.ledger, client, "1.00")
    charge = usdc("0.60")  # one fits in each balance; each replica tries one

    async def draw(replica: Replica, client: str) -> bool:
        moves = [(acct.client_available(client), -charge), (acct.PLATFORM_FEES, charge)]
        try:
            return (
                await replica.ledger.post("fee", f"fee:{client}:{id(replica)}", moves) is not None
            )
        except Overdraft:
            return False

    posted = await asyncio.gather(*(draw(r, c) for c in clients for r in replicas))

    assert sum(posted) == JOBS, "exactly one draw per balance"
    left = await first.ledger.balances(acct.client_available(c) for c in clients)
    assert set(left.values()) == {usdc("0.40")}
    assert await second.ledger.balance(acct.PLATFORM_FEES) == JOBS * charge
    await assert_books_balance(first.db)


async def test_the_same_transaction_posted_by_two_replicas_at_once_is_applied_once(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    await deposit(first.ledger, "alice", "10")
    moves = [(acct.client_available("alice"), -usdc("1")), (acct.PLATFORM_FEES, usdc("1"))]

    results = await asyncio.gather(
        *(replica.ledger.post("fee", f"fee:{n}", moves) for n in range(10) for replica in replicas)
    )

    assert sum(r is not None for r in results) == 10, "each key is posted by exactly one"
    assert await first.ledger.balance(acct.client_available("alice")) == Decimal(0)
    with pytest.raises(Overdraft):
        await second.ledger.post("fee", "fee:one-too-many", moves)
    await assert_books_balance(first.db)


async def test_a_settle_and_a_release_of_one_job_at_once_on_two_replicas_move_money_once(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    finished = await reserved_jobs(first)
    # even jobs: the first replica settles while the second releases; odd jobs: the reverse
    pairs = [(first, second) if n % 2 == 0 else (second, first) for n in range(JOBS)]

    await asyncio.gather(
        *(
            call
            for job, (settler, releaser) in zip(finished, pairs, strict=True)
            for call in (
                settler.accounting.settle(job),
                releaser.accounting.release("alice", job.job_id),
            )
        )
    )

    kinds = {job.job_id: await final_kinds(first.db, job.job_id) for job in finished}
    assert all(len(k) == 1 for k in kinds.values()), f"a job ended twice: {kinds}"
    settled = sum(k == ["settle"] for k in kinds.values())
    await assert_paid_for(second, settled)


async def reserved_jobs(replica: Replica) -> list[FinishedJob]:
    """Alice deposits 50 and holds for `JOBS` jobs; each as it finishes on node_a."""
    await deposit(replica.ledger, "alice", "50")
    request = JobCreate(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=100)
    ids = [f"job_{i}" for i in range(JOBS)]
    for job_id in ids:
        await replica.accounting.reserve("alice", job_id, request, MODEL)
    return [FinishedJob(j, "alice", MODEL, MODEL, [Segment("node_a", 1, 20, 80)]) for j in ids]


async def assert_paid_for(replica: Replica, settled: int) -> None:
    """Alice paid for exactly `settled` jobs, Bob and the platform got their parts, nothing
    is still held, and the books balance."""
    value = job_value(20, 80, usdc("0.001"), usdc("0.004"))
    node_part, fee = split_fee(value)
    accounts = [
        acct.client_available("alice"),
        acct.client_held("alice"),
        acct.earnings("bob"),
        acct.PLATFORM_FEES,
    ]
    assert await replica.ledger.balances(accounts) == {
        acct.client_available("alice"): usdc("50") - settled * value,
        acct.client_held("alice"): Decimal(0),
        acct.earnings("bob"): settled * node_part,
        acct.PLATFORM_FEES: settled * fee,
    }
    await assert_books_balance(replica.db)


async def final_kinds(db: AsyncEngine, job_id: str) -> list[str]:
    """The kinds of the transactions that ended the job (settle or release)."""
    t = ledger_transactions
    query = select(t.c.kind).where(t.c.job_id == job_id, t.c.kind.in_(["settle", "release"]))
    async with db.connect() as conn:
        return [str(kind) for kind in (await conn.execute(query)).scalars()]
