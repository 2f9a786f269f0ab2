"""The verification service as `Settings` ask for it (none without a verifier)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.jobs.cluster import Caches
from infernet.controlplane.money.payments import Payments
from infernet.controlplane.nodes.offences import Offences
from infernet.controlplane.nodes.registry import NodeRegistry
from infernet.controlplane.settings import Settings
from infernet.controlplane.verification.budget import Budget
from infernet.controlplane.verification.engine import LlamaServerScorer, Scorer
from infernet.controlplane.verification.service import Verifications
from infernet.protocol.modelnames import routing_key


def build_verifications(
    db: AsyncEngine,
    registry: NodeRegistry,
    caches: Caches,
    settings: Settings,
    payments: Payments | None,
) -> Verifications | None:
    if not settings.verifier_urls:
        return None
    scorers: dict[str, Scorer] = {
        routing_key(model): LlamaServerScorer(url) for model, url in settings.verifier_urls.items()
    }
    return Verifications(
        db,
        registry,
        Offences(db, registry, caches),
        scorers,
        Budget(settings.verify_share),
        payments.ledger if payments else None,
        payments.accounting.owner_of if payments else None,
    )
