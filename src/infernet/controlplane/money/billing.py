"""`LedgerAccounting`: escrow, charging and paying for jobs, on the double-entry ledger.

* reserve (submit): the client must hold at least `min_balance_usdc` (the Book's $1.00)
  and the job's maximum cost, which moves from available to held. The maximum cost is
  priced at the highest price among the nodes serving the model now, for
  `prompt_bound * max_attempts + max_tokens` input tokens (a failover re-sends the prompt
  plus what was streamed) and `max_tokens` output tokens. `prompt_bound` (bounds.py) is
  an upper bound of the prompt's tokens from its UTF-8 bytes.
* quote (dispatch): the node's own price, the client's key and the operator's chain,
  sent with the job so the node signs its receipt over real usage.
* settle (completion): per segment (one node's share of the job), the value the node
  signed (checked and countersigned, stored as a CPR), or for a node that was lost
  mid-job, the tokens the control plane relayed at that node's quoted price (marked
  `stream_count`, no CPR: that node could not sign). The client pays the sum from the
  hold, each node's owner earns 85 %, the platform 15 %, the rest of the hold goes back.
  A charge above the hold (only if prices rose after submission) comes from the client's
  available balance, and what even that cannot cover is booked to
  `external:credit_losses`, so nodes are always paid what they signed for.
  That balance is read before the transaction; if another replica draws on it meanwhile
  the ledger refuses the overdraft and the settlement is computed again.
* release (failure): the whole hold goes back; a failed job costs nothing.

Every step is one ledger transaction with a per-job idempotency key, so a duplicate
settle or release, or a release after a settle, moves nothing. A job's final movement,
settle or release, posts under one key, `final:<job>` (the transaction's kind says which):
the ledger's key is unique in the database, so of a settle and a release of one job at
once, on two replicas sharing it, exactly one is posted and the other finds it posted and
moves nothing. The amounts may be read before the transaction: the job's hold is its
`hold:<job>` posting, written once at submit and taken only by the final movement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infernet.controlplane.errors import InsufficientFunds
from infernet.controlplane.money import bounds
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.accounting import FinishedJob, Quote, Segment
from infernet.controlplane.money.ledger import Ledger, Overdraft
from infernet.controlplane.money.pricing import Price, Pricing
from infernet.controlplane.money.receipts import ReceiptRejected, check_and_countersign
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.store import client_keys
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.payouts import default_destination
from infernet.protocol.chains import DEFAULT_CHAIN
from infernet.protocol.keys import NodeKey
from infernet.protocol.money import job_value, round6, show, split_fee, usdc
from infernet.protocol.receipts import Receipt

log = logging.getLogger("infernet.billing")
SETTLE_TRIES = 3  # a charge above the hold re-reads the available balance this often
ADD_FUNDS = "Add funds with POST /api/v1/billing/deposits (see GET /api/v1/billing/balance)."


def final_key(job_id: str) -> str:
    """The idempotency key of a job's final movement: its settle or its release, never both."""
    return f"final:{job_id}"


def prompt_bound(request: JobCreate) -> int:
    """An upper bound of the request's prompt tokens (bounds.py)."""
    return bounds.prompt_bound(request.messages, request.encrypted)


def hold_amount(request: JobCreate, price: Price, max_attempts: int) -> Decimal:
    input_tokens = prompt_bound(request) * max(1, max_attempts) + request.max_tokens
    return job_value(input_tokens, request.max_tokens, price.input_per_1k, price.output_per_1k)


@dataclass(frozen=True, slots=True)
class Share:
    """What one segment is worth and to whom it goes."""

    owner: str
    value: Decimal
    source: str
    receipt: Receipt | None = None
    attempt: int = 0
    node_id: str = ""


