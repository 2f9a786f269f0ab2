"""The ledger and `LedgerAccounting`: escrow on submit, charge at real usage on completion,
nothing for failures, each node paid its segment, payouts recorded; and, over random job
histories (hypothesis), every transaction balances, no internal balance goes negative,
money is conserved and no job is ever charged twice."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from infernet.controlplane.errors import InsufficientFunds
from infernet.controlplane.money import ledger as acct
from infernet.controlplane.money.accounting import FinishedJob, Segment
from infernet.controlplane.money.billing import LedgerAccounting, hold_amount, prompt_bound
from infernet.controlplane.money.ledger import Ledger, LedgerError
from infernet.controlplane.money.payouts import PayoutRefused, Payouts
from infernet.controlplane.money.pricing import Pricing, default_price
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import ledger as ledger_store
from infernet.controlplane.store import payouts as payout_store
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.store.tables import accounts, nodes
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import job_value, split_fee, usdc

MODEL = "qwen2.5:7b"
PLATFORM = NodeKey.generate()


@dataclass
class Books:
    accounting: LedgerAccounting
    ledger: Ledger
    payouts: Payouts
    pricing: Pricing


async def open_books(path: Path) -> tuple[Books, object]:
    db = await open_database(f"sqlite+aiosqlite:///{path}")
    registry = NodeRegistry(90)
    ledger, pricing = Ledger(db), Pricing(db, registry)
    accounting = LedgerAccounting(db, registry, ledger, pricing, PLATFORM, max_attempts=3)
    async with db.begin() as conn:
        for name in ("alice", "bob"):
            await conn.execute(insert(accounts).values(id=name, name=name, created_at=utcnow()))
        for node_id, owner in (("node_a", "bob"), ("node_b", None)):
            await conn.execute(
                insert(nodes).values(
                    id=node_id,
                    public_key=NodeKey.generate().public_hex,
                    status="online",
                    created_at=utcnow(),
                    served_models=[],
                    revoked=False,
                    account_id=owner,
                )
            )
    await pricing.set_price("node_b", MODEL, usdc("0.001"), usdc("0.004"))
    return Books(accounting, ledger, Payouts(db, ledger), pricing), db


@pytest_asyncio.fixture
async def books(tmp_path: Path) -> AsyncIterator[Books]:
    found, db = await open_books(tmp_path / "ledger.db")
    yield found
    await db.dispose()  # type: ignore[attr-defined]


def request(max_tokens: int = 100, prompt: str = "capital of France?") -> JobCreate:
    return JobCreate(
        model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens
    )


async def deposit(books: Books, account: str, amount: str) -> None:
    moves = [
        (acct.EXTERNAL_DEPOSITS, -usdc(amount)),
        (acct.client_available(account), usdc(amount)),
    ]
    await books.ledger.post("deposit", f"deposit:{account}:{amount}:{utcnow()}", moves)


async def balance(books: Books, account: str) -> Decimal:
    return await books.ledger.balance(account)


async def assert_books_balance(books: Books) -> None:
    db = books.ledger._db  # the audit reads the tables directly
    by_account, by_txn = await ledger_store.posting_sums(db)
    cached = await ledger_store.all_balances(db)
    assert all(total == 0 for total in by_txn.values()), "a transaction does not balance"
    assert sum(by_account.values()) == 0, "money was created or destroyed"
    assert {a: m for a, m in cached.items() if m} == {a: m for a, m in by_account.items() if m}
    negative = {a: m for a, m in cached.items() if m < 0 and not acct.is_external(a)}
    assert not negative, f"internal accounts below zero: {negative}"


async def test_a_client_below_the_minimum_cannot_submit(books: Books) -> None:
    await deposit(books, "alice", "0.99")
    with pytest.raises(InsufficientFunds, match=r"at least 1\.000000 USDC.*deposits"):
        await books.accounting.reserve("alice", "job_1", request(), MODEL)
    assert await balance(books, acct.client_available("alice")) == usdc("0.99")


async def test_submitting_holds_the_maximum_cost(books: Books) -> None:
    await deposit(books, "alice", "5")
    job = request(max_tokens=200)
    await books.accounting.reserve("alice", "job_1", job, MODEL)
    expected = hold_amount(job, default_price(MODEL, ">=48gb"), 3)  # no node online yet
    assert await balance(books, acct.client_held("alice")) == expected
    assert await balance(books, acct.client_available("alice")) == usdc(5) - expected


async def test_a_job_that_could_cost_more_than_the_balance_is_refused(books: Books) -> None:
    await deposit(books, "alice", "1.00")
    with pytest.raises(InsufficientFunds, match="max_tokens"):
        await books.accounting.reserve("alice", "job_1", request(max_tokens=1_000_000), MODEL)


async def test_completion_charges_real_usage_pays_85_15_and_returns_the_rest(books: Books) -> None:
    await deposit(books, "alice", "5")
    await books.accounting.reserve("alice", "job_1", request(), MODEL)
    quote = await books.accounting.quote("job_1", "alice", "node_b", MODEL)
    assert quote is not None and quote.output_per_1k == usdc("0.004")
    finished = FinishedJob("job_1", "alice", MODEL, MODEL, [Segment("node_b", 1, 24, 312)])
    await books.accounting.settle(finished)
    value = job_value(24, 312, usdc("0.001"), usdc("0.004"))
    node_part, fee = split_fee(value)
    assert await balance(books, acct.client_held("alice")) == 0
    assert await balance(books, acct.client_available("alice")) == usdc(5) - value
    assert await balance(books, acct.earnings("node_b")) == node_part  # unowned: the node
    assert await balance(books, acct.PLATFORM_FEES) == fee
    assert fee == (value * Decimal("0.15")).quantize(Decimal("0.000001"))
    await assert_books_balance(books)


async def test_settling_twice_or_releasing_after_settling_charges_once(books: Books) -> None:
    await deposit(books, "alice", "5")
    await books.accounting.reserve("alice", "job_1", request(), MODEL)
    finished = FinishedJob("job_1", "alice", MODEL, MODEL, [Segment("node_b", 1, 10, 10)])
    await books.accounting.settle(finished)
    after_one = await balance(books, acct.client_available("alice"))
    await books.accounting.settle(finished)
    await books.accounting.release("alice", "job_1")
    assert await balance(books, acct.client_available("alice")) == after_one
    await assert_books_balance(books)


async def test_a_charge_above_the_hold_reads_the_balance_again_if_it_was_drawn_meanwhile(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    await deposit(books, "alice", "1")
    await books.accounting.reserve("alice", "job_1", request(max_tokens=10), MODEL)
    held = await balance(books, acct.client_held("alice"))
    before = await balance(books, acct.client_available("alice"))
    real_balance, stale = books.ledger.balance, [usdc(100)]

    async def first_read_is_stale(account: str) -> Decimal:  # as if drawn after the read
        found = await real_balance(account)
        return found + stale.pop() if stale and account == acct.client_available("alice") else found

    monkeypatch.setattr(books.ledger, "balance", first_read_is_stale)
    segment = Segment("node_b", 1, 24, 1_000_000)  # prices rose: worth more than all she has
    await books.accounting.settle(FinishedJob("job_1", "alice", MODEL, MODEL, [segment]))

    value = job_value(24, 1_000_000, usdc("0.001"), usdc("0.004"))
    assert not stale and value > held + before
    assert await balance(books, acct.client_available("alice")) == 0
    assert await balance(books, acct.EXTERNAL_CREDIT_LOSSES) == -(value - held - before)
    assert await balance(books, acct.earnings("node_b")) == split_fee(value)[0]
    await assert_books_balance(books)


async def test_a_failed_job_costs_nothing(books: Books) -> None:
    await deposit(books, "alice", "5")
    await books.accounting.reserve("alice", "job_1", request(), MODEL)
    await books.accounting.release("alice", "job_1")
    await books.accounting.settle(
        FinishedJob("job_1", "alice", MODEL, MODEL, [Segment("node_b", 1, 5, 5)])
    )
    assert await balance(books, acct.client_available("alice")) == usdc(5)
    assert await balance(books, acct.client_held("alice")) == 0


async def test_a_job_split_by_failover_pays_each_node_its_segment(books: Books) -> None:
    await deposit(books, "alice", "5")
    await books.accounting.reserve("alice", "job_1", request(), MODEL)
    for node in ("node_a", "node_b"):
        await books.accounting.quote("job_1", "alice", node, MODEL)
    segments = [Segment("node_a", 1, 0, 7, "stream_count"), Segment("node_b", 2, 30, 20)]
    await books.accounting.settle(FinishedJob("job_1", "alice", MODEL, MODEL, segments))
    price_a = default_price(MODEL)
    value_a = job_value(0, 7, price_a.input_per_1k, price_a.output_per_1k)
    value_b = job_value(30, 20, usdc("0.001"), usdc("0.004"))
    assert await balance(books, acct.earnings("bob")) == split_fee(value_a)[0]  # bob owns node_a
    assert await balance(books, acct.earnings("node_b")) == split_fee(value_b)[0]
    assert await balance(books, acct.client_available("alice")) == usdc(5) - value_a - value_b
    await assert_books_balance(books)


async def test_an_unbalanced_transaction_is_refused(books: Books) -> None:
    with pytest.raises(LedgerError, match="does not balance"):
        await books.ledger.post("bad", "bad:1", [(acct.PLATFORM_FEES, usdc(1))])


async def test_a_payout_claim_moves_earnings_to_pending_and_says_it_is_ledger_only(
    books: Books,
) -> None:
    moves = [(acct.EXTERNAL_DEPOSITS, -usdc(3)), (acct.earnings("node_b"), usdc(3))]
    await books.ledger.post("test", "seed", moves)
    with pytest.raises(PayoutRefused, match="payout address"):
        await books.payouts.claim("node_b", ["node_b"])
    await payout_store.set_destination(
        books.ledger._db, "node_b", "USDC", "ethereum", "0x" + "ab" * 20
    )
    with pytest.raises(PayoutRefused, match=r"below the ethereum minimum payout of 10\.000000"):
        await books.payouts.claim("node_b", ["node_b"])
    await payout_store.set_destination(books.ledger._db, "node_b", "USDC", "base", "0x" + "cd" * 20)
    claim = await books.payouts.claim("node_b", ["node_b"])
    assert claim.amount == usdc(3) and claim.payout.status == "pending"
    assert "settlement is ledger-only on this control plane" in claim.payout.detail
    assert await balance(books, acct.earnings("node_b")) == 0
    assert await balance(books, acct.payout_pending("node_b")) == usdc(3)
    await assert_books_balance(books)


async def test_with_chain_settlement_a_claim_goes_to_that_chain_only(books: Books) -> None:
    on_base = Payouts(books.ledger._db, books.ledger, settles_on="base")
    moves = [(acct.EXTERNAL_DEPOSITS, -usdc(30)), (acct.earnings("node_b"), usdc(30))]
    await books.ledger.post("test", "seed", moves)
    await payout_store.set_destination(books.ledger._db, "node_b", "USDC", "base", "0x" + "cd" * 20)
    await payout_store.set_destination(
        books.ledger._db, "node_b", "USDC", "ethereum", "0x" + "ab" * 20
    )  # the newest, but not where this control plane pays
    with pytest.raises(PayoutRefused, match="pays out on base only"):
        await on_base.claim("node_b", ["node_b"], "ethereum")
    claim = await on_base.claim("node_b", ["node_b"])
    assert (claim.payout.network, claim.payout.address) == ("base", "0x" + "cd" * 20)
    assert claim.payout.detail == "pending: queued for the next USDC payout on base"


# --- random histories ------------------------------------------------------------------

deposits = st.tuples(
    st.just("deposit"),
    st.sampled_from(["alice", "bob"]),
    st.decimals(min_value=0, max_value=20, places=2),
)
submits = st.tuples(
    st.just("submit"), st.sampled_from(["alice", "bob"]), st.integers(min_value=1, max_value=4000)
)
finishes = st.tuples(
    st.just("finish"), st.integers(0, 30), st.booleans(), st.booleans(), st.integers(0, 4000)
)
fails = st.tuples(st.just("fail"), st.integers(0, 30))
payouts = st.tuples(st.just("payout"), st.sampled_from(["bob", "node_b"]))
histories = st.lists(st.one_of(deposits, submits, finishes, fails, payouts), max_size=25)


def value_of(segment: Segment) -> Decimal:
    price = default_price(MODEL) if segment.node_id == "node_a" else None
    pin, pout = (
        (price.input_per_1k, price.output_per_1k) if price else (usdc("0.001"), usdc("0.004"))
    )
    return job_value(segment.prompt_tokens, segment.completion_tokens, pin, pout)


class Replay:
    """Plays one random history against the books, checking them after every step."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.jobs: list[tuple[str, str, JobCreate]] = []
        self.charged: dict[str, Decimal] = {}

    async def deposit(self, who: str, amount: Decimal) -> None:
        if amount > 0:
            await deposit(self.books, who, str(amount))

    async def submit(self, who: str, max_tokens: int) -> None:
        job_id, job = f"job_{len(self.jobs)}", request(max_tokens=max_tokens)
        try:
            await self.books.accounting.reserve(who, job_id, job, MODEL)
        except InsufficientFunds:
            return
        self.jobs.append((job_id, who, job))

    def segments(self, job: JobCreate, split: bool, tokens: int) -> list[Segment]:
        out, prompt = tokens % (job.max_tokens + 1), prompt_bound(job) // 2
        if not split:
            return [Segment("node_b", 2, prompt, out)]
        first = out // 2
        return [
            Segment("node_a", 1, 0, first, "stream_count"),
            Segment("node_b", 2, prompt + first, out - first),
        ]

    async def finish(self, index: int, split: bool, twice: bool, tokens: int) -> None:
        if not self.jobs:
            return
        books = self.books
        job_id, who, job = self.jobs[index % len(self.jobs)]
        segments = self.segments(job, split, tokens)
        for segment in segments:
            await books.accounting.quote(job_id, who, segment.node_id, MODEL)
        held = await books.ledger.job_total(job_id, acct.client_held(who))
        before = await balance(books, acct.client_available(who)) + held
        finished = FinishedJob(job_id, who, MODEL, MODEL, segments)
        ended_before = await books.accounting.finished(job_id)  # settled or released
        for _ in range(2 if twice else 1):
            await books.accounting.settle(finished)
        if not ended_before:
            self.charged[job_id] = before - await balance(books, acct.client_available(who))
            assert self.charged[job_id] == sum(value_of(s) for s in segments), "charged twice?"

    async def fail(self, index: int) -> None:
        if self.jobs:
            job_id, who, _ = self.jobs[index % len(self.jobs)]
            await self.books.accounting.release(who, job_id)

    async def payout(self, owner: str) -> None:
        db = self.books.ledger._db
        await payout_store.set_destination(db, owner, "USDC", "base", "0x" + "11" * 20)
        with contextlib.suppress(PayoutRefused):
            await self.books.payouts.claim(owner, [])

    async def run(self, history: list[tuple[object, ...]]) -> None:
        for kind, *args in history:
            await getattr(self, str(kind))(*args)
            await assert_books_balance(self.books)
        for job_id, who, _ in self.jobs:  # every job ends one way or the other
            await self.books.accounting.release(who, job_id)
        for who in ("alice", "bob"):
            assert await balance(self.books, acct.client_held(who)) == 0
        await assert_books_balance(self.books)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories)
def test_random_histories_keep_the_books_balanced(history: list[tuple[object, ...]]) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            found, db = await open_books(Path(tmp) / "ledger.db")
            try:
                await Replay(found).run(history)
            finally:
                await db.dispose()  # type: ignore[attr-defined]

    asyncio.run(run())
