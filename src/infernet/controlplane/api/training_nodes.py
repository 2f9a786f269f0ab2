"""Open-market training for nodes (protocol/training.py has the whole exchange): every
request signed with the node key, like heartbeats; nodes only connect out, so the shard
and the adapter travel through these routes.

An operator opts a node in with `accept_training` (INFERNET_ACCEPT_TRAINING=1); the
daemon then polls `available`, claims, trains with `infernet train run --local`'s code,
renews its claim meanwhile, uploads the adapter and reports.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.api.docs import ResponsesDoc, errors
from infernet.controlplane.api.node import SignerDep
from infernet.controlplane.nodes.heartbeat import known_node
from infernet.controlplane.training import claims
from infernet.protocol.training import (
    AdapterUploaded,
    ClaimReleased,
    ClaimRenewed,
    ReportAccepted,
    ShardClaim,
    ShardOffers,
    ShardReport,
)

router = APIRouter(prefix="/api/v1/training/shards", tags=["training (nodes)"])
SHARD_DOC: ResponsesDoc = {
    200: {"content": {"application/x-ndjson": {}}, "description": "ChatML JSONL"}
}


@router.get("/available", response_model=ShardOffers, responses=errors(401))
async def available(signer: SignerDep, services: ServicesDep) -> ShardOffers:
    node = await known_node(services, signer)
    return await claims.offers(services.training, node)


@router.post("/{shard_id}/claim", response_model=ShardClaim, responses=errors(401, 403, 404, 409))
async def claim(shard_id: str, signer: SignerDep, services: ServicesDep) -> ShardClaim:
    node = await known_node(services, signer)
    return await claims.claim(services.training, node, shard_id)


@router.post("/{shard_id}/renew", response_model=ClaimRenewed, responses=errors(401, 404, 409))
async def renew(shard_id: str, signer: SignerDep, services: ServicesDep) -> ClaimRenewed:
    node = await known_node(services, signer)
    return await claims.renew(services.training, node, shard_id)


@router.post("/{shard_id}/release", response_model=ClaimReleased, responses=errors(401, 404, 409))
async def release(shard_id: str, signer: SignerDep, services: ServicesDep) -> ClaimReleased:
    node = await known_node(services, signer)
    return await claims.release(services.training, node, shard_id)


@router.get(
    "/{shard_id}/data",
    response_class=FileResponse,
    responses={**SHARD_DOC, **errors(401, 404, 409)},
)
async def shard_data(shard_id: str, signer: SignerDep, services: ServicesDep) -> FileResponse:
    node = await known_node(services, signer)
    path = await claims.shard_data(services.training, node, shard_id)
    return FileResponse(path, media_type="application/x-ndjson")


@router.put(
    "/{shard_id}/adapter",
    response_model=AdapterUploaded,
    responses=errors(400, 401, 404, 409, 413),
)
async def upload_adapter(
    shard_id: str, request: Request, signer: SignerDep, services: ServicesDep
) -> AdapterUploaded:
    node = await known_node(services, signer)
    data = await request.body()
    return await claims.put_adapter(services.training, node, shard_id, data)


@router.post(
    "/{shard_id}/report", response_model=ReportAccepted, responses=errors(400, 401, 404, 409)
)
async def report(
    shard_id: str, body: ShardReport, signer: SignerDep, services: ServicesDep
) -> ReportAccepted:
    node = await known_node(services, signer)
    return await claims.report(services.training, node, shard_id, body)