class LedgerAccounting:
    def __init__(
        self,
        db: AsyncEngine,
        registry: NodeRegistry,
        ledger: Ledger,
        pricing: Pricing,
        platform_key: NodeKey,
        *,
        min_balance: Decimal = Decimal("1.00"),
        max_attempts: int = 3,
    ) -> None:
        self._db, self._registry, self.ledger, self.pricing = db, registry, ledger, pricing
        self.platform_key = platform_key
        self.min_balance, self._max_attempts = min_balance, max_attempts
        self._quotes: dict[tuple[str, str], Quote] = {}

    async def reserve(
        self, account_id: str, job_id: str, request: JobCreate, routing_key: str
    ) -> None:
        key = routing_key
        price = await self.pricing.highest(key, self._registry.serving(key))
        amount = hold_amount(request, price, self._max_attempts)
        available = await self.ledger.balance(accounts.client_available(account_id))
        if available < self.min_balance:
            raise InsufficientFunds(
                f"Your balance is {show(available)} USDC; submitting a job needs at least "
                f"{show(self.min_balance)} USDC. {ADD_FUNDS}"
            )
        moves = [
            (accounts.client_available(account_id), -amount),
            (accounts.client_held(account_id), amount),
        ]
        try:
            await self.ledger.post(
                "hold",
                f"hold:{job_id}",
                moves,
                job_id=job_id,
                memo=f"escrow for {request.model}: at most {show(amount)}",
            )
        except Overdraft as exc:
            raise InsufficientFunds(
                f"This job could cost up to {show(amount)} USDC ({request.max_tokens} max_tokens "
                f"at {show(price.output_per_1k)} per 1K output tokens) and your balance is "
                f"{show(available)} USDC. Lower max_tokens or add funds. {ADD_FUNDS}"
            ) from exc

    async def quote(
        self, job_id: str, account_id: str, node_id: str, routing_key: str
    ) -> Quote | None:
        price = await self.pricing.price_for(node_id, routing_key)
        owner = await self.owner_of(node_id)
        destination = await default_destination(self._db, owner)
        chain = destination.network if destination else DEFAULT_CHAIN
        client_pub = await client_keys.client_key(self._db, account_id)
        quote = Quote(price.input_per_1k, price.output_per_1k, client_pub, chain)
        self._quotes[(job_id, node_id)] = quote
        return quote

    async def owner_of(self, node_id: str) -> str:
        """Who earns what the node earns: its owning account, or the node itself."""
        row = await node_store.node_by_id(self._db, node_id)
        return str(row["account_id"]) if row is not None and row["account_id"] else node_id

    async def _quote_for(self, job: FinishedJob, node_id: str) -> Quote:
        quote = self._quotes.get((job.job_id, node_id))
        if quote is None:  # e.g. dispatched before a restart: the node's price now
            price = await self.pricing.price_for(node_id, job.routing_key)
            quote = Quote(price.input_per_1k, price.output_per_1k)
        return quote

    async def _share(self, job: FinishedJob, segment: Segment) -> Share:
        owner = await self.owner_of(segment.node_id)
        quote = await self._quote_for(job, segment.node_id)
        base = Share(
            owner, Decimal(0), segment.usage_source, None, segment.attempt, segment.node_id
        )
        if segment.receipt is None:
            value = job_value(
                segment.prompt_tokens,
                segment.completion_tokens,
                quote.input_per_1k,
                quote.output_per_1k,
            )
            log.info(
                "segment settled without a node receipt",
                extra={"job_id": job.job_id, "node_id": segment.node_id},
            )
            return Share(owner, value, segment.usage_source, None, segment.attempt, segment.node_id)
        row = await node_store.node_by_id(self._db, segment.node_id)
        if row is None:
            return base
        try:
            receipt = check_and_countersign(
                segment, job, quote, str(row["public_key"]), self.platform_key
            )
        except ReceiptRejected as exc:
            log.error(
                f"receipt refused, segment not paid: {exc}",
                extra={"job_id": job.job_id, "node_id": segment.node_id},
            )
            return base
        return Share(
            owner,
            usdc(receipt.value_usdc),
            segment.usage_source,
            receipt,
            segment.attempt,
            segment.node_id,
        )

    async def finished(self, job_id: str) -> bool:
        """Whether the job's final movement (settle or release) is posted."""
        return await self.ledger.posted(final_key(job_id))

    async def settle(self, job: FinishedJob) -> None:
        if await self.finished(job.job_id):
            return
        shares = [await self._share(job, s) for s in job.segments]
        await self._post_settlement(job, shares)
        for segment in job.segments:
            self._quotes.pop((job.job_id, segment.node_id), None)

    async def _post_settlement(self, job: FinishedJob, shares: list[Share]) -> None:
        client = job.account_id
        held = await self.ledger.job_total(job.job_id, accounts.client_held(client))
        for tries in range(SETTLE_TRIES):
            # The last try takes nothing from the available balance (what the hold does
            # not cover becomes a credit loss): it cannot be overdrawn.
            available = await self.ledger.balance(accounts.client_available(client))
            try:
                return await self._post_once(
                    job, shares, held, available if tries < SETTLE_TRIES - 1 else Decimal(0)
                )
            except Overdraft as exc:  # another replica drew on the balance meanwhile
                if exc.account != accounts.client_available(client):
                    raise

    async def _post_once(
        self, job: FinishedJob, shares: list[Share], held: Decimal, available: Decimal
    ) -> None:
        client = job.account_id
        total = sum((s.value for s in shares), Decimal(0))
        from_held = min(total, held)
        from_available = min(total - from_held, available + held - from_held)
        loss = total - from_held - from_available
        if loss:
            log.warning(f"client could not cover {show(loss)} USDC", extra={"job_id": job.job_id})
        moves: list[tuple[str, Decimal]] = [
            (accounts.client_held(client), -held),
            (accounts.client_available(client), held - from_held - from_available),
            (accounts.EXTERNAL_CREDIT_LOSSES, -loss),
        ]
        for share in shares:
            node_part, fee = split_fee(share.value)
            moves += [(accounts.earnings(share.owner), node_part), (accounts.PLATFORM_FEES, fee)]
        sources = "+".join(sorted({s.source for s in shares})) or None
        countersigned = [s for s in shares if s.receipt is not None]

        async def store_receipts(conn: AsyncConnection) -> None:
            for s in countersigned:
                assert s.receipt is not None
                await receipt_store.insert_receipt(
                    conn,
                    s.receipt,
                    attempt=s.attempt,
                    node_id=s.node_id,
                    account_id=client,
                    usage_source=s.source,
                )

        memo = f"{job.model}: {show(round6(total))} USDC over {len(shares)} segment(s)"
        posted = await self.ledger.post(
            "settle",
            final_key(job.job_id),
            moves,
            job_id=job.job_id,
            memo=memo,
            usage_source=sources,
            extra=store_receipts,
        )
        for share in shares if posted else ():  # counted once, for /metrics
            if node := self._registry.get(share.node_id):
                node.earned += split_fee(share.value)[0]

    async def release(self, account_id: str, job_id: str) -> None:
        if await self.finished(job_id):
            return
        held = await self.ledger.job_total(job_id, accounts.client_held(account_id))
        moves = [
            (accounts.client_held(account_id), -held),
            (accounts.client_available(account_id), held),
        ]
        await self.ledger.post(
            "release",
            final_key(job_id),
            moves,
            job_id=job_id,
            memo="job failed: hold returned, nothing charged",
        )
        for key in [k for k in self._quotes if k[0] == job_id]:
            del self._quotes[key]
