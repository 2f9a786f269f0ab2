"""Earnings (the ledger of the viewer's accounts, per-model prices of the viewer's nodes,
editable) and Billing (balance; add funds as a ledger deposit). Built on the ledger and
pricing services; with payments off (PAYMENTS_ENABLED=false) the pages say so."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from infernet.controlplane.api.billing import MAX_DEPOSIT
from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.ownership import is_admin
from infernet.controlplane.dashboard.deposits_view import deposit_view, payouts_view
from infernet.controlplane.dashboard.nodes_view import visible_rows
from infernet.controlplane.dashboard.render import Errors, form_fields, page, parse_form
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.money import ledger as accounts
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.schemas.billing import LEDGER_ONLY
from infernet.controlplane.schemas.forms import DepositForm, PriceForm
from infernet.controlplane.services import Services
from infernet.controlplane.store import node_keys
from infernet.controlplane.store.ids import new_id
from infernet.protocol.modelnames import routing_key
from infernet.protocol.money import MoneyError, price, show, usdc

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


async def _prices(services: Services, payments: Payments, viewer: Viewer) -> list[dict[str, Any]]:
    listing = []
    for row in await node_keys.nodes_of_account(services.db, viewer.account_id):
        node_id = str(row["id"])
        state = services.registry.get(node_id) or NodeState(node_id, "")
        found = await payments.pricing.node_prices(state)
        for key, (model, p) in sorted(found.items()):
            listing.append(
                {
                    "node_id": node_id,
                    "node_name": row["name"],
                    "model": model,
                    "key": key,
                    "input": show(p.input_per_1k),
                    "output": show(p.output_per_1k),
                    "source": p.source,
                }
            )
    return listing


async def _earnings(
    request: Request, services: Services, viewer: Viewer, errors: Errors, status: int = 200
) -> Response:
    payments = services.payments
    if payments is None:
        return page(request, "earnings.html", viewer=viewer, nav="earnings", payments=False)
    owner = viewer.account_id
    names = [
        accounts.earnings(owner),
        accounts.payout_pending(owner),
        accounts.client_available(owner),
        accounts.client_held(owner),
    ]
    balances = await payments.ledger.balances(names)
    entries = await payments.ledger.entries(names, 100)
    return page(
        request,
        "earnings.html",
        status_code=status,
        viewer=viewer,
        nav="earnings",
        payments=True,
        unclaimed=show(balances[names[0]]),
        pending=show(balances[names[1]]),
        entries=entries,
        payouts=await payouts_view(services, owner),
        prices=await _prices(services, payments, viewer),
        errors=errors,
        values=errors.get("_values", {}),
    )


@router.get("/earnings")
async def earnings_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    return await _earnings(request, services, viewer, {})


def _checked_price(form: PriceForm) -> tuple[Decimal, Decimal] | Errors:
    try:
        return price(form.input_per_1k), price(form.output_per_1k)
    except MoneyError as exc:
        return {"price": f"{exc} Give USDC per 1K tokens, e.g. 0.002."}


@router.post("/earnings/prices")
async def set_price(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    if services.payments is None:
        return await _earnings(request, services, viewer, {})
    form, errors = parse_form(PriceForm, await form_fields(request))
    if form is not None:
        owned = {str(r["id"]) for r in await visible_rows(services, viewer)}
        checked = _checked_price(form)
        if form.node_id not in owned:
            errors = {"price": "Only your own nodes' prices can be set here."}
        elif not routing_key(form.model):
            errors = {"price": "Give the model's name, e.g. qwen2.5:7b."}
        elif isinstance(checked, dict):
            errors = checked
        else:
            await services.payments.pricing.set_price(form.node_id, form.model, *checked)
            return RedirectResponse("/dashboard/earnings#prices", status_code=303)
    return await _earnings(
        request, services, viewer, errors or {"price": "Fill in every field."}, 400
    )


async def _billing(
    request: Request,
    services: Services,
    viewer: Viewer,
    *,
    errors: Errors | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    payments = services.payments
    if payments is None:
        return page(request, "billing.html", viewer=viewer, nav="billing", payments=False)
    names = [accounts.client_available(viewer.account_id), accounts.client_held(viewer.account_id)]
    balances = await payments.ledger.balances(names)
    return page(
        request,
        "billing.html",
        status_code=status,
        viewer=viewer,
        nav="billing",
        payments=True,
        available=show(balances[names[0]]),
        held=show(balances[names[1]]),
        minimum=show(payments.accounting.min_balance),
        errors=errors or {},
        notice=notice,
        deposits_on=_may_deposit(services, viewer),
        ledger_only=LEDGER_ONLY,
        **await deposit_view(services, payments, viewer.account_id),  # evm: the address
    )


@router.get("/billing")
async def billing_page(
    request: Request, viewer: ViewerDep, services: ServicesDep, added: str = ""
) -> Response:
    notice = f"Added {added[:20]} USDC to your balance." if added else ""
    return await _billing(request, services, viewer, notice=notice)


def _may_deposit(services: Services, viewer: Viewer) -> bool:
    """Ledger-only credits: an admin action, or anyone's on a local demo (api/billing.py)."""
    settings = services.settings
    return settings.ledger_credits and (
        settings.open_deposits or is_admin(settings, viewer.account_id)
    )


def _amount(text: str) -> Decimal | str:
    try:
        amount = usdc(text.strip())
    except MoneyError as exc:
        return f"{exc} Enter an amount like 10.00."
    if not 0 < amount <= MAX_DEPOSIT:
        return f"Enter more than 0 and at most {show(MAX_DEPOSIT)} USDC."
    return amount


@router.post("/billing/deposits")
async def add_funds(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    payments = services.payments
    if payments is None or not _may_deposit(services, viewer):
        return await _billing(
            request,
            services,
            viewer,
            status=403,
            errors={"amount": "Crediting a balance is an admin action on this network."},
        )
    form, _ = parse_form(DepositForm, await form_fields(request))
    amount = _amount(form.amount) if form else "Enter an amount like 10.00."
    if isinstance(amount, str):
        return await _billing(request, services, viewer, errors={"amount": amount}, status=400)
    moves = [
        (accounts.EXTERNAL_DEPOSITS, -amount),
        (accounts.client_available(viewer.account_id), amount),
    ]
    await payments.ledger.post("deposit", f"deposit:{new_id('dep')}", moves, memo=LEDGER_ONLY)
    return RedirectResponse(f"/dashboard/billing?added={show(amount)}", status_code=303)
