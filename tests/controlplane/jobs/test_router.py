"""The router: filters, predicted time-to-first-token, two choices among the best, pins."""

from __future__ import annotations

import random
import time

from infernet.controlplane.jobs.explain import note_passed_over
from infernet.controlplane.jobs.router import (
    COLD_LOAD_S,
    FILTERS,
    MAX_OFFENCES,
    OFFENCE_PENALTY_S,
    SAMPLE,
    pick_node,
    predicted_wait_s,
    route,
    usable,
)
from infernet.controlplane.nodes.registry import ChannelElsewhere, NodeState
from infernet.protocol.wire import JobAssignment, JobCancel

KEY = "m:1b"
OFFLINE_AFTER_S = 90.0


class OpenChannel:
    async def send(self, message: JobAssignment | JobCancel) -> None:
        return None


class ChannelOnOtherReplica(ChannelElsewhere, OpenChannel):
    """A node connected to another control-plane replica."""


def node(
    name: str, *, active: int = 0, slots: int = 4, hot: bool = True, **facts: object
) -> NodeState:
    state = NodeState(name, name, served={KEY: KEY}, hot={KEY} if hot else set())
    state.backend_healthy, state.channel = True, OpenChannel()
    state.max_concurrent, state.last_seen = slots, time.monotonic()
    state.active_jobs = {f"{name}-job-{i}" for i in range(active)}
    for field, value in facts.items():
        setattr(state, field, value)
    return state


def test_a_node_is_usable_exactly_when_no_filter_rejects_it() -> None:
    rng = random.Random(3)
    for i in range(2_000):
        state = node(
            f"n{i}",
            active=rng.randint(0, 3),
            slots=rng.randint(1, 3),
            approved=rng.random() < 0.9,
            revoked=rng.random() < 0.1,
            draining=rng.random() < 0.1,
            backend_healthy=rng.random() < 0.9,
            channel=OpenChannel() if rng.random() < 0.9 else None,
            last_seen=rng.choice((0.0, time.monotonic(), time.monotonic() - 1_000)),
            offences=rng.choice((0, 0, 0, 1, MAX_OFFENCES)),
        )
        now = time.monotonic()
        passes = all(keep(state, now, OFFLINE_AFTER_S) for _, keep in FILTERS)
        assert usable(state, now, OFFLINE_AFTER_S) == passes


def test_the_node_predicted_to_answer_first_wins() -> None:
    idle_hot = node("idle-hot")
    loaded = node("loaded", active=3, avg_job_s=20.0)
    cold = node("cold", hot=False)
    assert predicted_wait_s(cold, KEY) == COLD_LOAD_S
    for seed in range(20):
        assert (
            pick_node([loaded, cold, idle_hot], KEY, OFFLINE_AFTER_S, rng=random.Random(seed))
            is idle_hot
        )


def test_no_usable_node_means_no_pick_and_every_candidate_has_a_reason() -> None:
    nodes = [
        node("busy", active=1, slots=1),
        node("offline", last_seen=time.monotonic() - 1_000),
        node("closed", channel=None),
        node("sick", backend_healthy=False),
        node("waiting", approved=False),
        node("leaving", draining=True),
    ]
    decision = route(nodes, KEY, OFFLINE_AFTER_S)
    assert decision.node is None
    assert decision.rejected == {
        "busy": "busy",
        "offline": "offline",
        "closed": "no_channel",
        "sick": "backend_unhealthy",
        "waiting": "not_approved",
        "leaving": "draining",
    }


def test_passed_over_usable_nodes_are_slower_or_cold() -> None:
    chosen, cold, slower = node("best"), node("cold", hot=False), node("slower", active=3)
    decision = route([chosen, cold, slower], KEY, OFFLINE_AFTER_S)
    assert decision.node is chosen
    assert decision.rejected == {"cold": "model_cold", "slower": "slower"}


def test_a_pinned_job_goes_to_that_node_or_waits() -> None:
    nodes = [node(f"n{i}") for i in range(10)] + [node("slow-pin", active=3, avg_job_s=50.0)]
    assert pick_node(nodes, KEY, OFFLINE_AFTER_S, pinned="slow-pin") is nodes[-1]
    nodes[-1].active_jobs.add("one-more")
    decision = route(nodes, KEY, OFFLINE_AFTER_S, pinned="slow-pin")
    assert decision.node is None and decision.rejected == {"slow-pin": "busy"}
    assert pick_node(nodes, KEY, OFFLINE_AFTER_S, pinned="nobody") is None


