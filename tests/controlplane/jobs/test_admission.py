"""Admission at submit: a model whose every online node has its engine down is refused at
once with a retryable 503 naming why, and a prompt longer than every online node's
context with a 400 naming the largest; one node of the model with its engine up, or with
room for the prompt, admits the job wherever it is among the model's nodes; nodes
offline or of other models do not count."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import BackendsDown, ContextLengthExceeded
from infernet.controlplane.jobs.admission import check_admissible
from infernet.controlplane.jobs.context import ContextGuard
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.settings import Settings
from infernet.protocol.modelnames import routing_key
from infernet.protocol.wire import Heartbeat, ServedModel

MODEL = "m:1b"
KEY = routing_key(MODEL)
NO_DATABASE = cast(AsyncEngine, None)  # only a pinned request reads it
REQUEST = JobCreate(model=MODEL, messages=[{"role": "user", "content": "Hi"}])


def beat(model: str, healthy: bool, detail: str = "", context: int | None = None) -> Heartbeat:
    served = [ServedModel(name=model, context_length=context)]
    return Heartbeat(
        version="1", backend="ollama", backend_healthy=healthy, backend_detail=detail,
        served_models=served,
    )  # fmt: skip


def network(*nodes: tuple[str, bool, str]) -> NodeRegistry:
    """Online nodes as (model, engine up, what its heartbeat says of the engine)."""
    registry = NodeRegistry(offline_after_s=90)
    for i, (model, healthy, detail) in enumerate(nodes):
        state = registry.ensure(f"node-{i}", f"key-{i}")
        registry.apply_heartbeat(state, beat(model, healthy, detail))
    return registry


async def test_one_node_with_its_engine_up_admits_the_job_wherever_it_is() -> None:
    down = (MODEL, False, "connection refused")
    for place in range(5):
        nodes = [down] * 5
        nodes[place] = (MODEL, True, "")
        await check_admissible(NO_DATABASE, network(*nodes), REQUEST, KEY)


async def test_every_online_node_down_refuses_with_a_retryable_503_naming_why() -> None:
    registry = network(
        (MODEL, False, "connection refused"),
        (MODEL, False, "model not loaded"),
        ("other:7b", True, ""),
    )
    with pytest.raises(BackendsDown) as refused:
        await check_admissible(NO_DATABASE, registry, REQUEST, KEY)
    assert refused.value.headers == {"Retry-After": "15"}
    assert "connection refused; model not loaded" in refused.value.message


async def test_an_offline_node_with_its_engine_up_does_not_admit() -> None:
    registry = network((MODEL, False, "connection refused"), (MODEL, True, ""))
    offline = registry.get("node-1")
    assert offline is not None
    offline.last_seen -= 1_000
    with pytest.raises(BackendsDown):
        await check_admissible(NO_DATABASE, registry, REQUEST, KEY)


async def test_a_model_no_node_serves_is_left_to_the_name_check() -> None:
    await check_admissible(NO_DATABASE, network(("other:7b", False, "down")), REQUEST, KEY)


def guard(*contexts: int | None) -> ContextGuard:
    """What `admit` reads: online nodes of MODEL reporting these contexts (None: unsaid)."""
    registry = NodeRegistry(offline_after_s=90)
    for i, context in enumerate(contexts):
        state = registry.ensure(f"node-{i}", f"key-{i}")
        registry.apply_heartbeat(state, beat(MODEL, True, context=context))
    unused: Any = None  # admit reads the registry alone
    return ContextGuard(registry, unused, unused, unused, Settings())


def words(count: int) -> JobCreate:
    return JobCreate(model=MODEL, messages=[{"role": "user", "content": "word " * count}])


def test_a_prompt_longer_than_every_nodes_context_is_refused_naming_the_largest() -> None:
    with pytest.raises(ContextLengthExceeded) as refused:
        guard(64, 96, 80).admit(KEY, words(100))
    assert "at least 100 tokens" in refused.value.message
    assert "96 tokens" in refused.value.message


def test_one_node_with_room_or_an_unsaid_context_admits_the_prompt_wherever_it_is() -> None:
    for roomy in (4096, None):
        for place in range(4):
            contexts: list[int | None] = [64] * 4
            contexts[place] = roomy
            need = guard(*contexts).admit(KEY, words(100))
            assert need is not None and need.least == 101
