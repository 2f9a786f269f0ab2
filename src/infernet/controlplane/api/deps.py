"""FastAPI dependencies, as `Annotated` aliases.

`CallerDep` is the client endpoints' gate: the bearer API key is looked up (401 if it is
missing, unknown or revoked; answered from `Services.api_keys`, which a revocation clears
at once on every replica: NodeCaches.key_revoked), then counted against that key's request
limits (429 with `Retry-After` once they are used up). The limiter's answer is left on
`request.state`, and `RateLimitHeaders` copies it into the `X-RateLimit-*` headers of
whatever response follows.
`AccountDep` is the same gate for handlers that need only the account id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from infernet.controlplane.errors import RateLimited, Unauthorized
from infernet.controlplane.limits.rates import Limits, RateLimiter
from infernet.controlplane.services import Services
from infernet.controlplane.settings import Settings
from infernet.controlplane.store.accounts import KeyRecord

RATE_LIMIT_STATE = "rate_limit"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account, the API key it used, and that key's limits."""

    account_id: str
    key_id: str
    limits: Limits


def key_limits(key: KeyRecord, settings: Settings) -> Limits:
    return Limits(
        key.requests_per_minute or settings.key_requests_per_minute,
        key.requests_per_hour or settings.key_requests_per_hour,
    )


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a sync dependency in a worker thread, a hop on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


async def authenticated_caller(request: Request, services: ServicesDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <api key>'.")
    cache = services.caches.api_keys
    key = await cache.live_key(services.db, token.strip())
    if key is not None:
        await cache.mark_used(services.db, key)
    if key is None:
        raise Unauthorized("Invalid or expired bearer token")
    return Caller(key.account_id, key.id, key_limits(key, services.settings))


async def limited_caller(
    request: Request,
    caller: Annotated[Caller, Depends(authenticated_caller)],
    limiter: RateLimiterDep,
) -> Caller:
    decision = await limiter.hit(f"key:{caller.key_id}", caller.limits)
    setattr(request.state, RATE_LIMIT_STATE, decision)
    if not decision.allowed:
        raise RateLimited(
            f"This API key's limit of {decision.describe()} is used up; "
            f"retry after {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return caller


CallerDep = Annotated[Caller, Depends(limited_caller)]


async def current_account(caller: CallerDep) -> str:
    return caller.account_id


AccountDep = Annotated[str, Depends(current_account)]
