"""A node's verifications: the whole record to its owner, a coarse grade to everyone
(controlplane/verification/reputation.py says how both are computed)."""

from __future__ import annotations

from fastapi import APIRouter

from infernet.controlplane.api.callers import PartyDep
from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors
from infernet.controlplane.api.ownership import managed_node
from infernet.controlplane.errors import NotFound
from infernet.controlplane.schemas.verifications import (
    GradePublic,
    ReputationPublic,
    VerificationPublic,
)
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import verifications as store
from infernet.controlplane.store.ids import iso
from infernet.controlplane.verification.reputation import WINDOW, Reputation

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.get("/{node_id}/verifications", response_model=ReputationPublic, responses=errors(401, 404))
async def node_verifications(
    node_id: str, who: PartyDep, services: ServicesDep
) -> ReputationPublic:
    """Its owner's (or an admin's, or the node's own) view: score, grade, penalty and each
    recent check with what failed and why."""
    row = await managed_node(services, node_id, who)
    recent = await store.recent(services.db, node_id, WINDOW)
    reputation = Reputation.of(recent)
    return ReputationPublic(
        node_id=node_id,
        grade=reputation.grade,
        score=round(reputation.score, 3),
        checks=reputation.checks,
        failed=reputation.failed,
        penalty_s=reputation.penalty_s,
        offences=int(row["offences"] or 0),
        explanation=reputation.explain(),
        recent=[
            VerificationPublic(
                at=iso(c.at),
                job_id=None if c.passed else c.job_id,
                passed=c.passed,
                checks=c.checks,
                detail=c.detail,
                withheld_usdc=c.withheld_usdc,
            )
            for c in recent
        ],
    )


@router.get("/{node_id}/grade", response_model=GradePublic, responses=errors(401, 404))
async def node_grade(node_id: str, _account: AccountDep, services: ServicesDep) -> GradePublic:
    """What any client may know of a node's verifications: new, A, B or C."""
    if await node_store.node_by_id(services.db, node_id) is None:
        raise NotFound(f"No node {node_id}.")
    recent = await store.recent(services.db, node_id, WINDOW)
    return GradePublic(node_id=node_id, grade=Reputation.of(recent).grade)
