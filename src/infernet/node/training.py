"""Open-market training on a node that opted in (`accept_training`, or
INFERNET_ACCEPT_TRAINING=1): the daemon's `TrainingWorker` asks the control plane for
shards it may train, claims one, downloads it, trains it (node/shard_trainer.py) while
renewing the claim, uploads the adapter and reports, with a training receipt it signs.
One shard at a time; meanwhile the node offers one inference slot fewer (never none).

A claim the control plane no longer honours (lapsed, the job ended) stops the training:
that work would not be paid. A shard that cannot be trained here (a failed run, a
download that does not match) is given back at once, so another node can take it. When
the daemon stops, the trainer is killed and nothing more is sent: the claim lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

from infernet.node.client import ControlPlaneClient, ControlPlaneError
from infernet.node.config import NodeConfig
from infernet.node.shard_trainer import (
    ShardTrainer,
    SubprocessTrainer,
    TrainedShard,
    TrainingFailed,
)
from infernet.protocol.keys import NodeKey
from infernet.protocol.training import (
    TRAINING_PREFIX,
    AdapterUploaded,
    ClaimReleased,
    ClaimRenewed,
    ClaimRequest,
    ReportAccepted,
    ShardClaim,
    ShardOffers,
    ShardReport,
    TrainingReceiptFields,
    shard_path,
    sign_training_receipt,
)
from infernet.train.errors import MissingDependency, require_train_extra

log = logging.getLogger("infernet.node.training")
AVAILABLE = f"{TRAINING_PREFIX}/shards/available"
LOST = (403, 404, 409)  # the control plane's "this claim is not yours any more"


class ClaimLost(Exception):
    """The control plane no longer honours the claim; the work would not be paid."""


def training_home(config: NodeConfig) -> Path:
    """Where shards are trained: `training_dir`, else `training/` beside the node key's folder."""
    if config.training_dir:
        return Path(config.training_dir).expanduser()
    return config.key_file().parent.parent / "training"


class TrainingWorker:
    def __init__(
        self,
        client: ControlPlaneClient,
        key: NodeKey,
        home: Path,
        poll_s: float,
        trainer: ShardTrainer,
        enabled: bool = True,
    ) -> None:
        self.client, self.key, self.home, self.poll_s = client, key, home, poll_s
        self.trainer, self.enabled = trainer, enabled
        self.busy = False

    def capacity(self, slots: int) -> int:
        """Inference slots to advertise: one fewer while a shard trains, never none."""
        return max(1, slots - 1) if self.busy else slots

    async def run(self, stopping: asyncio.Event) -> None:
        """Until `stopping`: poll, claim, train, report (at once back when not enabled)."""
        if not self.enabled:
            return
        try:
            require_train_extra()
        except MissingDependency as exc:
            log.error(f"accept_training is on, but this node cannot train: {exc}")
            return
        log.info("Accepting training shards (accept_training is on)")
        while not stopping.is_set():
            try:
                worked = await self.take_one()
            except ControlPlaneError as exc:
                log.warning(f"Training: {exc}")
                worked = False
            except Exception:  # a bug must not end training for the daemon's lifetime
                log.exception("Training worker failed; it goes on polling")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.poll_s)

    async def take_one(self) -> bool:
        """Claim and train one offered shard; whether there was one to take."""
        offers = await self.client.get(AVAILABLE, ShardOffers)
        for offer in offers.shards:
            path = shard_path(offer.shard_id, "claim")
            try:
                claim = await self.client.post(path, ClaimRequest(), ShardClaim)
            except ControlPlaneError as exc:
                log.info(f"Training: shard {offer.shard_id} not claimed: {exc}")
                continue
            await self.work(claim)
            return True
        return False

    async def work(self, claim: ShardClaim) -> None:
        folder = self.home / claim.claim_id
        self.busy = True
        log.info(f"Training shard {claim.shard_id} of {claim.job_id} ({claim.examples} examples)")
        try:
            data = await self._download(claim)
            if hashlib.sha256(data).hexdigest() != claim.data_sha256:
                raise TrainingFailed("the downloaded shard does not match its SHA-256")
            trained = await self._train_renewing(claim, folder, data)
            await self._deliver(claim, trained)
            log.info(f"Shard {claim.shard_id} reported; the control plane verifies it")
        except TrainingFailed as exc:
            log.warning(f"Shard {claim.shard_id} given back: {exc}")
            await self._release(claim)
        except ClaimLost as exc:
            log.warning(f"Shard {claim.shard_id} abandoned: {exc}")
        finally:
            self.busy = False
            shutil.rmtree(folder, ignore_errors=True)

    async def _download(self, claim: ShardClaim) -> bytes:
        try:
            return await self.client.download(shard_path(claim.shard_id, "data"))
        except ControlPlaneError as exc:
            if exc.status in LOST:
                raise ClaimLost(str(exc)) from exc
            raise TrainingFailed(f"the shard could not be downloaded: {exc}") from exc

    async def _train_renewing(self, claim: ShardClaim, folder: Path, data: bytes) -> TrainedShard:
        training = asyncio.create_task(self.trainer.train(folder, claim, data))
        try:
            while True:
                done, _ = await asyncio.wait({training}, timeout=claim.renew_every_s)
                if done:
                    return training.result()
                await self._renew(claim)
        finally:
            if not training.done():
                training.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await training

    async def _renew(self, claim: ShardClaim) -> None:
        try:
            await self.client.post(
                shard_path(claim.shard_id, "renew"), ClaimRequest(), ClaimRenewed
            )
        except ControlPlaneError as exc:
            if exc.status in LOST:
                raise ClaimLost(str(exc)) from exc
            log.warning(f"Claim renewal failed (will retry): {exc}")

    async def _deliver(self, claim: ShardClaim, trained: TrainedShard) -> None:
        try:
            adapter = trained.adapter.read_bytes()
            config = json.loads(trained.adapter_config.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingFailed(f"the trainer left no readable adapter: {exc}") from exc
        try:
            uploaded = await self.client.upload(
                shard_path(claim.shard_id, "adapter"), adapter, AdapterUploaded
            )
            fields = TrainingReceiptFields(
                job_id=claim.job_id,
                shard_id=claim.shard_id,
                claim_id=claim.claim_id,
                node_pubkey=self.key.public_hex,
                adapter_sha256=uploaded.sha256,
                examples=claim.examples,
                value_usdc=claim.pay_usdc,
                completed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            report = ShardReport(
                claim_id=claim.claim_id,
                adapter_config=config,
                eval_loss_before=trained.eval_loss_before,
                eval_loss_after=trained.eval_loss_after,
                steps=trained.steps,
                receipt=sign_training_receipt(fields, self.key),
            )
            await self.client.post(shard_path(claim.shard_id, "report"), report, ReportAccepted)
        except ControlPlaneError as exc:
            raise ClaimLost(f"the control plane refused the delivery: {exc}") from exc

    async def _release(self, claim: ShardClaim) -> None:
        try:
            await self.client.post(
                shard_path(claim.shard_id, "release"), ClaimRequest(), ClaimReleased
            )
        except ControlPlaneError as exc:
            log.warning(f"Could not give shard {claim.shard_id} back (it will lapse): {exc}")


def training_worker(
    client: ControlPlaneClient, key: NodeKey, config: NodeConfig, trainer: ShardTrainer | None
) -> TrainingWorker:
    """The daemon's worker; it works only with `accept_training` on."""
    return TrainingWorker(
        client,
        key,
        training_home(config),
        config.training_poll_s,
        trainer or SubprocessTrainer(),
        enabled=config.accept_training,
    )
