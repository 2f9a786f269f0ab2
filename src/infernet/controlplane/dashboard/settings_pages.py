"""Settings: API keys (create — shown once — and revoke), signed-in sessions (list, end),
payout address, notification webhooks (Slack / Discord, told when a node goes offline:
controlplane/watchers/webhooks.py), and nodes waiting for approval on private networks
(REQUIRE_NODE_APPROVAL)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.render import (
    Errors,
    form_fields,
    page,
    parse_form,
    submit_form,
)
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.schemas.forms import KeyForm, PayoutForm, WebhookForm
from infernet.controlplane.services import Services
from infernet.controlplane.store import dashboard as records
from infernet.controlplane.store import node_keys, sessions
from infernet.controlplane.store import payouts as payout_store
from infernet.controlplane.store.accounts import issue_key, list_keys, revoke_key
from infernet.controlplane.watchers.webhooks import BadWebhook, check_webhook, notify_account
from infernet.protocol.chains import CHAINS, AddressError, chain, check_coin, validate_address

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
HERE = "/dashboard/settings"


def back(notice: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"{HERE}?notice={quote(notice)}#{anchor}", status_code=303)


async def _settings(
    request: Request,
    services: Services,
    viewer: Viewer,
    *,
    new_key: str | None = None,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    notice: str = "",
) -> Response:
    keys = await list_keys(services.db, viewer.account_id)
    nodes = await node_keys.nodes_of_account(services.db, viewer.account_id)
    pending = [n for n in nodes if not n["approved"] and not n["revoked"]]
    context: dict[str, Any] = {
        "keys": keys,
        "new_key": new_key,
        "errors": errors or {},
        "values": values or {},
        "destinations": await payout_store.destinations(services.db, viewer.account_id),
        "chains": list(CHAINS),
        "webhooks": await records.webhooks_of(services.db, viewer.account_id),
        "sessions": await sessions.of_account(services.db, viewer.account_id),
        "pending": pending,
        "notice": notice,
        "payments": services.payments is not None,
        "config_approval": services.settings.require_node_approval,
    }
    return page(
        request, "settings.html", status_code=status, viewer=viewer, nav="settings", **context
    )


@router.get("/settings")
async def settings_page(
    request: Request, viewer: ViewerDep, services: ServicesDep, notice: str = ""
) -> Response:
    return await _settings(request, services, viewer, notice=notice[:200])


@router.post("/settings/keys")
async def create_key(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    form, errors = parse_form(KeyForm, await form_fields(request))
    if form is None:
        return await _settings(
            request, services, viewer, errors={"key_name": errors.get("name", "")}, status=400
        )
    issued = await issue_key(services.db, viewer.account_id, form.name.strip() or "dashboard")
    # Rendered, not redirected: the secret exists only in this one response.
    response = await _settings(request, services, viewer, new_key=issued.secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/keys/{key_id}/revoke")
async def revoke(key_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
    done = await revoke_key(services.db, key_id, viewer.account_id)
    await services.caches.key_revoked(key_id)
    notice = "Key revoked: it is refused from now on." if done else "That key was already revoked."
    return back(notice, "keys")


@router.post("/settings/sessions/{session_id}/end")
async def end_session(session_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
    done = await sessions.end_by_id(services.db, viewer.account_id, session_id)
    return back("Session ended." if done else "That session had already ended.", "sessions")


@router.post("/settings/payout")
async def set_payout(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    async def save(form: PayoutForm) -> tuple[bool | None, Errors]:
        try:
            network = chain(form.network).name
            address = validate_address(network, form.address.strip())
        except AddressError as exc:
            return None, {"address": f"{str(exc)[0].upper()}{str(exc)[1:]}."}
        coin = check_coin("USDC")
        await payout_store.set_destination(services.db, viewer.account_id, coin, network, address)
        return True, {}

    fields, saved, errors = await submit_form(request, PayoutForm, save)
    if saved:
        return back("Payout address saved.", "payout")
    return await _settings(request, services, viewer, errors=errors, values=fields, status=400)


@router.post("/settings/webhooks")
async def add_webhook(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    async def add(form: WebhookForm) -> tuple[bool | None, Errors]:
        try:
            kind, url = check_webhook(form.kind, form.url, services.settings.webhook_hosts)
        except BadWebhook as exc:
            return None, {"url": str(exc)}
        await records.add_webhook(services.db, viewer.account_id, kind, url)
        return True, {}

    fields, added, errors = await submit_form(request, WebhookForm, add)
    if added:
        return back("Webhook added.", "notifications")
    return await _settings(request, services, viewer, errors=errors, values=fields, status=400)


@router.post("/settings/webhooks/{webhook_id}/delete")
async def delete_webhook(webhook_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
    await records.remove_webhook(services.db, viewer.account_id, webhook_id)
    return back("Webhook removed.", "notifications")


@router.post("/settings/webhooks/test")
async def test_webhooks(viewer: ViewerDep, services: ServicesDep) -> Response:
    text = "Infernet: a test message from your dashboard's notification settings."
    outcomes = await notify_account(services, viewer.account_id, text)
    notice = (
        f"Sent to {len(outcomes)} webhook(s): " + "; ".join(outcomes)
        if outcomes
        else ("No webhook to send to: add one first.")
    )
    return back(notice, "notifications")


@router.post("/settings/nodes/{node_id}/approve")
async def approve(node_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
    row = await node_keys.node_row(services.db, node_id)
    if row is not None and row["account_id"] == viewer.account_id and not row["revoked"]:
        await node_keys.approve(services.db, node_id)
        await services.caches.node_changed(node_id, "trust")  # every replica's identity cache
        if state := services.registry.get(node_id):
            state.approved = True
        await services.jobs.dispatch_waiting()
    return back("Node approved.", "approvals")
