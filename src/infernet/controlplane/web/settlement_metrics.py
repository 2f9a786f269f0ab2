"""Settlement's Prometheus metrics (on the control plane's registry, web/metrics.py):

* `infernet_settlement_differences{network}`: differences the last reconciliation found,
  not counting those in progress (alert on > 0);
* `infernet_settlement_reconciled_timestamp_seconds{network}`: when it ran;
* `infernet_settlement_claims_waiting{network}`: payout claims the last tick could not
  send (their detail says why: the hot wallet's balance, the fee cap, ...);
* `infernet_settlement_deposits_credited_total`, `..._payouts_confirmed_total`,
  `..._errors_total` (a tick or reconciliation that could not reach the chain).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from infernet.settlement.base import TickReport
from infernet.settlement.reconcile import ReconciliationReport


class SettlementMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r, by = registry, ["network"]
        self.differences = Gauge(
            "infernet_settlement_differences", "Ledger/chain differences", by, registry=r
        )
        self.reconciled_at = Gauge(
            "infernet_settlement_reconciled_timestamp_seconds",
            "When the last reconciliation ran",
            by,
            registry=r,
        )
        self.waiting = Gauge(
            "infernet_settlement_claims_waiting", "Payout claims not sent", by, registry=r
        )
        self.credited = Counter(
            "infernet_settlement_deposits_credited", "Deposits credited", by, registry=r
        )
        self.confirmed = Counter(
            "infernet_settlement_payouts_confirmed", "Payouts confirmed", by, registry=r
        )
        self.errors = Counter(
            "infernet_settlement_errors", "Settlement rounds that failed", by, registry=r
        )

    def ticked(self, network: str, report: TickReport) -> None:
        self.credited.labels(network).inc(report.credited)
        self.confirmed.labels(network).inc(report.confirmed)
        self.waiting.labels(network).set(len(report.waiting))
        if report.errors:
            self.errors.labels(network).inc()

    def reconciled(self, network: str, report: ReconciliationReport) -> None:
        self.differences.labels(network).set(len(report.failing))
        self.reconciled_at.labels(network).set(time.time())
