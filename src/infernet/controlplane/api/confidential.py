"""`GET /api/v1/models/{model}/keys`: the keys a confidential job can be encrypted to.

For each online node serving the model: its node id, node key, and the model key the node
published in its heartbeats with the node key's signed statement authorizing it (Book
§6.5/§6.6). Only statements whose signature checks against the node's current key are
listed, so a client that trusts this list still gets a self-verifying statement it can
check against the node key itself. The client encrypts to one `model_pubkey` and submits
the job with `node_id` set to that node (protocol/confidential.py has the format).
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.schemas.model_keys import ModelKeyList, ModelKeyPublic
from infernet.protocol.delegation import DelegationError, verify_model_key

router = APIRouter(prefix="/api/v1", tags=["models"])
log = logging.getLogger("infernet.confidential")


@router.get("/models/{model:path}/keys", response_model=ModelKeyList)
async def model_keys(model: str, _account: AccountDep, services: ServicesDep) -> ModelKeyList:
    """Model keys of the online nodes serving `model`, for confidential jobs."""
    key = services.jobs.names.resolve(model)
    now, offline_after = time.monotonic(), services.registry.offline_after_s
    listed: list[ModelKeyPublic] = []
    for node in services.registry.online_models().get(key, []):
        statement = node.model_keys.get(key)
        if statement is None:
            continue
        try:
            verify_model_key(statement, node_pubkey=node.public_key, model=node.served[key])
        except DelegationError as exc:
            log.warning("model key statement rejected", extra={"node_id": node.node_id, "why": exc})
            continue
        listed.append(
            ModelKeyPublic(
                node_id=node.node_id,
                node_pubkey=node.public_key,
                model=node.served[key],
                model_pubkey=statement.model_pubkey,
                statement=statement,
                status=node.status(now, offline_after),
            )
        )
    return ModelKeyList(model=model, keys=listed)
