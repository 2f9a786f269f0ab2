"""`TrainingMarket`: what the control plane holds for open-market training, built once by
`build_training` (app.py) and reached by the routes and the sweeper as
`Services.training`. The functions that act on it live in jobs.py (submitters),
claims.py (nodes) and sweeper.py (background)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.money.payments import Payments
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.ids import utcnow
from infernet.controlplane.training.escrow import TrainingEscrow
from infernet.controlplane.training.storage import TrainingStorage, storage_root
from infernet.controlplane.training.verifier import ChildProcessVerifier, Verifier


@dataclass
class TrainingMarket:
    db: AsyncEngine
    registry: NodeRegistry
    settings: Settings
    storage: TrainingStorage
    escrow: TrainingEscrow
    verifier: Verifier
    # Claims in this process one at a time, so `max_nodes` and one-claim-per-node are
    # read and acted on together (the shard itself is taken by a conditional UPDATE).
    claim_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def now(self) -> datetime:
        return utcnow()


def build_training(
    db: AsyncEngine, registry: NodeRegistry, settings: Settings, payments: Payments | None
) -> TrainingMarket:
    return TrainingMarket(
        db,
        registry,
        settings,
        TrainingStorage(storage_root(settings)),
        TrainingEscrow(db, payments),
        ChildProcessVerifier(settings.training_verify_timeout_s),
    )
