"""Per-request routing preferences: which nodes may run a job, and which model it runs.

Checked once, at submit. For `model` and then each of `models` in order, the online
nodes serving it go through the preferences (`only`, `ignore`, `min_tier`,
`quantizations`, `max_price`, in that order; each node is left out by the first that
excludes it); the first model with a node that meets them all and has a free slot runs
the job, else the first with such a node at all (the job waits for it). The job may then
run only on those nodes (`LiveJob.allowed`), in `sort` order when one is given
(`LiveJob.order`; only the first with `allow_fallbacks: false`). When no model has such a
node, `PreferencesUnmet` names, per model, which preference left out how many nodes:
never a silent run of another model or on a node the client excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.errors import ApiError, PreferencesUnmet
from infernet.controlplane.jobs.names import ModelNames
from infernet.controlplane.jobs.router import usable
from infernet.controlplane.money.pricing import Price, Pricing
from infernet.controlplane.nodes.registry import NodeRegistry, NodeState
from infernet.controlplane.schemas.jobs import JobCreate, MaxPrice, RoutingPreferences
from infernet.controlplane.store import nodes as node_store
from infernet.protocol.modelnames import parse_model_name, quant_level
from infernet.protocol.tiers import TIER_RANK

Check = Callable[[NodeState], bool]


@dataclass(frozen=True, slots=True)
class Choice:
    """The model a job runs (as the client named it), its routing key, the nodes it may
    run on (None: any) and their order (None: the router's)."""

    model: str
    key: str
    allowed: frozenset[str] | None = None
    order: tuple[str, ...] | None = None

    def applied(self, request: JobCreate) -> JobCreate:
        """`request` for this model: a fallback from `models` is what the record names."""
        if self.model == request.model:
            return request
        return request.model_copy(update={"model": self.model})


class Preferences:
    def __init__(self, db: AsyncEngine, registry: NodeRegistry, names: ModelNames) -> None:
        self._db, self._registry, self._names = db, registry, names
        self._pricing = Pricing(db, registry)

    async def choose(self, request: JobCreate) -> Choice:
        """The model and nodes for `request` (see the module docstring)."""
        models = list(dict.fromkeys([request.model, *request.models]))
        prefs = request.provider
        if prefs is None and len(models) == 1:
            return Choice(request.model, self._names.resolve(request.model))
        waiting: Choice | None = None
        why: list[str] = []
        unknown: list[ApiError] = []
        for model in models:
            try:
                key = self._names.resolve(model)
            except ApiError as exc:
                unknown.append(exc)
                why.append(f"'{model}': {exc.message}")
                continue
            nodes, excluded, prices = await self._meeting(key, prefs)
            if not nodes:
                why.append(f"'{model}': {_excluded(excluded)}")
                continue
            choice = Choice(model, key, *_allowed(nodes, prices, prefs))
            if any(usable(n, time.monotonic(), self._registry.offline_after_s) for n in nodes):
                return choice
            waiting = waiting or choice
        if waiting is not None:
            return waiting
        if len(unknown) == len(models):  # no model asked for is served: say that, as ever
            raise unknown[0]
        raise PreferencesUnmet(
            "No online node meets the routing preferences for any model asked for: "
            + "; ".join(why)
            + "."
        )

    async def restriction(
        self, request: JobCreate, key: str
    ) -> tuple[frozenset[str] | None, tuple[str, ...] | None]:
        """For a job adopted after a restart or from another replica (its model chosen
        already): the nodes online now that its preferences allow, and their order.
        With none online yet none is allowed, so it waits (until its timeout) rather
        than run where its client said not to."""
        if request.provider is None:
            return None, None
        nodes, _, prices = await self._meeting(key, request.provider)
        return _allowed(nodes, prices, request.provider)

    async def _meeting(
        self, key: str, prefs: RoutingPreferences | None
    ) -> tuple[list[NodeState], dict[str, int], dict[str, Price]]:
        """The online nodes serving `key` that meet `prefs`, how many each preference
        left out, and their prices (when a preference needs them)."""
        nodes = self._registry.online_serving(key)
        excluded: dict[str, int] = {}
        if prefs is None:
            return nodes, excluded, {}
        needs_prices = prefs.max_price is not None or prefs.sort == "price"
        prices = await self._prices(key, nodes) if needs_prices else {}
        for name, check in await self._checks(key, prefs, prices):
            kept = [n for n in nodes if check(n)]
            if len(kept) < len(nodes):
                excluded[name] = len(nodes) - len(kept)
            nodes = kept
        return nodes, excluded, prices

    async def _checks(
        self, key: str, prefs: RoutingPreferences, prices: dict[str, Price]
    ) -> list[tuple[str, Check]]:
        checks: list[tuple[str, Check]] = []
        if prefs.only is not None:
            only = await self._node_ids(prefs.only)
            checks.append(("only", lambda n: n.node_id in only))
        if prefs.ignore:
            ignore = await self._node_ids(prefs.ignore)
            checks.append(("ignore", lambda n: n.node_id not in ignore))
        if prefs.min_tier is not None:
            rank = TIER_RANK[prefs.min_tier]
            checks.append(("min_tier", lambda n: TIER_RANK[n.vram_tier] >= rank))
        if prefs.quantizations is not None:
            wanted = {quant_level(q) or q.lower() for q in prefs.quantizations}
            checks.append(("quantizations", lambda n: _quantization(n, key) & wanted != set()))
        if (most := prefs.max_price) is not None:
            checks.append(("max_price", lambda n: _affordable(prices[n.node_id], most)))
        return checks

    async def _prices(self, key: str, nodes: list[NodeState]) -> dict[str, Price]:
        prices = await self._pricing.prices_among(key, nodes)
        return {n.node_id: p for n, p in zip(nodes, prices, strict=True)}

    async def _node_ids(self, names: Sequence[str]) -> set[str]:
        """Node ids named directly, and the nodes of operators (accounts) named."""
        ids = set(names)
        for name in names:
            ids.update(await node_store.ids_of_account(self._db, name))
        return ids


def _allowed(
    nodes: list[NodeState], prices: dict[str, Price], prefs: RoutingPreferences | None
) -> tuple[frozenset[str] | None, tuple[str, ...] | None]:
    """The nodes a job may run on, and their order when `sort` gives one."""
    if prefs is None:
        return None, None
    allowed = frozenset(n.node_id for n in nodes)
    if prefs.sort == "throughput":
        ordered = sorted(nodes, key=lambda n: -n.tokens_per_s)
    elif prefs.sort == "price":
        ordered = sorted(
            nodes, key=lambda n: (prices[n.node_id].output_per_1k, prices[n.node_id].input_per_1k)
        )
    else:
        return allowed, None
    order = tuple(n.node_id for n in ordered)
    return allowed, order if prefs.allow_fallbacks else order[:1]


def _quantization(node: NodeState, key: str) -> set[str]:
    name = parse_model_name(node.served.get(key, ""))
    return {q for q in (name.quant, name.quant_tag) if q}


def _affordable(price: Price, most: MaxPrice) -> bool:
    return (most.input_per_1k is None or price.input_per_1k <= most.input_per_1k) and (
        most.output_per_1k is None or price.output_per_1k <= most.output_per_1k
    )


def _excluded(excluded: dict[str, int]) -> str:
    if not excluded:
        return "no node serving it is online"
    parts = [
        f"{name} left out {count} node{'s' * (count != 1)}" for name, count in excluded.items()
    ]
    return ", ".join(parts)
