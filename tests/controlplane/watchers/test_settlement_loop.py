"""The settlement loop runs on one replica per network: the one holding the lease ticks,
another waits, and takes over (starting the settlement again: recovery, reconciliation)
once the first stops; a difference found on the way is alerted, one in progress is not."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from infernet.controlplane.watchers import settlement as loop_module
from infernet.controlplane.watchers.settlement import SettlementLoop
from infernet.controlplane.web.settlement_metrics import SettlementMetrics
from infernet.settlement.base import TickReport
from infernet.settlement.reconcile import Difference, ReconciliationReport
from infernet.settlement.settings import SettlementSettings


class CountingSettlement:
    """Stands in for the chain adapter (the loop's own behaviour is under test here; the
    adapter's is in tests/settlement): counts what it is asked to do."""

    mode, network, confirmations = "evm", "base", 3

    def __init__(self, differences: list[Difference] | None = None) -> None:
        self.starts = self.ticks = self.closed = 0
        self.differences = differences or []

    def _report(self) -> ReconciliationReport:
        return ReconciliationReport("base", datetime.now(UTC), 0, 10, list(self.differences))

    async def start(self) -> ReconciliationReport:
        self.starts += 1
        return self._report()

    async def tick(self) -> TickReport:
        self.ticks += 1
        return TickReport(head=10)

    async def reconcile(self) -> ReconciliationReport:
        return self._report()

    async def close(self) -> None:
        self.closed += 1


def replica(db: AsyncEngine, name: str, settlement: CountingSettlement, **chosen: Any) -> Any:
    services = SimpleNamespace(
        db=db,
        bus=SimpleNamespace(shared=True, replica_id=name),
        settings=SimpleNamespace(settlement=SettlementSettings(mode="evm", **chosen)),
    )
    registry = CollectorRegistry()
    loop = SettlementLoop(services, settlement, "base", SettlementMetrics(registry))  # type: ignore[arg-type]
    return loop, registry


def differences(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("infernet_settlement_differences", {"network": "base"})


async def test_one_replica_runs_settlement_and_another_takes_over_when_it_stops(
    db: AsyncEngine,
) -> None:
    first, second = CountingSettlement(), CountingSettlement()
    a, _ = replica(db, "replica_a", first)
    b, _ = replica(db, "replica_b", second)
    for _ in range(3):
        await a.step()
        await b.step()
    assert (first.starts, first.ticks) == (1, 3)
    assert (second.starts, second.ticks) == (0, 0)  # never both: no claim paid twice
    await a.stop()  # gives the lease up
    await b.step()
    assert (second.starts, second.ticks) == (1, 1)
    assert first.closed == 1


async def test_a_difference_is_alerted_and_one_in_progress_is_not(
    db: AsyncEngine, monkeypatch: Any
) -> None:
    told: list[tuple[str, str]] = []

    async def notify(services: Any, account: str, text: str) -> list[str]:
        told.append((account, text))
        return ["HTTP 200"]

    monkeypatch.setattr(loop_module, "notify_account", notify)
    pending = Difference("deposit_not_credited", "base:0x1:0", None, 5, "…", in_progress=True)
    quiet, quiet_registry = replica(db, "r", CountingSettlement([pending]), alert_account="acct")
    await quiet.step()
    assert told == [] and differences(quiet_registry) == 0
    await quiet.stop()

    real = Difference("transfer_without_payout", "0xabc", None, 1_000_000, "to 0x…; no claim")
    loud, loud_registry = replica(db, "r", CountingSettlement([real]), alert_account="acct")
    await loud.step()
    [(account, text)] = told
    assert account == "acct" and "transfer_without_payout 0xabc" in text
    assert differences(loud_registry) == 1
