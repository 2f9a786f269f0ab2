"""Which model a client's name means: the routing key of a model online nodes serve now,
never a different model than the one asked for.

Right after a restart the nodes are still reconnecting: a name that only they serve is
answered with a retryable 503 (`Retry-After`), not a 404 saying no node serves it.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from infernet.controlplane.errors import BadRequest, ModelNotFound, NoCapacity
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.protocol.modelnames import (
    AmbiguousModelName,
    UnknownModelName,
    resolve_model,
    routing_key,
)

RECONNECT_RETRY_S = 2


class ModelNames:
    def __init__(self, registry: NodeRegistry) -> None:
        self._registry = registry
        self.refused: Counter[str] = Counter()  # names refused: served by no node

    def served(self) -> list[str]:
        online = self._registry.online_models().items()
        return sorted({nodes[0].served[key] for key, nodes in online})

    def resolve(self, model: str) -> str:
        """The routing key `model` names, or a client error saying which models are
        served (or that their nodes are reconnecting)."""
        registry = self._registry
        key = routing_key(model)
        if registry.has_online(key):  # the usual case, without looking at every model
            return key
        online = [k for k in registry.served_keys() if registry.has_online(k)]
        try:
            return resolve_model(model, online)
        except AmbiguousModelName as exc:
            raise BadRequest(str(exc)) from exc
        except UnknownModelName as exc:
            with contextlib.suppress(UnknownModelName, AmbiguousModelName):
                resolve_model(model, sorted(registry.returning_keys()))
                raise NoCapacity(
                    f"The nodes serving '{model}' are reconnecting to a control plane that "
                    "just restarted; retry in a few seconds.",
                    headers={"Retry-After": str(RECONNECT_RETRY_S)},
                ) from exc
            self.refused[model] += 1
            served = ", ".join(self.served()) or "none (no node is online)"
            raise ModelNotFound(
                f"No online node serves model '{model}'. Models served now: {served}."
            ) from exc
