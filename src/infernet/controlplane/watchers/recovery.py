"""Picking up where a control plane left off: at start, and after crashes while it runs.

At start (`recover`, before the first request is served):

- the nodes that were online when it stopped (their last heartbeat, as flushed, within
  `offline_after_s`) are expected back: a model only they serve is answered with a
  retryable 503 while they reconnect (jobs/names.py), not a 404, and each is routable
  the moment its channel opens (its hello carries its state: nodes/heartbeat.py);
- the unfinished jobs it left are adopted and queued again, in order (jobs/takeover.py);
- the holds a crash left open are settled or released (money/holds.py).

While it runs (`tidy`, every minute): holds left open by a replica that died, the
stored stream pieces of jobs that ended past their retention, expired nonces, and GPU
samples older than the longest chart window.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from infernet.controlplane.jobs.streams import STREAM_RETENTION_S
from infernet.controlplane.money.holds import close_open_holds
from infernet.controlplane.nodes.samples import SAMPLE_RETENTION
from infernet.controlplane.services import Services
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store import nonces, pieces
from infernet.controlplane.store import samples as sample_store
from infernet.controlplane.store.ids import utcnow

log = logging.getLogger("infernet.recovery")
TIDY_S = 60.0
# A hold younger than this may belong to a submission or completion still under way on
# another replica (its final movement follows within milliseconds).
HOLD_GRACE_S = 60.0


async def recover(services: Services) -> None:
    settings, now = services.settings, utcnow()
    since = now - timedelta(seconds=settings.offline_after_s)
    expected = await node_store.seen_since(services.db, since)
    for row in expected:
        served = [str(name) for name in row["served_models"] or []]
        services.registry.expect(str(row["id"]), served, settings.offline_after_s)
    jobs = await services.jobs.recover()
    closed = 0
    if services.payments is not None:
        # Alone on the database, nothing else is under way: every open hold is ours.
        grace = HOLD_GRACE_S if services.bus.shared else 0.0
        before = now - timedelta(seconds=grace)
        closed = await close_open_holds(services.db, services.payments.accounting, before)
    log.info(
        "control plane started",
        extra={"nodes_expected": len(expected), "jobs_recovered": jobs, "holds_closed": closed},
    )


async def tidy(services: Services) -> None:
    now = utcnow()
    if services.payments is not None:
        before = now - timedelta(seconds=HOLD_GRACE_S)
        await close_open_holds(services.db, services.payments.accounting, before)
    if not services.bus.shared:
        await pieces.forget_ended_before(services.db, now - timedelta(seconds=STREAM_RETENTION_S))
    if services.settings.redis_url is None:
        await nonces.forget_expired(services.db)
    await sample_store.forget_before(services.db, now - SAMPLE_RETENTION)
