"""Settlement's background loop: watch deposits, move payouts along, reconcile.

One replica per network does it: the one holding the lease `settlement:<network>`
(store/service_leases.py), renewed on every step; with Redis (several replicas) a
replica that dies is replaced when its lease runs out, and one that stops gives the
lease up at once. A single process (no Redis) needs no lease. The replica that takes the
lease first `start`s the settlement (it finishes what a crash left in flight and
reconciles), then ticks every `tick_interval_s` and reconciles every
`reconcile_interval_s`.

A reconciliation difference is logged as an error, counted in the
`infernet_settlement_differences` gauge, and posted to the Slack/Discord webhooks of the
operator's account (`--alert-account`), if one is named.
"""

from __future__ import annotations

import logging
import time

from infernet.controlplane.services import Services
from infernet.controlplane.store import service_leases
from infernet.controlplane.watchers.sweeps import PeriodicTask
from infernet.controlplane.watchers.webhooks import notify_account
from infernet.controlplane.web.settlement_metrics import SettlementMetrics
from infernet.settlement.base import Settlement, TickReport
from infernet.settlement.errors import SettlementError
from infernet.settlement.reconcile import ReconciliationReport

log = logging.getLogger("infernet.settlement")
MIN_LEASE_S = 30.0


class SettlementLoop:
    def __init__(
        self, services: Services, settlement: Settlement, network: str, metrics: SettlementMetrics
    ) -> None:
        self._services, self._settlement, self._metrics = services, settlement, metrics
        self.network, self.lease = network, f"settlement:{network}"
        config = services.settings.settlement
        self._tick_s, self._reconcile_s = config.tick_interval_s, config.reconcile_interval_s
        self._lease_s = max(MIN_LEASE_S, 3 * self._tick_s)
        self._started = False
        self._next_reconcile = 0.0
        self._task = PeriodicTask(f"settlement-{network}", self._tick_s, self.step)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        if self._services.bus.shared:
            await service_leases.release(self._services.db, self.lease, self._owner)
        await self._settlement.close()

    @property
    def _owner(self) -> str:
        return self._services.bus.replica_id

    async def _holding(self) -> bool:
        if not self._services.bus.shared:
            return True  # the only process
        return await service_leases.hold(self._services.db, self.lease, self._owner, self._lease_s)

    async def step(self) -> None:
        """One round; a chain that cannot be reached is logged and tried next round."""
        if not await self._holding():
            self._started = False  # another replica runs it; start again if we take over
            return
        try:
            if not self._started:
                await self._reconciled(await self._settlement.start())
                self._started = True
            self._ticked(await self._settlement.tick())
            if time.monotonic() >= self._next_reconcile:
                await self._reconciled(await self._settlement.reconcile())
        except SettlementError as exc:
            self._metrics.errors.labels(self.network).inc()
            log.error(f"settlement: {exc}", extra={"network": self.network})

    def _ticked(self, report: TickReport) -> None:
        self._metrics.ticked(self.network, report)
        for problem in report.errors:
            log.error(f"settlement tick: {problem}", extra={"network": self.network})

    async def _reconciled(self, report: ReconciliationReport) -> None:
        self._next_reconcile = time.monotonic() + self._reconcile_s
        self._metrics.reconciled(self.network, report)
        if report.ok:
            for line in report.lines():
                log.info(f"reconciliation: {line}", extra={"network": self.network})
            return
        for line in report.lines():
            log.error(f"reconciliation: {line}", extra={"network": self.network})
        account = self._services.settings.settlement.alert_account
        if account is not None:
            text = "Infernet settlement: ledger and chain differ.\n" + "\n".join(report.lines())
            await notify_account(self._services, account, text)


def settlement_loop(services: Services, metrics: SettlementMetrics) -> SettlementLoop | None:
    """The loop for this control plane's settlement; None when no chain is involved."""
    payments = services.payments
    if payments is None or payments.settlement.network is None:
        return None
    return SettlementLoop(services, payments.settlement, payments.settlement.network, metrics)
