"""Open-market training for clients (controlplane/training/): submit a federated LoRA
fine-tune, upload its shards, follow it, and download the adapters that were accepted.

- `POST /api/v1/training/jobs` `TrainingJobCreate` → 201 `TrainingJobCreated`; the
  budget is held in escrow (402 when the balance is short).
- `PUT /api/v1/training/jobs/{id}/shards/{position}` the shard's ChatML JSONL as the body
  → `ShardUploaded`; after the last one the job is `open` to nodes.
- `GET /api/v1/training/jobs/{id}` → `TrainingJobPublic` (every shard and claim).
- `GET /api/v1/training/jobs/{id}/shards/{shard_id}/adapter_model.safetensors` (and
  `adapter_config.json`): the accepted adapter of that shard.

`infernet train run --open-market` drives all of it. The node's routes are in
api/training_nodes.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from infernet.controlplane.api.deps import AccountDep, ServicesDep
from infernet.controlplane.api.docs import ResponsesDoc, errors
from infernet.controlplane.schemas.training import (
    ShardUploaded,
    TrainingJobCreate,
    TrainingJobCreated,
    TrainingJobPublic,
)
from infernet.controlplane.training import jobs

router = APIRouter(prefix="/api/v1/training", tags=["training"])

FILE_DOC: ResponsesDoc = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file"}
}


@router.post(
    "/jobs",
    response_model=TrainingJobCreated,
    status_code=201,
    responses=errors(400, 401, 402, 429, 503),
)
async def create_job(
    body: TrainingJobCreate, account: AccountDep, services: ServicesDep
) -> TrainingJobCreated:
    return await jobs.create_job(services.training, account, body)


@router.put(
    "/jobs/{job_id}/shards/{position}",
    response_model=ShardUploaded,
    responses=errors(400, 401, 404, 409, 413, 429),
)
async def upload_shard(
    job_id: str, position: int, request: Request, account: AccountDep, services: ServicesDep
) -> ShardUploaded:
    data = await request.body()
    return await jobs.upload_shard(services.training, account, job_id, position, data)


@router.get("/jobs/{job_id}", response_model=TrainingJobPublic, responses=errors(401, 404, 429))
async def get_job(job_id: str, account: AccountDep, services: ServicesDep) -> TrainingJobPublic:
    return await jobs.job_status(services.training, account, job_id)


@router.get(
    "/jobs/{job_id}/shards/{shard_id}/{name}",
    response_class=FileResponse,
    responses={**FILE_DOC, **errors(401, 404, 409, 429)},
)
async def download_adapter(
    job_id: str, shard_id: str, name: str, account: AccountDep, services: ServicesDep
) -> FileResponse:
    path = await jobs.adapter_file(services.training, account, job_id, shard_id, name)
    return FileResponse(path, media_type="application/octet-stream", filename=name)
