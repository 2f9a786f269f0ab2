"""Market: per model served now, the price and speed of each node serving it (a chart
and a table) and the model's jobs, speed and time to first token over a window.

Prices are the nodes' own (money/pricing.py: the operator's, else the default for its
tier), speeds and first-token times the control plane's measurements of their jobs
(nodes/registry.py), never what a node says of itself. Other operators' nodes are shown
without name or id (a node is private to its owner: api/ownership.py); the viewer's own
are named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.charts import Chart, Offer, chart, element_id, price_speed
from infernet.controlplane.dashboard.history import WINDOWS, Window, model_history, window_named
from infernet.controlplane.dashboard.render import page
from infernet.controlplane.dashboard.session import Viewer, ViewerDep
from infernet.controlplane.money.pricing import Price
from infernet.controlplane.nodes.registry import NodeState
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.money import show

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
MAX_MODELS = 30  # the most served first: the page stays a page


@dataclass(frozen=True, slots=True)
class NodeOffer:
    label: str
    mine: bool
    node_id: str | None  # only for the viewer's own nodes (a link to its page)
    price_in: str | None  # USDC per 1K tokens; None: payments are off
    price_out: str | None
    tokens_per_s: float | None  # None: no job finished yet
    ttft_ms: float | None
    jobs: int


@dataclass
class ModelMarket:
    key: str
    name: str
    offers: list[NodeOffer] = field(default_factory=list)
    spread: Chart | None = None  # None: payments are off (no prices)
    charts: list[Chart] = field(default_factory=list)


async def _offers(
    services: Services, key: str, nodes: list[NodeState], mine: dict[str, str]
) -> list[NodeOffer]:
    prices: list[Price | None] = [None] * len(nodes)
    if services.payments is not None:
        prices = list(await services.payments.pricing.prices_among(key, nodes))
    ranked = sorted(zip(nodes, prices, strict=True), key=lambda pair: -pair[0].tokens_per_s)
    offers = []
    for i, (node, price) in enumerate(ranked):
        owned = node.node_id in mine
        offers.append(
            NodeOffer(
                label=(mine[node.node_id] or node.node_id) if owned else f"node {i + 1}",
                mine=owned,
                node_id=node.node_id if owned else None,
                price_in=show(price.input_per_1k) if price else None,
                price_out=show(price.output_per_1k) if price else None,
                tokens_per_s=round(node.tokens_per_s, 1) if node.jobs_done else None,
                ttft_ms=round(node.ttft_s * 1000) if node.ttft_s else None,
                jobs=node.jobs_done,
            )
        )
    return offers


def _spread(key: str, offers: list[NodeOffer]) -> Chart:
    plotted = [
        Offer(o.label, float(o.price_out), o.tokens_per_s)
        for o in offers
        if o.price_out is not None and o.tokens_per_s is not None
    ]
    return price_speed(element_id("chart", key, "market"), plotted)


async def market(services: Services, viewer: Viewer, window: Window) -> list[ModelMarket]:
    mine = {
        str(r["id"]): str(r["name"] or "")
        for r in await node_store.visible_to(services.db, viewer.account_id)
    }
    online = services.registry.online_models()
    keys = sorted(online, key=lambda k: (-len(online[k]), k))[:MAX_MODELS]
    now, result = time.time(), []
    for key in keys:
        nodes = online[key]
        entry = ModelMarket(key, sorted({n.served[key] for n in nodes})[0])
        entry.offers = await _offers(services, key, nodes, mine)
        entry.spread = _spread(key, entry.offers) if services.payments else None
        history = await model_history(services.db, key, window, now)
        entry.charts = [chart(s, window.label, prefix=key) for s in history]
        result.append(entry)
    return result


@router.get("/market")
async def market_page(
    request: Request, viewer: ViewerDep, services: ServicesDep, window: str = ""
) -> Response:
    shown = window_named(window)
    models = await market(services, viewer, shown)
    return page(
        request,
        "market.html",
        viewer=viewer,
        nav="market",
        models=models,
        window=shown,
        windows=WINDOWS,
    )
