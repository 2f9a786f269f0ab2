"""Prefix-aware routing: a node that holds the start of a prompt wins while the balance
rule allows, the decision stays O(1) in the network's size, the record says why."""

from __future__ import annotations

import random

from infernet.controlplane.jobs.explain import note_passed_over
from infernet.controlplane.jobs.live import LiveJob
from infernet.controlplane.jobs.placement import Placement
from infernet.controlplane.jobs.prefix_index import Prompt
from infernet.controlplane.jobs.router import Affinity, pick_node, prefill_s
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.protocol.wire import ChatMessageIn, Heartbeat, NodeLoad, ServedModel
from tests.controlplane.jobs.test_router import KEY, OFFLINE_AFTER_S, OpenChannel, node
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

SYSTEM = "You answer questions about the attached manual. " * 100


PROMPT_CHARS = 8_000  # 2,000 tokens: 4 s of prefill at the default speed


def cached(holder: NodeState, chars: int = PROMPT_CHARS) -> Affinity:
    return Affinity({holder.node_id: chars}, [holder], PROMPT_CHARS)


def test_an_idle_node_holding_the_prefix_wins_over_equally_idle_ones() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    for seed in range(50):
        rng = random.Random(seed)
        assert (
            pick_node(nodes, KEY, OFFLINE_AFTER_S, rng=rng, affinity=cached(nodes[3])) is (nodes[3])
        )


def test_the_cache_wins_over_a_short_queue_but_not_over_a_pile() -> None:
    holder = node("holder", active=1, avg_job_s=1.0)
    idle = [node(f"idle{i}") for i in range(3)]
    assert pick_node([holder, *idle], KEY, OFFLINE_AFTER_S, affinity=cached(holder)) is holder
    piled = node("piled", active=2, avg_job_s=0.1)  # its queue predicts almost no wait
    for seed in range(50):
        chosen = pick_node(
            [piled, *idle], KEY, OFFLINE_AFTER_S, rng=random.Random(seed), affinity=cached(piled)
        )
        assert chosen is not piled  # two more jobs than idle nodes: its cache does not count


def test_a_saving_smaller_than_the_queue_it_would_wait_behind_does_not_win() -> None:
    holder, idle = node("holder", active=1, avg_job_s=20.0), node("idle")
    assert pick_node([holder, idle], KEY, OFFLINE_AFTER_S, affinity=cached(holder)) is idle


def test_a_slower_node_holding_less_of_the_prompt_does_not_win_for_being_slow() -> None:
    deep, shallow = node("deep", tokens_per_s=30.0), node("shallow", tokens_per_s=10.0)
    affinity = Affinity({"deep": 7_900, "shallow": 4_000}, [deep, shallow], PROMPT_CHARS)
    for seed in range(50):
        rng = random.Random(seed)
        assert pick_node([deep, shallow], KEY, OFFLINE_AFTER_S, rng=rng, affinity=affinity) is deep


def test_a_holder_outside_the_sample_of_a_large_network_is_still_looked_at() -> None:
    nodes = [node(f"n{i}", active=1) for i in range(5_000)]
    holder = node("holder", active=1)
    nodes.append(holder)
    for seed in range(20):
        rng = random.Random(seed)
        assert pick_node(nodes, KEY, OFFLINE_AFTER_S, rng=rng, affinity=cached(holder)) is holder


def test_the_prefill_saved_grows_with_the_prefix_and_shrinks_with_the_nodes_speed() -> None:
    slow, fast = node("slow", tokens_per_s=10.0), node("fast", tokens_per_s=100.0)
    assert prefill_s(slow, 8000) == 10 * prefill_s(fast, 8000) > prefill_s(slow, 800)


def job(*turns: str, session: str | None = None, excluded: set[str] | None = None) -> LiveJob:
    messages = [ChatMessageIn(role="system", content=SYSTEM)]
    messages += [ChatMessageIn(role="user", content=t) for t in turns]
    request = JobCreate(model=KEY, messages=messages, session=session)
    live = LiveJob("job", "acct", KEY, request, 0.0, excluded=excluded or set())
    live.prompt = Prompt.of(messages, session)
    return live


