"""The composition root: `create_app(settings)` builds every part and wires the routes.

Every dependency is passed at construction; nothing is patched in afterwards. Tests may
pass a `clock` (the wall clock rate limits count by) or a `limiter` of their own.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from infernet import __version__
from infernet.controlplane.api import (
    billing,
    commands,
    confidential,
    deposits,
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
    sessions,
    training,
    training_nodes,
    verifications,
)
from infernet.controlplane.api import metrics as metrics_api
from infernet.controlplane.api.accounts import router as accounts_router
from infernet.controlplane.api.docs import install_openapi
from infernet.controlplane.api.openai import router as openai_router
from infernet.controlplane.api.openai_lane import OpenAILane
from infernet.controlplane.dashboard.mount import install as install_dashboard
from infernet.controlplane.errors import register_handlers
from infernet.controlplane.jobs.manager import JobManager
from infernet.controlplane.jobs.provenance import ProvenanceCheck
from infernet.controlplane.limits.nonces import DatabaseNonceStore
from infernet.controlplane.limits.rates import RateLimiter
from infernet.controlplane.money.payments import build_payments
from infernet.controlplane.nodes.cache import NodeCaches
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.nodes.samples import GpuSamples
from infernet.controlplane.services import Services, Shared, build_shared
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.db import open_database
from infernet.controlplane.store.one_trip import close_trips
from infernet.controlplane.training.market import build_training
from infernet.controlplane.training.storage import uploads
from infernet.controlplane.verification.build import build_verifications
from infernet.controlplane.verification.service import VerifyingEvents
from infernet.controlplane.watchers.hidden_checks import Background, verification_tasks
from infernet.controlplane.watchers.recovery import recover
from infernet.controlplane.watchers.settlement import settlement_loop
from infernet.controlplane.watchers.sweeps import background_tasks
from infernet.controlplane.web.metrics import ControlPlaneMetrics, HttpMetrics
from infernet.controlplane.web.middleware import BodySizeLimit, RateLimitHeaders
from infernet.heap import startup_frozen
from infernet.protocol.signing import RequestVerifier

CLIENT_ROUTES = (
    jobs,
    models,
    nodes,
    commands,
    registration,
    node_keys,
    billing,
    deposits,
    receipts,
    prices,
    payouts,
    node_lifecycle,
    confidential,
    sessions,
    metrics_api,
    training,
    training_nodes,
    verifications,
)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    settings = settings or Settings()
    shared = build_shared(settings, clock, limiter)  # bus, rate limits, nonces
    metrics = ControlPlaneMetrics()  # GET /metrics (api/metrics.py)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, shared, metrics)
        app.state.services = services
        await services.jobs.cluster.start()
        await recover(services)  # jobs, holds and nodes it left (watchers/recovery.py)
        try:
            async with running_in_background(services, metrics):
                yield
        finally:
            await services.jobs.cluster.stop()
            await close_trips(services.db)
            await services.db.dispose()

    app = FastAPI(title="Infernet control plane", version=__version__, lifespan=lifespan)
    app.state.metrics, app.state.rate_limiter = metrics, shared.limiter
    install_openapi(app)
    register_handlers(app)
    app.add_middleware(OpenAILane)  # the relay's hot path, below routing (api/openai_lane.py)
    app.add_middleware(HttpMetrics, metrics=metrics)
    app.add_middleware(RateLimitHeaders)  # the per-key limits' X-RateLimit-* headers
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, uploads=uploads(settings))
    # Node traffic first: heartbeats are the most frequent request, and routes match in order.
    app.include_router(node.router)
    app.include_router(accounts_router)
    app.include_router(openai_router)
    for module in CLIENT_ROUTES:
        app.include_router(module.router)
    install_dashboard(app)  # / and /dashboard/... (controlplane/dashboard/)

    @app.get("/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@asynccontextmanager
async def running_in_background(
    services: Services, metrics: ControlPlaneMetrics
) -> AsyncIterator[None]:
    """The server's background loops, running while the body runs, with what was alive
    at start frozen (heap.py: fewer objects for each collection to walk). They stop
    before it is unfrozen, so the gc-freeze task freezes nothing after the server stops."""
    tasks: list[Background] = [*background_tasks(services), *verification_tasks(services)]
    settling = settlement_loop(services, metrics.settlement)  # None: no chain
    with startup_frozen():
        for task in tasks:
            task.start()
        if settling is not None:
            settling.start()
        try:
            yield
        finally:
            if settling is not None:
                await settling.stop()
            for task in tasks:
                await task.stop()


async def build_services(
    settings: Settings, shared: Shared, metrics: ControlPlaneMetrics
) -> Services:
    """Every part of a running control plane, each given what it needs."""
    db = await open_database(settings.database_url)
    registry = NodeRegistry(settings.offline_after_s)
    caches = NodeCaches(shared.bus)
    payments = build_payments(db, registry, settings) if settings.payments_enabled else None
    verifying = build_verifications(db, registry, caches, settings, payments)
    manager = JobManager(
        db,
        registry,
        settings,
        bus=shared.bus,
        caches=caches,
        accounting=payments.accounting if payments else None,
        events=VerifyingEvents(metrics, verifying) if verifying else metrics,
        provenance=ProvenanceCheck(db, registry, caches.identities),
    )
    samples = GpuSamples()  # nodes/samples.py: GPU utilization from heartbeats
    metrics.bind(registry, manager.stats, samples)
    verifier = RequestVerifier(nonce_store=shared.nonces or DatabaseNonceStore(db))
    training_market = build_training(db, registry, settings, payments)
    return Services(
        settings,
        db,
        registry,
        manager,
        verifier,
        shared.bus,
        caches,
        training_market,
        payments,
        verifications=verifying,
        samples=samples,
    )
