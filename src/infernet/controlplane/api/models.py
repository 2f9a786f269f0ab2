"""Models available on the network now (Book §5.5)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import errors

router = APIRouter(prefix="/api/v1", tags=["models"])


class ModelPublic(BaseModel):
    id: str
    nodes: int
    names: list[str]


class ModelList(BaseModel):
    models: list[ModelPublic]


@router.get("/models", response_model=ModelList, responses=errors(401, 429))
async def list_models(_account: AccountDep, services: ServicesDep) -> ModelList:
    """Each model served by at least one online node, with every name it is served under."""
    models = []
    for key, nodes in sorted(services.registry.online_models().items()):
        names = sorted({n.served[key] for n in nodes})
        models.append(ModelPublic(id=names[0], nodes=len(nodes), names=names))
    return ModelList(models=models)
