"""Nodes as clients and operators see them: public view, status and why no jobs."""

from __future__ import annotations

from pydantic import BaseModel


class DeregisterRequest(BaseModel):
    reason: str = ""


class DeregisterResponse(BaseModel):
    node_id: str
    status: str
    deregistered_at: str


class NodePublic(BaseModel):
    id: str
    status: str
    version: str | None
    backend: str | None
    vram_tier: str | None
    served_models: list[str]
    active_jobs: int
    last_heartbeat: str | None


class NodeStatus(BaseModel):
    status: str
    why_no_jobs: NodeExplanation | None = None


class Reason(BaseModel):
    reason: str
    count: int
    advice: str


class UnservedDemand(BaseModel):
    model: str
    jobs: int


class NodeExplanation(BaseModel):
    status: str
    jobs_done: int
    active_jobs: int
    measured_tokens_per_s: float
    reasons: list[Reason]
    unserved_demand: list[UnservedDemand]
    # Jobs sent to it because it probably held the start of their prompt (or ran their
    # session last): the share of its work its cache wins (jobs/placement.py).
    jobs_routed_for_cache: int = 0
