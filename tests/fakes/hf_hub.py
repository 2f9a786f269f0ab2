"""A stand-in for the Hugging Face Hub's upload API, written from the Hub's HTTP API docs
(huggingface.co/docs/hub/api) and the Git LFS batch API spec (git-lfs docs/api/batch.md),
as `huggingface_hub` (with Xet off: `HF_HUB_DISABLE_XET=1`) calls them:

- `GET /api/whoami-v2` → `{"name": user}` (401 without a valid `Authorization: Bearer`);
- `POST /api/repos/create` `{name, organization, type}` → `{"url"}`, 409 when it exists;
- `POST /api/validate-yaml` `{content, repoType}` → `{"errors": [], "warnings": [...]}`
  (a warning when the card has no YAML metadata block);
- `POST /api/models/{repo}/preupload/{rev}` `{"files": [{path, sample, size}]}` →
  `{"files": [{path, uploadMode: "lfs"|"regular", shouldIgnore}]}`;
- `POST /{repo}.git/info/lfs/objects/batch` `{operation, transfers, objects: [{oid, size}]}`
  → `{"transfer": "basic", "objects": [{oid, size, actions: {upload: {href}}}]}`;
- `PUT /lfs/{oid}` the bytes (sha256 checked);
- `POST /api/models/{repo}/commit/{rev}` NDJSON: `header`, then `file` (base64) or
  `lfsFile` (oid) lines → `{"commitUrl", "commitOid"}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

LFS_FROM_BYTES = 1024  # files at least this big go through LFS, like weights on the Hub


@dataclass
class HubState:
    token: str = "hf_test_token"
    user: str = "tester"
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> path -> bytes
    lfs: dict[str, bytes] = field(default_factory=dict)  # oid -> bytes
    commits: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)  # README.md texts sent for validation


def create_app(state: HubState) -> FastAPI:  # noqa: C901
    app = FastAPI()

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {state.token}"

    def unauthorized() -> JSONResponse:
        return JSONResponse({"error": "Invalid credentials in Authorization header"}, 401)

    @app.get("/api/whoami-v2")
    async def whoami(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        return JSONResponse({"type": "user", "name": state.user, "orgs": []})

    @app.post("/api/repos/create")
    async def create(request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        body = await request.json()
        repo = f"{body.get('organization') or state.user}/{body['name']}"
        if repo in state.repos:
            return JSONResponse({"error": "You already created this model repo", "url": repo}, 409)
        state.repos[repo] = {}
        return JSONResponse({"url": f"{request.base_url}{repo}", "name": repo})

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request) -> JSONResponse:
        content = (await request.json()).get("content", "")
        state.cards.append(content)
        warnings = (
            []
            if content.startswith("---\n")
            else [{"message": "empty or missing yaml metadata in repo card"}]
        )
        return JSONResponse({"errors": [], "warnings": warnings})

    @app.post("/api/models/{owner}/{name}/preupload/{revision}")
    async def preupload(owner: str, name: str, revision: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        files = (await request.json())["files"]
        modes = [
            {
                "path": f["path"],
                "uploadMode": "lfs" if f["size"] >= LFS_FROM_BYTES else "regular",
                "shouldIgnore": False,
            }
            for f in files
        ]
        return JSONResponse({"files": modes, "commitOid": None})

    @app.post("/{owner}/{name}.git/info/lfs/objects/batch")
    async def batch(owner: str, name: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        body = await request.json()
        objects = [
            {
                "oid": o["oid"],
                "size": o["size"],
                "authenticated": True,
                "actions": {"upload": {"href": f"{request.base_url}lfs/{o['oid']}"}},
            }
            for o in body["objects"]
            if o["oid"] not in state.lfs
        ]
        return JSONResponse({"transfer": "basic", "objects": objects})

    @app.put("/lfs/{oid}")
    async def upload(oid: str, request: Request) -> Response:
        data = await request.body()
        if hashlib.sha256(data).hexdigest() != oid:
            return JSONResponse({"error": "sha256 mismatch"}, 400)
        state.lfs[oid] = data
        return Response(status_code=200)

    @app.post("/api/models/{owner}/{name}/commit/{revision}")
    async def commit(owner: str, name: str, revision: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return unauthorized()
        repo = f"{owner}/{name}"
        if repo not in state.repos:
            return JSONResponse({"error": "Repository not found"}, 404)
        for line in (await request.body()).decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "file":
                state.repos[repo][value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                if value["oid"] not in state.lfs:
                    return JSONResponse({"error": f"LFS object {value['oid']} missing"}, 422)
                state.repos[repo][value["path"]] = state.lfs[value["oid"]]
        oid = hashlib.sha1(str(len(state.commits)).encode()).hexdigest()
        state.commits.append(oid)
        url = f"{request.base_url}{repo}/commit/{oid}"
        return JSONResponse({"commitUrl": url, "commitOid": oid, "success": True})

    return app
