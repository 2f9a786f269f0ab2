"""Routing preferences: which nodes and model a job may run on, and a clear refusal
naming the preference when none can."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import ModelNotFound, PreferencesUnmet
from infernet.controlplane.jobs.names import ModelNames
from infernet.controlplane.jobs.preferences import Preferences
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate, RoutingPreferences
from infernet.protocol.tiers import Tier
from infernet.protocol.wire import Heartbeat, NodeLoad, ServedModel
from tests.controlplane.jobs.test_router import OpenChannel
from tests.support.harness import Harness
from tests.support.scripted import ScriptedBackend

MESSAGES = [{"role": "user", "content": "hi"}]


class Network:
    def __init__(self, db: AsyncEngine) -> None:
        self.registry = NodeRegistry(90.0)
        self.preferences = Preferences(db, self.registry, ModelNames(self.registry))

    def add(self, node_id: str, model: str, tier: Tier = "cpu", busy: bool = False) -> NodeState:
        beat = Heartbeat(
            version="test",
            backend="llamacpp",
            backend_healthy=True,
            served_models=[ServedModel(name=model, loaded=True)],
            vram_tier=tier,
            load=NodeLoad(active_jobs=0, max_concurrent_jobs=1),
        )
        node = self.registry.ensure(node_id, f"key-{node_id}")
        self.registry.apply_heartbeat(node, beat)
        node.channel = OpenChannel()
        if busy:
            node.active_jobs = {"another-job"}
        return node

    async def choose(self, model: str = "m:1b", **fields: object) -> tuple[str, set[str] | None]:
        models = fields.pop("models", [])
        prefs = RoutingPreferences.model_validate(fields) if fields else None
        request = JobCreate(model=model, messages=MESSAGES, provider=prefs, models=models)
        choice = await self.preferences.choose(request)
        return choice.model, None if choice.allowed is None else set(choice.allowed)


@pytest.fixture
def net(db: AsyncEngine) -> Network:
    return Network(db)


async def test_without_preferences_any_node_of_the_model_may_run_it(net: Network) -> None:
    net.add("a", "m:1b")
    assert await net.choose() == ("m:1b", None)


async def test_tier_quantization_and_node_lists_leave_out_the_nodes_they_exclude(
    net: Network,
) -> None:
    net.add("small", "m:1b-q4_K_M")
    net.add("big", "m:1b-q8_0", tier=">=24gb")
    net.add("huge", "m:1b-fp16", tier=">=48gb")
    assert (await net.choose(min_tier=">=24gb"))[1] == {"big", "huge"}
    assert (await net.choose(quantizations=["q4_k_m", "fp16"]))[1] == {"small", "huge"}
    assert (await net.choose(quantizations=["q8"]))[1] == {"big"}
    assert (await net.choose(only=["small", "big"], ignore=["big"]))[1] == {"small"}


async def test_max_price_leaves_out_dearer_nodes(net: Network) -> None:
    net.add("cpu", "m:1b")
    net.add("flagship", "m:1b", tier=">=48gb")  # its default price is 20 % higher
    assert (await net.choose(max_price={"output_per_1k": "0.001"}))[1] == {"cpu"}
    assert (await net.choose(max_price={"output_per_1k": "0.0012"}))[1] == {"cpu", "flagship"}


async def test_a_preference_no_node_meets_is_refused_naming_it_and_what_it_excluded(
    net: Network,
) -> None:
    net.add("a", "m:1b")
    net.add("b", "m:1b")
    with pytest.raises(PreferencesUnmet) as refused:
        await net.choose(min_tier=">=12gb", models=["m:7b"])
    assert refused.value.status == 404
    assert "'m:1b': min_tier left out 2 nodes" in refused.value.message
    assert "'m:7b'" in refused.value.message  # the fallback was tried, and why it failed


async def test_the_next_model_runs_the_job_only_when_the_first_has_no_room(
    net: Network,
) -> None:
    net.add("one", "m:1b", busy=True)
    net.add("seven", "m:7b")
    assert (await net.choose(models=["m:7b"]))[0] == "m:7b"
    assert (await net.choose(models=["m:3b"]))[0] == "m:1b"  # no room anywhere: it waits
    net.registry.get("one").active_jobs.clear()  # type: ignore[union-attr]
    assert (await net.choose(models=["m:7b"]))[0] == "m:1b"


async def test_an_unserved_model_is_still_model_not_found(net: Network) -> None:
    with pytest.raises(ModelNotFound):
        await net.choose("nobody:1b", sort="price")


async def test_names_nobody_serves_leave_nothing_behind_in_the_registry(net: Network) -> None:
    net.add("a", "m:1b")
    names = ModelNames(net.registry)
    for n in range(200):  # a client may name any model: no entry is kept for its name
        with pytest.raises(ModelNotFound):
            names.resolve(f"nobody-{n}:1b")
    assert net.registry.serving("nobody-3:1b") == []
    assert len(net.registry._serving_cache) <= 1  # only the model served
    assert names.resolve("M:1B") == "m:1b"  # a served model by another spelling


async def test_sort_orders_the_nodes_and_no_fallbacks_keeps_only_the_first(
    net: Network, db: AsyncEngine
) -> None:
    net.add("flagship", "m:1b", tier=">=48gb")
    net.add("cpu", "m:1b")
    request = JobCreate(model="m:1b", messages=MESSAGES, provider={"sort": "price"})
    assert (await net.preferences.choose(request)).order == ("cpu", "flagship")
    strict = {"sort": "price", "allow_fallbacks": False}
    request = JobCreate(model="m:1b", messages=MESSAGES, provider=strict)
    assert (await net.preferences.choose(request)).order == ("cpu",)
    with pytest.raises(ValueError, match="allow_fallbacks: false needs sort"):
        RoutingPreferences(allow_fallbacks=False)


async def test_over_the_apis_an_unmet_preference_is_a_404_in_each_apis_error_shape(
    harness: Harness,
) -> None:
    await harness.add_node(ScriptedBackend(["m:1b"]))
    prefs = {"min_tier": ">=48gb"}
    async with harness.client() as api:
        native = await api.post(
            "/api/v1/jobs", json={"model": "m:1b", "messages": MESSAGES, "provider": prefs}
        )
        openai = await api.post(
            "/v1/chat/completions", json={"model": "m:1b", "messages": MESSAGES, "provider": prefs}
        )
        fallback = await api.post(
            "/v1/chat/completions",
            json={"model": "m:1b", "models": ["m:1b"], "messages": MESSAGES, "provider": {}},
        )
    assert native.status_code == 404 and native.json()["error"] == "preferences_unmet"
    assert "min_tier left out 1 node" in native.json()["error_message"]
    assert openai.status_code == 404
    assert openai.json()["error"]["code"] == "preferences_unmet"
    assert openai.json()["error"]["param"] == "provider"
    assert fallback.status_code == 200 and fallback.json()["model"] == "m:1b"


async def test_jobs_run_only_on_the_nodes_their_preferences_allow(harness: Harness) -> None:
    q4, q8 = ScriptedBackend(["m:1b-q4_K_M"]), ScriptedBackend(["m:1b-q8_0"])
    await harness.add_node(q4)
    await harness.add_node(q8)
    body = {"model": "m:1b", "messages": MESSAGES, "provider": {"quantizations": ["q8"]}}
    async with harness.client() as api:
        for _ in range(6):
            assert (await api.post("/v1/chat/completions", json=body)).status_code == 200
    assert (len(q4.requests), len(q8.requests)) == (0, 6)


async def test_a_job_adopted_after_a_restart_keeps_to_its_preferences(net: Network) -> None:
    request = JobCreate(model="m:1b", messages=MESSAGES, provider={"min_tier": ">=24gb"})
    assert await net.preferences.restriction(request, "m:1b") == (frozenset(), None)
    net.add("small", "m:1b")
    net.add("big", "m:1b", tier=">=24gb")
    assert await net.preferences.restriction(request, "m:1b") == (frozenset({"big"}), None)
    plain = JobCreate(model="m:1b", messages=MESSAGES)
    assert await net.preferences.restriction(plain, "m:1b") == (None, None)
