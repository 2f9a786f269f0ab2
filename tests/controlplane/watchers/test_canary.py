"""Integrity canaries: a node whose answers diverge from the majority is flagged and
routed around until it agrees again; without a majority nothing is decided."""

from __future__ import annotations

from pathlib import Path

from infernet.controlplane.jobs.router import predicted_wait_s, route
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.watchers.canary import (
    SYSTEM_ACCOUNT,
    Canary,
    CanaryConfig,
    Verdict,
    judge,
)
from infernet.protocol.modelnames import routing_key
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend

GOOD = ["4", "2", ",", " 64", ",", " 128"]
SWAPPED = ["I", " like", " turtles"]


def test_answers_outside_a_strict_majority_are_flagged() -> None:
    verdict = judge({"a": "32, 64", "b": "32, 64", "c": "turtles"})
    assert verdict == Verdict("32, 64", frozenset({"c"}), frozenset({"a", "b"}))


def test_whitespace_differences_are_not_divergence() -> None:
    assert judge({"a": " 32,  64", "b": "32, 64\n"}).flagged == frozenset()


def test_no_majority_decides_nothing() -> None:
    assert judge({"a": "x", "b": "y"}) == Verdict(None)
    assert judge({"a": "x", "b": "y", "c": "z"}) == Verdict(None)


def test_nodes_that_gave_no_answer_are_neither_flagged_nor_counted() -> None:
    verdict = judge({"a": "x", "b": "x", "c": None})
    assert verdict.flagged == frozenset() and verdict.agreeing == frozenset({"a", "b"})


async def test_a_swapped_model_is_flagged_penalized_and_cleared_when_it_agrees_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as harness:
        for tokens in (GOOD, GOOD, SWAPPED):
            await harness.add_node(ScriptedBackend(["m:1b"], tokens=list(tokens)))
        services = harness.control_plane.services
        canary = Canary(services, CanaryConfig(penalty_s=500.0, answer_timeout_s=20))
        odd = services.registry.get(harness.nodes[2].node_id or "")
        assert odd is not None

        verdict = (await canary.run_once())[routing_key("m:1b")]
        assert verdict.flagged == frozenset({odd.node_id})
        assert odd.integrity_penalty_s == 500.0
        assert predicted_wait_s(odd, routing_key("m:1b")) >= 500.0
        chosen = route(services.registry.serving(routing_key("m:1b")), routing_key("m:1b"), 90)
        assert chosen.node is not None and chosen.node.node_id != odd.node_id

        backend = harness.nodes[2].daemon.backend
        assert isinstance(backend, ScriptedBackend)
        backend.tokens = list(GOOD)  # the operator fixed the model
        verdict = (await canary.run_once())[routing_key("m:1b")]
        assert verdict.flagged == frozenset() and odd.integrity_penalty_s == 0.0


async def test_canary_jobs_are_greedy_pinned_and_run_under_the_system_account(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, Settings(payments_enabled=True)) as harness:
        backends = [ScriptedBackend(["m:1b"], tokens=list(GOOD)) for _ in range(2)]
        for backend in backends:
            await harness.add_node(backend)
        services = harness.control_plane.services
        await Canary(services, CanaryConfig(answer_timeout_s=20)).run_once()
        found = await job_store.for_account(services.db, SYSTEM_ACCOUNT, limit=10)
    assert {job.status for job in found} == {"completed"}
    assert len(found) == 2
    for backend in backends:
        (request,) = backend.requests
        assert request.temperature == 0.0 and request.seed == CanaryConfig().seed


async def test_a_model_served_by_one_node_is_not_checked(tmp_path: Path) -> None:
    async with running(tmp_path) as harness:
        backend = ScriptedBackend(["m:1b"])
        await harness.add_node(backend)
        assert await Canary(harness.control_plane.services, CanaryConfig()).run_once() == {}
    assert backend.requests == []
