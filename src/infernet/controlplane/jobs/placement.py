"""Where a waiting job can run now: its candidates (the nodes serving its model, less
those that already failed it), the router's pick among them, and, once it was sent, why
the others were passed over (for the "why no jobs" explainer)."""

from __future__ import annotations

from infernet.controlplane.jobs.explain import note_passed_over
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.router import pick_node
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState


def candidates(registry: NodeRegistry, job: LiveJob) -> list[NodeState]:
    serving = registry.serving(job.key)
    if job.excluded:  # never hand a job back to a node that stalled or failed on it
        serving = [n for n in serving if n.node_id not in job.excluded]
    return serving


def place(registry: NodeRegistry, job: LiveJob) -> NodeState | None:
    """The node to send `job` to now, or None when none can take it."""
    offline_after_s, pinned, need = registry.offline_after_s, job.request.node_id, job.need
    return pick_node(candidates(registry, job), job.key, offline_after_s, pinned=pinned, need=need)


def explain(registry: NodeRegistry, job: LiveJob, chosen: NodeState) -> None:
    """Why the others were passed over (explain.py), once the job was sent."""
    offline_after_s, pinned, need = registry.offline_after_s, job.request.node_id, job.need
    note_passed_over(
        candidates(registry, job), chosen, job.key, offline_after_s, pinned=pinned, need=need
    )