def network(size: int) -> tuple[Placement, list[NodeState]]:
    """`size` idle nodes serving KEY, as their heartbeats register them."""
    registry = NodeRegistry(OFFLINE_AFTER_S)
    beat = Heartbeat(
        version="test",
        backend="llamacpp",
        backend_healthy=True,
        served_models=[ServedModel(name=KEY, loaded=True)],
        load=NodeLoad(active_jobs=0, max_concurrent_jobs=4),
    )
    nodes = []
    for i in range(size):
        state = registry.ensure(f"n{i}", f"key{i}")
        registry.apply_heartbeat(state, beat)
        state.channel = OpenChannel()
        nodes.append(state)
    return Placement(registry), nodes


def test_a_conversations_next_turn_goes_to_the_node_that_ran_its_last_one() -> None:
    placement, _ = network(4)
    first = job("Chapter 3 says " + "x" * 2000)
    went = placement.place(first)
    assert went is not None and placement.chosen(first, went) == {"reason": "load"}
    for turn in range(10):
        later = job("Chapter 3 says " + "x" * 2000, f"question {turn}")
        assert placement.place(later) is went
        routing = placement.chosen(later, went)
        assert routing["reason"] == "cache" and routing["cached_chars"] >= 2000
    assert went.cache_routed == 10  # the explainer's jobs_routed_for_cache


def test_a_shared_system_prompt_does_not_draw_every_new_conversation_to_one_node() -> None:
    placement, nodes = network(4)
    went = []
    for number in range(40):
        conversation = job(f"conversation {number}: " + "y" * 1000)
        node = placement.place(conversation)
        assert node is not None
        placement.chosen(conversation, node)
        went.append(node.node_id)
    counts = [went.count(n.node_id) for n in nodes]
    assert max(counts) <= 1.5 * len(went) / len(nodes) + 1, counts


def test_a_node_that_failed_the_job_gets_no_affinity_for_it() -> None:
    placement, (holder, other) = network(2)
    placement.chosen(job("x" * 2000), holder)
    assert placement.place(job("x" * 2000, excluded={holder.node_id})) is other


def test_a_named_session_returns_to_its_node_and_its_record_says_so() -> None:
    placement, nodes = network(4)
    placement.chosen(job("hello", session="alice"), nodes[2])
    again = job("hello", "and then?", session="alice")
    assert placement.place(again) is nodes[2]
    assert placement.chosen(again, nodes[2])["reason"] == "session"


def test_nodes_passed_over_for_anothers_cache_say_so_in_the_explainer() -> None:
    holder, other = node("holder"), node("other")
    note_passed_over([holder, other], holder, KEY, OFFLINE_AFTER_S, for_cache=True)
    assert other.passed_over == {"cache_elsewhere": 1}
    note_passed_over([holder, other], holder, KEY, OFFLINE_AFTER_S)
    assert other.passed_over == {"cache_elsewhere": 1, "slower": 1}


async def test_a_conversation_over_v1_stays_on_its_node_and_each_record_says_why(
    harness: Harness,
) -> None:
    backends = [ScriptedBackend(["m:1b"]) for _ in range(3)]
    for backend in backends:
        await harness.add_node(backend)
    history = [{"role": "system", "content": SYSTEM}]
    reasons = []
    async with harness.client() as api:
        for turn in range(4):
            history.append({"role": "user", "content": f"question {turn}"})
            body = {"model": "m:1b", "messages": history, "user": "conversation-7"}
            answer = (await api.post("/v1/chat/completions", json=body)).json()
            history.append(
                {"role": "assistant", "content": answer["choices"][0]["message"]["content"]}
            )
            job_id = answer["id"]
            record = (await api.get(f"/api/v1/jobs/{job_id}")).json()
            reasons.append(record["routing"]["reason"])
    assert [len(b.requests) for b in backends].count(4) == 1  # every turn on one node
    assert reasons[0] == "load" and set(reasons[1:]) == {"session"}
