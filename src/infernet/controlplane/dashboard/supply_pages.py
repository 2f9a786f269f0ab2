"""Supply gap: models requested vs served, so operators see what to install. Demand is
the job manager's count of jobs submitted per model (`JobManager.demand`) and of jobs
refused because no online node served the model (`JobManager.names.refused`), since the
control plane started; served is the online nodes per model now."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.live import Fragments, fragment_events, live_response
from infernet.controlplane.dashboard.render import fragment, page
from infernet.controlplane.dashboard.session import ViewerDep
from infernet.controlplane.services import Services
from infernet.protocol.modelnames import routing_key

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@dataclass(frozen=True, slots=True)
class GapRow:
    model: str
    requested: int
    refused: int
    waiting_or_running: int
    nodes: int
    slots: int

    @property
    def gap(self) -> bool:
        return self.nodes == 0 and (self.requested + self.refused) > 0


def supply_rows(services: Services) -> list[GapRow]:
    online = services.registry.online_models()
    refused: dict[str, int] = {}
    names: dict[str, str] = {}
    for name, count in services.jobs.names.refused.items():
        key = routing_key(name) or name
        refused[key] = refused.get(key, 0) + count
        names.setdefault(key, name)
    keys = set(online) | set(services.jobs.demand) | set(refused)
    rows = []
    for key in keys:
        nodes = online.get(key, [])
        rows.append(
            GapRow(
                model=nodes[0].served[key] if nodes else names.get(key, key),
                requested=services.jobs.demand.get(key, 0),
                refused=refused.get(key, 0),
                waiting_or_running=sum(len(n.active_jobs) for n in nodes),
                nodes=len(nodes),
                slots=sum(max(0, n.free_slots) for n in nodes),
            )
        )
    rows.sort(key=lambda r: (not r.gap, -(r.requested + r.refused), r.model))
    return rows


@router.get("/supply")
async def supply_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> Response:
    stats = services.jobs.stats()
    return page(
        request, "supply.html", viewer=viewer, nav="supply", rows=supply_rows(services), stats=stats
    )


@router.get("/live/supply")
async def supply_live(viewer: ViewerDep, services: ServicesDep) -> Response:
    async def render() -> Fragments:
        stats = services.jobs.stats()
        return {
            "supply-table": fragment("_supply_table.html", rows=supply_rows(services), stats=stats)
        }

    return live_response(fragment_events(services, render, ("nodes", "jobs"), poll_s=2.0))
