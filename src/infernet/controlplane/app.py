"""The composition root: `create_app(settings)` builds every part and wires the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from infernet import __version__
from infernet.controlplane.api import (
    commands,
    jobs,
    models,
    node,
    node_keys,
    nodes,
    registration,
)
from infernet.controlplane.api.accounts import router as accounts_router
from infernet.controlplane.api.docs import install_openapi
from infernet.controlplane.api.openai import router as openai_router
from infernet.controlplane.background import background_tasks
from infernet.controlplane.dashboard import dashboard_tasks
from infernet.controlplane.dashboard import install as install_dashboard
from infernet.controlplane.errors import register_handlers
from infernet.controlplane.jobs import JobManager
from infernet.controlplane.middleware import BodySizeLimit, RateLimitHeaders
from infernet.controlplane.ratelimit import InMemoryRateLimiter
from infernet.controlplane.registry import NodeRegistry
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.db import open_database
from infernet.protocol.signing import RequestVerifier


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await open_database(settings.database_url)
        registry = NodeRegistry(settings.offline_after_s)
        services = Services(
            settings, db, registry, JobManager(db, registry, settings), RequestVerifier()
        )
        app.state.services = services
        tasks = background_tasks(services) + dashboard_tasks(services)
        for task in tasks:
            task.start()
        try:
            yield
        finally:
            for task in tasks:
                await task.stop()
            await db.dispose()

    app = FastAPI(title="Infernet control plane", version=__version__, lifespan=lifespan)
    install_openapi(app)
    register_handlers(app)
    # Client API: accounts and keys, and the OpenAI-compatible /v1 (rate-limited per key).
    app.state.rate_limiter = InMemoryRateLimiter()
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for client_router in (accounts_router, openai_router):
        app.include_router(client_router)
    for module in (jobs, models, nodes, node, commands, registration, node_keys):
        app.include_router(module.router)

    install_dashboard(app)  # / and /dashboard/... (controlplane/dashboard/)

    @app.get("/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
