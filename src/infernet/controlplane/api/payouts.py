"""An operator's earnings and payouts (Book §8.4-8.5), for its account or its node.

`GET /api/v1/payments/summary` is what `infernet payments` prints. Payout addresses are
checked for their chain (EIP-55 for EVM chains, base58 for Solana). A claim is recorded
in the ledger as `pending`; with `--settlement evm` it is then paid in USDC and becomes
`sent` and `confirmed` with its transaction hash, with `--settlement ledger` it stays
pending, and its detail says which.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from infernet.controlplane.api.callers import PartyDep, nodes_of, owner_of, payments_of
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.errors import BadRequest
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.payouts import PayoutRefused
from infernet.controlplane.schemas.payouts import (
    AddressSet,
    ClaimCreate,
    DestinationPublic,
    PayoutList,
    PayoutPublic,
    RecentJob,
    Summary,
)
from infernet.controlplane.store import payouts as store
from infernet.controlplane.store import receipts as receipt_store
from infernet.controlplane.store.ids import iso
from infernet.protocol.chains import AddressError, chain, check_coin, validate_address
from infernet.protocol.money import from_micros, show, split_fee, usdc

router = APIRouter(prefix="/api/v1", tags=["payouts"])


def _payout(row: store.PayoutRow) -> PayoutPublic:
    return PayoutPublic(
        id=row.id,
        amount=show(from_micros(row.micros)),
        coin=row.coin,
        network=row.network,
        address=row.address,
        status=row.status,
        detail=row.detail,
        tx_hash=row.tx_hash,
        created_at=iso(row.created_at) or "",
        block_number=row.block_number,
        confirmed_at=iso(row.confirmed_at),
    )


@router.get("/payments/summary", response_model=Summary)
async def summary(who: PartyDep, services: ServicesDep) -> Summary:
    money = payments_of(services)
    owner = await owner_of(services, who)
    found = await money.ledger.balances([accounts.earnings(owner), accounts.payout_pending(owner)])
    now = datetime.now(UTC)
    since = now - timedelta(hours=24)
    rows = await receipt_store.receipts_for_nodes(services.db, await nodes_of(services, who), since)
    recent = [
        RecentJob(
            job_id=r.job_id,
            receipt_id=r.receipt.id,
            model=r.receipt.model,
            tokens=r.receipt.output_tokens,
            earned=show(split_fee(usdc(r.receipt.value_usdc))[0]),
            usage_source=r.usage_source,
            completed_at=r.receipt.completed_at,
        )
        for r in rows
    ]
    paid = sum(
        (
            from_micros(r.micros)
            for r in await store.requests_for(services.db, owner, 10_000)
            if r.status == "confirmed"
        ),
        usdc(0),
    )
    today = [j for j in recent if j.completed_at >= now.strftime("%Y-%m-%dT00:00:00Z")]
    return Summary(
        owner=owner,
        unclaimed=show(found[accounts.earnings(owner)]),
        pending_payout=show(found[accounts.payout_pending(owner)]),
        paid_out=show(paid),
        recent=recent[:20],
        today_jobs=len(today),
        today_earned=show(sum((usdc(j.earned) for j in today), usdc(0))),
    )


@router.get("/payouts", response_model=PayoutList)
async def list_payouts(who: PartyDep, services: ServicesDep) -> PayoutList:
    payments_of(services)
    owner = await owner_of(services, who)
    destinations = [
        DestinationPublic(
            coin=d.coin,
            network=d.network,
            address=d.address,
            min_payout=show(chain(d.network).min_payout),
            updated_at=iso(d.updated_at) or "",
        )
        for d in await store.destinations(services.db, owner)
    ]
    payouts = [_payout(r) for r in await store.requests_for(services.db, owner)]
    return PayoutList(destinations=destinations, payouts=payouts)


@router.put("/payouts/address", response_model=PayoutList)
async def set_address(body: AddressSet, who: PartyDep, services: ServicesDep) -> PayoutList:
    """Set where payouts on one coin and network go (the latest set is the default)."""
    payments_of(services)
    try:
        coin = check_coin(body.coin)
        network = chain(body.network).name
        address = validate_address(network, body.address)
    except AddressError as exc:
        raise BadRequest(f"address: {exc}") from exc
    await store.set_destination(services.db, await owner_of(services, who), coin, network, address)
    return await list_payouts(who, services)


@router.post("/payouts", response_model=PayoutPublic, status_code=201)
async def claim(body: ClaimCreate, who: PartyDep, services: ServicesDep) -> PayoutPublic:
    """Claim all unclaimed earnings: recorded in the ledger, paid by the settlement."""
    money = payments_of(services)
    owner = await owner_of(services, who)
    try:
        made = await money.payouts.claim(owner, await nodes_of(services, who), body.network)
    except PayoutRefused as exc:
        raise BadRequest(str(exc)) from exc
    return _payout(made.payout)
