"""Models available on the network now (Book §5.5)."""

from __future__ import annotations

from fastapi import APIRouter

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors
from infernet.controlplane.schemas.models import ModelList, ModelPublic
from infernet.protocol.money import show

router = APIRouter(prefix="/api/v1", tags=["models"])


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@router.get("/models", response_model=ModelList, responses=errors(401, 429))
async def list_models(_account: AccountDep, services: ServicesDep) -> ModelList:
    """Each model served by at least one online node, with every name it is served under,
    the context lengths (tokens, prompt and answer together) its nodes run it with, how
    fast they answer (measured) and the lowest price among them."""
    models = []
    for key, nodes in sorted(services.registry.online_models().items()):
        names = sorted({n.served[key] for n in nodes})
        contexts = sorted({n.contexts[key] for n in nodes if key in n.contexts})
        model = ModelPublic(id=names[0], nodes=len(nodes), names=names, context_lengths=contexts)
        model.context_length = contexts[-1] if contexts else None
        speed = _mean([n.tokens_per_s for n in nodes if n.jobs_done])
        ttft = _mean([n.ttft_s for n in nodes if n.ttft_s])
        model.avg_tokens_per_second = None if speed is None else round(speed, 1)
        model.avg_ttft_ms = None if ttft is None else round(ttft * 1000, 1)
        if services.payments and (low := await services.payments.pricing.lowest(key, nodes)):
            model.price_input_per_1k = show(low.input_per_1k)
            model.price_output_per_1k = show(low.output_per_1k)
        models.append(model)
    return ModelList(models=models)