def test_equal_nodes_share_a_burst_by_two_random_choices() -> None:
    nodes = [node(f"n{i}") for i in range(8)]
    rng = random.Random(1)
    chosen = {pick_node(nodes, KEY, OFFLINE_AFTER_S, rng=rng).node_id for _ in range(200)}  # type: ignore[union-attr]
    assert len(chosen) > 4


def test_between_two_equal_predictions_the_less_loaded_then_faster_then_bigger_wins() -> None:
    # Predicted waits within 10 % of each other count as equal.
    fewer = node("fewer", active=1, slots=8, avg_job_s=1.0)
    more = node("more", active=2, slots=16, avg_job_s=1.0)
    fast = node("fast", tokens_per_s=90.0, vram_tier="cpu")
    big = node("big", tokens_per_s=50.0, vram_tier=">=48gb")
    small = node("small", tokens_per_s=50.0, vram_tier=">=8gb")
    for seed in range(10):
        assert pick_node([more, fewer], KEY, OFFLINE_AFTER_S, rng=random.Random(seed)) is fewer
        assert pick_node([big, fast], KEY, OFFLINE_AFTER_S, rng=random.Random(seed)) is fast
        assert pick_node([small, big], KEY, OFFLINE_AFTER_S, rng=random.Random(seed)) is big


def test_among_equals_a_node_connected_to_this_replica_wins_but_never_over_a_sooner_one() -> None:
    # Two replicas: a job on a node connected elsewhere crosses the bus both ways.
    here = [node(f"here{i}") for i in range(3)]
    elsewhere = [node(f"there{i}", channel=ChannelOnOtherReplica()) for i in range(5)]
    rng = random.Random(2)
    picks = [pick_node(elsewhere + here, KEY, OFFLINE_AFTER_S, rng=rng) for _ in range(200)]
    assert {p.node_id for p in picks if p} == {n.node_id for n in here}  # all three share them
    # Predicted to answer sooner (beyond NEAR_BEST): the node elsewhere still wins.
    busy_here = node("busy-here", active=2, avg_job_s=5.0)
    idle_there = node("idle-there", channel=ChannelOnOtherReplica())
    assert pick_node([busy_here, idle_there], KEY, OFFLINE_AFTER_S, rng=rng) is idle_there
    # Only nodes elsewhere can take it: one of them does.
    full_here = node("full-here", active=1, slots=1)
    assert pick_node([full_here, *elsewhere], KEY, OFFLINE_AFTER_S, rng=rng) in elsewhere


def test_among_many_candidates_the_one_free_node_is_still_found() -> None:
    nodes = [node(f"full{i}", active=1, slots=1) for i in range(SAMPLE * 50)]
    free = node("free")
    nodes.insert(len(nodes) // 2, free)
    for seed in range(5):
        assert pick_node(nodes, KEY, OFFLINE_AFTER_S, rng=random.Random(seed)) is free


def test_reasons_for_a_large_network_are_a_bounded_sample() -> None:
    nodes = [node(f"n{i}") for i in range(SAMPLE * 10)]
    decision = route(nodes, KEY, OFFLINE_AFTER_S, rng=random.Random(2))
    assert decision.node is not None
    assert 0 < len(decision.rejected) <= SAMPLE
    assert decision.node.node_id not in decision.rejected


def test_passed_over_nodes_count_why() -> None:
    chosen, busy, cold = node("chosen"), node("busy", active=1, slots=1), node("cold", hot=False)
    for _ in range(3):
        note_passed_over([chosen, busy, cold], chosen, KEY, OFFLINE_AFTER_S)
    assert chosen.passed_over == {}
    assert busy.passed_over == {"busy": 3}
    assert cold.passed_over == {"model_cold": 3}


def test_each_offence_lengthens_the_predicted_wait_and_repeated_ones_exclude() -> None:
    honest, caught = node("honest", active=3, slots=4), node("caught", offences=1)
    assert predicted_wait_s(caught, KEY) == OFFENCE_PENALTY_S
    assert pick_node([honest, caught], KEY, OFFLINE_AFTER_S) is honest
    excluded = node("excluded", offences=MAX_OFFENCES)
    assert pick_node([excluded], KEY, OFFLINE_AFTER_S) is None
    assert route([excluded], KEY, OFFLINE_AFTER_S).rejected == {"excluded": "offences"}
