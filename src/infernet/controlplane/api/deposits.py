"""A client's on-chain deposits: where to send USDC, and what arrived.

`GET /api/v1/billing/deposit-address` gives the account its own deposit address (made on
first use, from the platform's xpub) with the network, the USDC contract and how many
confirmations a deposit waits for; `GET /api/v1/billing/deposits` lists the transfers
seen to it, each with its transaction hash and state. Under `--settlement ledger` there
is no chain: the address is null and the note says how funds are added instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from infernet.controlplane.api.callers import payments_of
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.schemas.deposits import ChainDepositPublic, DepositAddress, DepositList
from infernet.controlplane.store import chain_deposits
from infernet.controlplane.store.ids import iso
from infernet.protocol.money import from_micros, show
from infernet.settlement.records import DepositState

router = APIRouter(prefix="/api/v1", tags=["billing"])
LEDGER_NOTE = (
    "Ledger-only settlement: no chain deposits; funds are ledger credits "
    "(POST /api/v1/billing/deposits), listed in GET /api/v1/ledger."
)


@router.get("/billing/deposit-address", response_model=DepositAddress)
async def deposit_address(account: AccountDep, services: ServicesDep) -> DepositAddress:
    """Where this account sends USDC (its own address, the same every time)."""
    settlement = payments_of(services).settlement
    found = await settlement.deposit_instructions(account)  # the database only, no RPC
    return DepositAddress(
        settlement=found.mode,
        network=found.network,
        address=found.address,
        token_contract=found.token_contract,
        confirmations=found.confirmations,
        payment_uri=found.payment_uri,
        note=found.note,
    )


@router.get("/billing/deposits", response_model=DepositList)
async def deposits(
    account: AccountDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DepositList:
    """The USDC transfers seen to this account's deposit addresses, newest first."""
    settlement = payments_of(services).settlement
    required = settlement.confirmations
    rows = await chain_deposits.deposits_of(services.db, account, limit)
    listed = [
        ChainDepositPublic(
            network=r.record.transfer.network,
            tx_hash=r.record.transfer.tx_hash,
            block_number=r.record.transfer.block.number,
            amount=show(from_micros(r.record.transfer.micros)),
            sender=r.record.transfer.sender,
            address=r.record.transfer.recipient,
            state=r.record.state.value,
            confirmations=(
                r.record.confirmations if r.record.state is DepositState.UNCONFIRMED else None
            ),
            confirmations_required=required,
            detail=r.record.detail,
            seen_at=iso(r.created_at) or "",
            updated_at=iso(r.updated_at) or "",
        )
        for r in rows
    ]
    note = LEDGER_NOTE if settlement.network is None else ""
    return DepositList(
        settlement=settlement.mode, network=settlement.network, deposits=listed, note=note
    )
