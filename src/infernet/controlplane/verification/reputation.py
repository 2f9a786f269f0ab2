"""A node's reputation: what its last `WINDOW` verifications say, kept in
`node_verifications` (one row per check) and computed from them, so every number can be
explained by the rows it came from.

* score: the share of checks passed, smoothed ((passed + 1) / (checks + 2)), so a node
  with few checks sits in the middle rather than at an extreme;
* grade (what clients see): `new` below `MIN_GRADED` checks, else A (score >= 0.9),
  B (>= 0.75) or C;
* escalation: each failed check in the window adds `PENALTY_S` to the node's predicted
  wait in the router (`NodeState.integrity_penalty_s`, jobs/router.py), so it gets fewer
  jobs; a failure when the window already holds `OFFENCE_AFTER` or more failures is an
  offence (nodes/offences.py), and `MAX_OFFENCES` offences exclude the node from routing.
  One failure alone is never more than a penalty: the method's false-positive rate
  (docs/trust.md) is low but not zero, while a cheater fails again and again;
* earnings: what the node earned for a job whose check failed is withheld
  (money/withholding.py).

The owner sees the score, the counts and each failed check with its reason; never the
prompt of a hidden check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infernet.controlplane.store.ids import iso
from infernet.controlplane.store.verifications import Check

WINDOW = 50
MIN_GRADED = 3
PENALTY_S = 600.0
OFFENCE_AFTER = 1  # earlier failures in the window from which a failure is an offence


@dataclass(frozen=True, slots=True)
class Reputation:
    checks: int
    failed: int
    failures: tuple[Check, ...]  # the failed checks in the window, newest first

    @classmethod
    def of(cls, recent: Sequence[Check]) -> Reputation:
        """From a node's checks, newest first (only the first `WINDOW` count)."""
        window = list(recent[:WINDOW])
        failures = tuple(c for c in window if not c.passed)
        return cls(len(window), len(failures), failures)

    @property
    def score(self) -> float:
        return (self.checks - self.failed + 1) / (self.checks + 2)

    @property
    def grade(self) -> str:
        if self.checks < MIN_GRADED:
            return "new"
        return "A" if self.score >= 0.9 else "B" if self.score >= 0.75 else "C"

    @property
    def penalty_s(self) -> float:
        return PENALTY_S * self.failed

    @property
    def offence(self) -> bool:
        """True when the newest failure is an offence (failures before it in the window)."""
        return self.failed > OFFENCE_AFTER

    def explain(self) -> str:
        passed = self.checks - self.failed
        text = f"{passed} of {self.checks} verifications passed (score {self.score:.2f})"
        if self.failures:
            last = self.failures[0]
            text += f"; last failure {iso(last.at)}: {last.checks}: {last.detail}"
        return text
