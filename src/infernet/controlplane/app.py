"""The composition root: `create_app(settings)` builds every part and wires the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from infernet import __version__
from infernet.controlplane.api import (
    billing,
    commands,
    confidential,
    jobs,
    models,
    node,
    node_keys,
    node_lifecycle,
    nodes,
    payouts,
    prices,
    receipts,
    registration,
)
from infernet.controlplane.api import metrics as metrics_api
from infernet.controlplane.api.accounts import router as accounts_router
from infernet.controlplane.api.docs import install_openapi
from infernet.controlplane.api.openai import router as openai_router
from infernet.controlplane.dashboard.mount import install as install_dashboard
from infernet.controlplane.errors import register_handlers
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.limits.rates import InMemoryRateLimiter
from infernet.controlplane.money.payments import build_payments
from infernet.controlplane.nodes import cache as nodecache
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.scaleout import build_shared
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.db import open_database
from infernet.controlplane.watchers.canary import Canary, CanaryConfig, ExemptAccounting
from infernet.controlplane.watchers.sweeps import background_tasks
from infernet.controlplane.web.metrics import ControlPlaneMetrics, HttpMetrics
from infernet.controlplane.web.middleware import BodySizeLimit, RateLimitHeaders
from infernet.protocol.signing import RequestVerifier


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await open_database(settings.database_url)
        registry = NodeRegistry(settings.offline_after_s)
        shared = build_shared(settings)  # bus, rate limits, nonces: memory or Redis
        app.state.rate_limiter = shared.limiter
        payments = build_payments(db, registry, settings) if settings.payments_enabled else None
        manager = JobManager(
            db,
            registry,
            settings,
            accounting=ExemptAccounting(payments.accounting) if payments else None,
            bus=shared.bus,
        )
        manager.metrics = metrics  # counts job transitions (controlplane/web/metrics.py)
        metrics.bind(registry, manager.stats)
        services = Services(
            settings,
            db,
            registry,
            manager,
            RequestVerifier(nonce_store=shared.nonces),
            payments=payments,
        )
        app.state.services = services
        nodecache.install(services)  # bus events reach the node caches
        await manager.cluster.start(partial(node.apply_node_message, services))
        tasks = background_tasks(services)
        for task in tasks:
            task.start()
        canary = Canary(services, CanaryConfig(interval_s=settings.canary_interval_s))
        canary.start()
        try:
            yield
        finally:
            await canary.stop()
            for task in tasks:
                await task.stop()
            await manager.cluster.stop()
            await db.dispose()

    app = FastAPI(title="Infernet control plane", version=__version__, lifespan=lifespan)
    install_openapi(app)
    register_handlers(app)
    metrics = app.state.metrics = ControlPlaneMetrics()  # GET /metrics (api/metrics.py)
    app.add_middleware(HttpMetrics, metrics=metrics)
    # Client API: accounts and keys, and the OpenAI-compatible /v1 (rate-limited per key).
    app.state.rate_limiter = InMemoryRateLimiter()
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Node traffic first: heartbeats are the most frequent request, and routes match in order.
    app.include_router(node.router)
    for client_router in (accounts_router, openai_router):
        app.include_router(client_router)
    for module in (
        jobs,
        models,
        nodes,
        commands,
        registration,
        node_keys,
        billing,
        receipts,
        prices,
        payouts,
        node_lifecycle,
        confidential,
        metrics_api,
    ):
        app.include_router(module.router)

    install_dashboard(app)  # / and /dashboard/... (controlplane/dashboard/)

    @app.get("/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
