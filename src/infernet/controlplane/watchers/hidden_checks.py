"""Hidden checks: jobs the platform sends as a client would, then verifies.

At random times (exponential gaps, mean `Settings.hidden_check_interval_s`; 0 turns
them off) a request drawn from the generated pool (verification/pool.py) goes to a
model the platform runs a verifier for, from one of a few platform-owned accounts with
ordinary names and ids, through the ordinary path (`JobManager.submit`, routed like any
job, billed and receipted like any job). A node sees the messages, the parameters and a
price, as for every job: nothing tells it this one is checked. Its answer is always
spot-checked (verification/service.py), and its cost, the job's and the check's, is
spent from the verification budget, which is also when a check may be sent.

The accounts are funded from `external:verification_funds` (the platform's own money
put into checks) as they run low; what they pay nodes for honest answers is the cost of
checking, and what a failed check earned a node is withheld like any other.
"""

from __future__ import annotations

import asyncio
import logging
import random
from decimal import Decimal
from typing import Protocol

from infernet.controlplane.errors import ApiError
from infernet.controlplane.jobs.streams import StreamError
from infernet.controlplane.money.ledger import client_available
from infernet.controlplane.schemas.jobs import JobCreate
from infernet.controlplane.services import Services
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.verification.pool import draw
from infernet.controlplane.verification.service import Verifications, answer_of

log = logging.getLogger("infernet.hidden_checks")
FUNDS = "external:verification_funds"
ACCOUNTS = 6
TOP_UP = Decimal("5")
NAMES = ("maria", "kenji", "lena", "omar", "priya", "jonas", "sofia", "tariq", "ana", "li")
ANSWER_TIMEOUT_S = 300.0


class Background(Protocol):
    """A background loop the control plane starts and stops (this, watchers/sweeps.py)."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...


class HiddenChecks:
    def __init__(
        self,
        services: Services,
        verifications: Verifications,
        interval_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self.services, self.verifications = services, verifications
        self.budget = verifications.budget
        self.interval_s = interval_s
        self.rng = rng or random.SystemRandom()
        self.accounts: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def account(self) -> str:
        """One of the check accounts, created and funded as needed."""
        if len(self.accounts) < ACCOUNTS:
            name = f"{self.rng.choice(NAMES)}{self.rng.randrange(10, 99)}"
            self.accounts.append(await create_account(self.services.db, name))
            self.verifications.hidden_accounts.add(self.accounts[-1])
        account = self.rng.choice(self.accounts)
        payments = self.services.payments
        if payments is not None:
            balance = await payments.ledger.balance(client_available(account))
            if balance < TOP_UP:
                moves = [(FUNDS, -TOP_UP), (client_available(account), TOP_UP)]
                key = f"verification_funds:{account}:{self.rng.getrandbits(64):x}"
                await payments.ledger.post("deposit", key, moves, memo="")
        return account

    def models(self) -> list[str]:
        online = self.services.registry.online_models()
        return sorted(key for key in online if key in self.verifications.scorers)

    async def run_once(self) -> bool:
        """Send one hidden check and verify its answer; False when none was sent."""
        models = self.models()
        # Within the budget once clients' jobs were served; before any, the interval alone.
        if not models or (self.budget.served > 0 and self.budget.credit <= 0):
            return False
        key = self.rng.choice(models)
        drawn = draw(self.rng)
        name = self.services.registry.online_models()[key][0].served[key]
        request = JobCreate(
            model=name,
            messages=drawn.messages,
            max_tokens=drawn.max_tokens,
            temperature=drawn.temperature,
            top_p=drawn.top_p,
            seed=drawn.seed,
        )
        try:
            job = await self.services.jobs.submit(await self.account(), request)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                async for _ in job.stream.follow():
                    pass
        except (ApiError, StreamError, TimeoutError) as exc:
            log.info("hidden check got no answer", extra={"model": key, "why": repr(exc)})
            return False
        answer = answer_of(job)
        if answer is None or job.finish_reason is None:
            return False
        self.budget.spend(answer.cost)
        await self.verifications.verify(answer, key, "hidden")
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(1.0 / self.interval_s))
            try:
                await self.run_once()
            except Exception:
                log.exception("hidden check failed to run")

    def start(self) -> None:
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._loop(), name="hidden-checks")

    async def stop(self) -> None:
        """Stop sending checks, then the checks still running."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.verifications.stop()


def verification_tasks(services: Services) -> list[HiddenChecks]:
    """The background part of verification, as `services.settings` ask (none without
    a verifier; with `hidden_check_interval_s` 0 it only stops the spot-checks)."""
    if services.verifications is None:
        return []
    interval = services.settings.hidden_check_interval_s
    return [HiddenChecks(services, services.verifications, interval)]
