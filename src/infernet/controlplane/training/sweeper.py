"""Background work of open-market training, run by two periodic tasks (watchers/sweeps.py):

- `lapse_and_finish`: claims whose node stopped renewing lapse unpaid and their shard is
  offered again; a job ends when every shard is accepted or failed, or when its deadline
  has passed and no shard is still being trained or verified. At its end the rest of the
  escrow goes back (`done`: every shard accepted, `partial`: some, `failed`: none).
- `verify_next`: one reported adapter at a time is verified (verifier.py); it is paid
  (escrow.py) or rejected, and a verifier that could not run is tried again a minute
  later, at most VERIFY_TRIES times, after which the claim ends `unverified` (unpaid, and said so).

Each step is a conditional move in the store, so replicas sharing the database may run
both tasks at once: a claim is verified by the one replica that moved it to `verifying`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from infernet.controlplane.money.ledger import Extra
from infernet.controlplane.store import training as store
from infernet.controlplane.store import training_claims as claim_store
from infernet.controlplane.store.training import ClaimRecord, JobStatus, TrainingJobRecord
from infernet.controlplane.training.market import TrainingMarket
from infernet.controlplane.training.verifier import AdapterUnfit, VerifierFailed, judge

log = logging.getLogger("infernet.training")
VERIFY_TRIES = 3
VERIFY_RETRY_S = 60.0  # between tries of a verifier that could not run
LAPSED = "the node stopped renewing its claim before it reported (not paid)"


class TrainingSweeper:
    def __init__(self, market: TrainingMarket) -> None:
        self.market = market

    async def lapse_and_finish(self) -> None:
        market = self.market
        for claim in await claim_store.lapsed_claims(market.db, market.now()):
            attempts = market.settings.training_max_attempts
            await claim_store.end_claim(market.db, claim, "expired", LAPSED, market.now(), attempts)
            log.info(
                "training claim lapsed", extra={"job_id": claim.job_id, "node_id": claim.node_id}
            )
        for job in await store.live_jobs(market.db):
            await self._maybe_finish(job)

    async def _maybe_finish(self, job: TrainingJobRecord) -> None:
        shards = await store.shards_of(self.market.db, job.id)
        busy = any(s.status in ("claimed", "reported") for s in shards)
        settled = all(s.status in store.SETTLED_SHARD for s in shards)
        past = self.market.now() >= job.deadline
        if busy or not (settled or past):
            return
        accepted = sum(s.status == "accepted" for s in shards)
        status: JobStatus = (
            "done" if accepted == len(shards) else "partial" if accepted else "failed"
        )
        detail = f"{accepted} of {len(shards)} shards trained and accepted"
        if not settled:
            detail += "; the deadline passed before the others were"
        await self.market.escrow.release(job)  # idempotent: a retry after a crash is safe
        if await store.finish_job(self.market.db, job.id, status, detail, self.market.now()):
            log.info(f"training job ended {status}: {detail}", extra={"job_id": job.id})

    async def verify_until_idle(self) -> None:
        while await self.verify_next():
            pass

    async def verify_next(self) -> bool:
        """Verify one reported adapter, if any; whether there was one."""
        market = self.market
        now = market.now()
        stale = now - timedelta(seconds=market.settings.training_verify_timeout_s + 60)
        retry = now - timedelta(seconds=VERIFY_RETRY_S)
        claim = await claim_store.take_for_verification(market.db, now, stale, retry)
        if claim is None:
            return False
        await self._verify(claim)
        return True

    async def _verify(self, claim: ClaimRecord) -> None:
        market = self.market
        job = await store.get_job(market.db, claim.job_id)
        shard = await store.get_shard(market.db, claim.shard_id)
        assert job is not None and shard is not None
        adapter = market.storage.adapter(job.id, claim.id)
        try:
            measured = await market.verifier.measure(
                job.config, market.storage.shard(job.id, shard.position), adapter
            )
        except AdapterUnfit as exc:
            await self._reject(claim, f"the adapter does not fit the base model: {exc}")
            return
        except VerifierFailed as exc:
            await self._could_not_verify(claim, str(exc))
            return
        measured_pair = (measured.loss_before, measured.loss_after)
        assert claim.loss_before is not None and claim.loss_after is not None
        reason = judge((claim.loss_before, claim.loss_after), measured, self._tolerance)
        if reason is not None:
            await claim_store.record_verified(market.db, claim.id, measured_pair)
            await self._reject(claim, reason)
            return

        def accept(receipt: dict[str, Any] | None) -> Extra:
            async def write(conn: AsyncConnection) -> None:
                await claim_store.accept_claim(conn, claim, measured_pair, receipt, market.now())

            return write

        await market.escrow.pay(job, shard, claim, accept)
        log.info(
            "training shard accepted and paid", extra={"job_id": job.id, "node_id": claim.node_id}
        )

    @property
    def _tolerance(self) -> float:
        return self.market.settings.training_loss_tolerance

    async def _reject(self, claim: ClaimRecord, reason: str) -> None:
        market = self.market
        attempts = market.settings.training_max_attempts
        await claim_store.end_claim(
            market.db, claim, "rejected", f"not paid: {reason}", market.now(), attempts
        )
        log.warning(
            f"training adapter rejected: {reason}",
            extra={"job_id": claim.job_id, "node_id": claim.node_id},
        )

    async def _could_not_verify(self, claim: ClaimRecord, why: str) -> None:
        market = self.market
        log.error(f"training verifier failed: {why}", extra={"job_id": claim.job_id})
        if claim.verify_tries < VERIFY_TRIES:
            await claim_store.back_to_reported(market.db, claim.id, f"verifier failed: {why}")
            return
        detail = f"the control plane could not verify this adapter ({why}); not paid"
        attempts = market.settings.training_max_attempts
        await claim_store.end_claim(market.db, claim, "unverified", detail, market.now(), attempts)
