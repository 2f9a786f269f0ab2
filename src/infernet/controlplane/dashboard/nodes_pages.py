"""Nodes: the list (live), Add Node (a registration token and the commands to run), and a
node's page: Manage Models (installed, suggested for its tier, catalogue search, Install /
Remove through the command queue, followed live), its history charted over a window
(dashboard/history.py, charts.py) and Why no jobs (controlplane/jobs/explain.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.charts import Chart, chart
from infernet.controlplane.dashboard.history import WINDOWS, Window, node_history, window_named
from infernet.controlplane.dashboard.live import Fragments, fragment_events, live_response
from infernet.controlplane.dashboard.models_view import search, suggested
from infernet.controlplane.dashboard.nodes_view import (
    NodeView,
    node_views,
    visible_node,
    visible_rows,
)
from infernet.controlplane.dashboard.render import form_fields, fragment, page, parse_form
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.jobs.explain import explain
from infernet.controlplane.money.ledger import earnings
from infernet.controlplane.schemas.forms import CommandForm
from infernet.controlplane.services import Services
from infernet.controlplane.store import commands as command_store
from infernet.controlplane.store import registration as registration_store
from infernet.controlplane.store import verifications as verification_store
from infernet.controlplane.store.ids import iso
from infernet.controlplane.verification.reputation import WINDOW, Reputation
from infernet.protocol.modelnames import routing_key

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


async def _list_fragments(services: Services, viewer: Viewer) -> Fragments:
    views = await node_views(services, viewer, await visible_rows(services, viewer))
    return {"nodes-table": fragment("_nodes_table.html", nodes=views)}


@router.get("/nodes")
async def nodes_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    views = await node_views(services, viewer, await visible_rows(services, viewer))
    return page(request, "nodes.html", viewer=viewer, nav="nodes", nodes=views)


@router.get("/live/nodes")
async def nodes_live(viewer: ViewerDep, services: ServicesDep) -> Response:
    async def render() -> Fragments:
        return await _list_fragments(services, viewer)

    return live_response(fragment_events(services, render, ("nodes",)))


@router.get("/nodes/add")
async def add_node_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    return page(
        request,
        "add_node.html",
        viewer=viewer,
        nav="nodes",
        token=None,
        url=services.settings.public_url,
    )


@router.post("/nodes/add")
async def add_node(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    issued = await registration_store.create_token(
        services.db, viewer.account_id, services.settings.registration_token_ttl_s
    )
    return page(
        request,
        "add_node.html",
        viewer=viewer,
        nav="nodes",
        token=issued.token,
        expires_at=iso(issued.expires_at),
        url=services.settings.public_url,
    )


async def _node_context(services: Services, viewer: Viewer, node_id: str) -> dict[str, Any] | None:
    row = await visible_node(services, viewer, node_id)
    if row is None:
        return None
    view: NodeView = (await node_views(services, viewer, [row]))[0]
    state = services.registry.get(node_id)
    why = explain(state, services.registry.offline_after_s, services.jobs.demand) if state else None
    commands = await command_store.commands_for_node(services.db, node_id, limit=20)
    checks = await verification_store.recent(services.db, node_id, WINDOW)
    return {
        "node": view,
        "why": why,
        "commands": commands,
        "reputation": Reputation.of(checks),
        "checks": checks[:10],
    }


def _node_fragments(context: dict[str, Any]) -> Fragments:
    return {
        "node-summary": fragment("_node_summary.html", **context),
        "installed": fragment("_installed.html", **context),
        "commands": fragment("_commands.html", **context),
        "why": fragment("_why.html", **context),
    }


async def node_charts(services: Services, node_id: str, window: Window) -> list[Chart]:
    """The node's history over `window`; earnings when payments are on (its owner's)."""
    account = None
    if services.payments is not None:
        account = earnings(await services.payments.accounting.owner_of(node_id))
    series = await node_history(services.db, node_id, window, earnings_account=account)
    return [chart(s, window.label) for s in series]


@router.get("/nodes/{node_id}")
async def node_page(
    request: Request,
    node_id: str,
    viewer: ViewerDep,
    services: ServicesDep,
    q: str = "",
    window: str = "",
) -> Response:
    context = await _node_context(services, viewer, node_id)
    if context is None:
        return page(
            request,
            "not_found.html",
            status_code=404,
            viewer=viewer,
            nav="nodes",
            what=f"No node {node_id} in your account.",
        )
    node: NodeView = context["node"]
    served = {routing_key(m) for m in node.models}
    picks = suggested(services, node.tier, node.vram_gb, node.backend, served)
    found = search(services, q, node.vram_gb, node.backend, served) if q.strip() else []
    shown = window_named(window)
    return page(
        request,
        "node.html",
        viewer=viewer,
        nav="nodes",
        suggested=picks,
        q=q,
        results=found,
        window=shown,
        windows=WINDOWS,
        charts=await node_charts(services, node_id, shown),
        **context,
    )


@router.get("/live/nodes/{node_id}")
async def node_live(node_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
    async def render() -> Fragments:
        context = await _node_context(services, viewer, node_id)
        return _node_fragments(context) if context else {}

    topics = ("nodes", f"node:{node_id}", f"commands:{node_id}")
    return live_response(fragment_events(services, render, topics, poll_s=0.5))


@router.post("/nodes/{node_id}/commands")
async def queue_command(
    request: Request, node_id: str, viewer: ViewerDep, services: ServicesDep
) -> Response:
    row = await visible_node(services, viewer, node_id)
    if row is None or row["revoked"]:
        return page(
            request,
            "not_found.html",
            status_code=404,
            viewer=viewer,
            nav="nodes",
            what=f"No node {node_id} in your account that can take commands.",
        )
    form, errors = parse_form(CommandForm, await form_fields(request))
    if form is None:
        return page(
            request,
            "not_found.html",
            status_code=400,
            viewer=viewer,
            nav="nodes",
            what="; ".join(f"{k}: {v}" for k, v in errors.items()),
        )
    await command_store.queue_command(
        services.db,
        node_id=node_id,
        account_id=viewer.account_id,
        type=form.type,
        model=form.model.strip(),
    )
    await services.caches.node_changed(node_id, "commands")  # its next heartbeat carries it
    services.events.publish(f"commands:{node_id}", form.model)
    return RedirectResponse(f"/dashboard/nodes/{node_id}#commands", status_code=303)
