"""Closing holds a crash left open: every hold ends settled or released.

A job's money moves in steps that are separate transactions: the hold at submit (before
the job's row is written), then the job's final state, then its settlement or release
(billing.py). A control plane that dies between two of them leaves a hold with no final
movement. `close_open_holds` finds each one and finishes it as the job's row says:
completed -> settled from the segments the row stored; failed, or no row at all (the
client was never told the job was accepted) -> released. A job still running is left to
the replica that runs it. Each step posts under the job's `final:` key, so running this
while the job's owner settles it moves money once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.money.accounting import FinishedJob, Segment
from infernet.controlplane.money.billing import LedgerAccounting
from infernet.controlplane.store import jobs as job_store
from infernet.controlplane.store import ledger as ledger_store
from infernet.controlplane.store.jobs import UNFINISHED

log = logging.getLogger("infernet.billing")


def _account_of(held: str) -> str:
    """`client:<account>:held` -> `<account>`."""
    return held.removeprefix("client:").removesuffix(":held")


async def close_open_holds(db: AsyncEngine, accounting: LedgerAccounting, before: datetime) -> int:
    """Settle or release the holds posted before `before` whose job ended (or never
    started) without its final movement; returns how many were closed."""
    closed = 0
    for job_id, held in await ledger_store.open_holds(db, before):
        record = await job_store.get(db, job_id)
        if record is not None and record.status in UNFINISHED:
            continue
        if record is not None and record.status == "completed":
            segments = [Segment(**s) for s in record.segments or []]
            await accounting.settle(
                FinishedJob(job_id, record.account_id, record.model, record.routing_key, segments)
            )
        else:
            await accounting.release(_account_of(held), job_id)
        log.warning(
            "hold left open by a crash closed",
            extra={"job_id": job_id, "status": record.status if record else "never stored"},
        )
        closed += 1
    return closed
