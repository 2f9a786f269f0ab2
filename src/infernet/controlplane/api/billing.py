"""A client's money: deposits, balance, ledger entries, and its optional receipt key.

Deposits are ledger-only credits in this build: no chain is reachable from this control
plane, so `POST /api/v1/billing/deposits` adds the amount to the ledger directly and says
so in its answer. Crediting a balance out of nothing is an admin action
(`Settings.admin_accounts`, api/ownership.py), except on a local demo that lets every key
holder credit its own balance (`Settings.open_deposits`, which `infernet up` turns on).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from infernet.controlplane.api.callers import PartyDep, owner_of, payments_of
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors
from infernet.controlplane.api.ownership import is_admin
from infernet.controlplane.errors import BadRequest, Forbidden, NotFound
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.schemas.billing import (
    LEDGER_ONLY,
    Balance,
    ClientKey,
    DepositCreate,
    DepositPublic,
    EntryList,
    EntryPublic,
)
from infernet.controlplane.schemas.deposits import chain_deposits_only
from infernet.controlplane.store import client_keys
from infernet.controlplane.store.accounts import get_account
from infernet.controlplane.store.ids import iso, new_id
from infernet.protocol.keys import InvalidKeyError, parse_public_key
from infernet.protocol.money import MoneyError, show, usdc

router = APIRouter(prefix="/api/v1", tags=["billing"])
MAX_DEPOSIT = usdc("100000")


def _credited(services: ServicesDep, caller: str, named: str | None) -> str:
    """The account a deposit credits, if `caller` may credit it."""
    if is_admin(services.settings, caller):
        return named or caller
    if not services.settings.open_deposits:
        raise Forbidden(
            "Crediting a balance is an admin action on this control plane: ask its operator "
            "(an account listed in --admin) to credit yours."
        )
    if named not in (None, caller):
        raise Forbidden("account_id: only platform admins credit another account.")
    return caller


async def _balance(services: ServicesDep, account: str) -> Balance:
    money = payments_of(services)
    found = await money.ledger.balances(
        [accounts.client_available(account), accounts.client_held(account)]
    )
    return Balance(
        available=show(found[accounts.client_available(account)]),
        held=show(found[accounts.client_held(account)]),
        minimum_to_submit=show(money.accounting.min_balance),
    )


@router.post(
    "/billing/deposits",
    response_model=DepositPublic,
    status_code=201,
    responses=errors(400, 401, 403, 404, 429),
)
async def deposit(
    body: DepositCreate,
    caller: AccountDep,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> DepositPublic:
    """Credit a balance in the ledger (ledger-only: no chain is reachable, as the answer
    says). **An admin action**: platform admins (`infernet cp serve --admin ACCOUNT_ID`)
    credit any account (`account_id`, default their own); other callers get 403, except
    on a local demo (`infernet up`, `Settings.open_deposits`), where anyone credits their
    own balance."""
    money = payments_of(services)
    if money.settlement.network is not None:  # real USDC: only the chain credits
        raise Forbidden(
            chain_deposits_only(money.settlement.network, money.settlement.confirmations)
        )
    if not services.settings.ledger_credits:
        raise Forbidden("Ledger-only deposits are turned off on this control plane.")
    account = _credited(services, caller, body.account_id)
    if account != caller and await get_account(services.db, account) is None:
        raise NotFound(f"account_id: no account {account}.")
    try:
        amount = usdc(body.amount)
    except MoneyError as exc:
        raise BadRequest(f"amount: {exc}") from exc
    if not 0 < amount <= MAX_DEPOSIT:
        raise BadRequest(f"amount: must be more than 0 and at most {show(MAX_DEPOSIT)} USDC.")
    deposit_id = new_id("dep")
    key = f"deposit:{account}:{idempotency_key}" if idempotency_key else f"deposit:{deposit_id}"
    moves = [(accounts.EXTERNAL_DEPOSITS, -amount), (accounts.client_available(account), amount)]
    await money.ledger.post("deposit", key, moves, memo=LEDGER_ONLY)
    return DepositPublic(
        id=deposit_id, amount=show(amount), balance=await _balance(services, account)
    )


@router.get("/billing/balance", response_model=Balance)
async def balance(account: AccountDep, services: ServicesDep) -> Balance:
    return await _balance(services, account)


@router.put("/billing/client-key", response_model=ClientKey)
async def set_client_key(body: ClientKey, account: AccountDep, services: ServicesDep) -> ClientKey:
    """Register a secp256k1 key: receipts for later jobs name it, and you can sign them."""
    payments_of(services)
    try:
        key = parse_public_key(body.public_key)
    except InvalidKeyError as exc:
        raise BadRequest(f"public_key: {exc}") from exc
    await client_keys.set_client_key(services.db, account, key)
    return ClientKey(public_key=key)


@router.get("/ledger", response_model=EntryList)
async def ledger_entries(
    who: PartyDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> EntryList:
    """Ledger postings on the caller's own accounts, newest first."""
    money = payments_of(services)
    owner = await owner_of(services, who)
    names = [accounts.earnings(owner), accounts.payout_pending(owner)]
    if who.account_id is not None:
        names += [accounts.client_available(owner), accounts.client_held(owner)]
    entries = await money.ledger.entries(names, limit)
    return EntryList(
        entries=[
            EntryPublic(
                transaction_id=e.transaction_id,
                kind=e.kind,
                account=e.account,
                amount=show(e.amount),
                job_id=e.job_id,
                memo=e.memo,
                usage_source=e.usage_source,
                created_at=iso(e.created_at) or "",
            )
            for e in entries
        ]
    )
