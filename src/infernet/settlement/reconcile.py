"""A reconciliation report: every difference between the ledger's records and the chain.

Kinds (each names the side that has something the other lacks, or disagrees):

    deposit_not_credited      a transfer to a deposit address, confirmed, with no credit
                              (in progress while the watcher has not reached its block)
    credit_without_transfer   a credit whose transfer is not on the chain (any more)
    deposit_mismatch          credited with another amount or to another account
    payout_not_on_chain       a confirmed payout whose transaction the chain lacks or failed
    payout_mismatch           the confirmed payout's transfer moved another amount or went
                              elsewhere
    payout_unrecorded         one of our transactions is mined but its claim is not
                              confirmed yet (in progress: the payer finishes it next tick)
    transfer_without_payout   USDC left the hot wallet with no claim for it
    hot_wallet_short          the hot wallet holds less USDC than the unpaid claims need

A difference `in_progress` is one the running control plane is about to resolve by
itself (right after a restart, or between two ticks): it is listed, but it does not make
the report fail, raise an alert or count in the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from infernet.protocol.money import from_micros, show


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    subject: str  # what it is about: a transfer key, a claim id, an address
    ledger_micros: int | None  # what the records say (None: no record)
    chain_micros: int | None  # what the chain says (None: not on the chain)
    detail: str
    in_progress: bool = False  # the control plane resolves it on its own next tick

    def line(self) -> str:
        """One line for `infernet cp reconcile` and the log."""
        ledger = "-" if self.ledger_micros is None else show(from_micros(self.ledger_micros))
        chain = "-" if self.chain_micros is None else show(from_micros(self.chain_micros))
        state = " (in progress)" if self.in_progress else ""
        return f"{self.kind}{state} {self.subject}: ledger {ledger}, chain {chain}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    network: str
    checked_at: datetime
    from_block: int | None  # the range the chain was read over (None: nothing on a chain)
    to_block: int | None
    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was compared, counted
    note: str = ""

    @property
    def failing(self) -> list[Difference]:
        """The differences that are not in progress: what an operator must look at."""
        return [d for d in self.differences if not d.in_progress]

    @property
    def ok(self) -> bool:
        return not self.failing

    def lines(self) -> list[str]:
        head = f"{self.network}: " + (
            f"blocks {self.from_block}..{self.to_block}, " if self.from_block is not None else ""
        )
        counts = ", ".join(f"{n} {what}" for what, n in self.checked.items())
        summary = "no differences" if self.ok else f"{len(self.failing)} difference(s)"
        if len(self.failing) < len(self.differences):
            summary += f", {len(self.differences) - len(self.failing)} in progress"
        lines = [head + (counts + "; " if counts else "") + summary]
        if self.note:
            lines.append(self.note)
        return lines + [d.line() for d in self.differences]
