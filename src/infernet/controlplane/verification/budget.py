"""The share of the network's compute verification may spend (`Settings.verify_share`,
5 % by default), and which finished jobs to check within it.

Costs are in prefilled-token units (spotcheck.py `DECODE_WEIGHT`): every finished job
adds its cost to what was served; every check (and every hidden check's own job)
adds its cost to what was spent. A job is checked at random with the probability that
spends the share at the mean cost of a check so far, and never while the spending is
ahead of the share, so no node can predict which of its answers are looked at and the
total stays within budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST_GUESS = 0.5  # a check's cost relative to its job's, before any is measured


@dataclass
class Budget:
    share: float
    rng: random.Random = field(default_factory=random.SystemRandom)
    served: float = 0.0
    spent: float = 0.0
    _ratio_sum: float = 0.0
    _checks: int = 0

    @property
    def credit(self) -> float:
        """What may still be spent now."""
        return self.share * self.served - self.spent

    @property
    def check_ratio(self) -> float:
        """A check's mean cost relative to its job's (a first guess until measured)."""
        return self._ratio_sum / self._checks if self._checks else FIRST_GUESS

    def rate(self) -> float:
        """The probability of checking one finished job."""
        return min(1.0, self.share / self.check_ratio)

    def served_job(self, cost: float) -> bool:
        """Count a finished job; True when it is to be checked."""
        self.served += cost
        return self.credit > 0 and self.rng.random() < self.rate()

    def spend(self, cost: float, job_cost: float | None = None) -> None:
        """Count a check's cost (and learn the ratio, given its job's cost)."""
        self.spent += cost
        if job_cost:
            self._ratio_sum += cost / job_cost
            self._checks += 1
