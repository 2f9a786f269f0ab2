"""Client accounts and their API keys (Book §5.1: keys scoped to an account, each with
its own limits; shown once, stored hashed, revocable).

Sign-up is open unless `Settings.require_invite` is on, then it needs an unused invite
code (`infernet cp invite`). It is the one unauthenticated client route, so it is
limited per client address instead (`Settings.signups_per_hour_per_ip`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from infernet.controlplane.api.deps import (
    RATE_LIMIT_STATE,
    CallerDep,
    RateLimiterDep,
    ServicesDep,
    key_limits,
)
from infernet.controlplane.api.docs import errors
from infernet.controlplane.errors import BadRequest, Forbidden, NotFound, RateLimited
from infernet.controlplane.limits.rates import Limits
from infernet.controlplane.schemas.accounts import (
    AccountPublic,
    KeyCreate,
    KeyCreated,
    KeyLimits,
    KeyList,
    KeyPublic,
    Me,
    SignupRequest,
    SignupResponse,
)
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import accounts as store
from infernet.controlplane.store.accounts import AccountRecord, IssuedKey, KeyRecord
from infernet.controlplane.store.ids import iso

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def key_public(key: KeyRecord, settings: Settings) -> KeyPublic:
    limits = key_limits(key, settings)
    return KeyPublic(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=iso(key.created_at) or "",
        last_used_at=iso(key.last_used_at),
        revoked=key.revoked_at is not None,
        revoked_at=iso(key.revoked_at),
        limits=KeyLimits(requests_per_minute=limits.per_minute, requests_per_hour=limits.per_hour),
    )


async def _created(services: ServicesDep, issued: IssuedKey) -> KeyCreated:
    record = await store.get_key(services.db, issued.id)
    assert record is not None  # just written
    return KeyCreated(**key_public(record, services.settings).model_dump(), key=issued.secret)


def _account_public(account: AccountRecord) -> AccountPublic:
    return AccountPublic(id=account.id, name=account.name, created_at=iso(account.created_at) or "")


async def _limit_signups(request: Request, limiter: RateLimiterDep, settings: Settings) -> None:
    per_hour = settings.signups_per_hour_per_ip
    address = request.client.host if request.client else "unknown"
    decision = await limiter.hit(f"signup:{address}", Limits(per_hour, per_hour))
    setattr(request.state, RATE_LIMIT_STATE, decision)
    if not decision.allowed:
        raise RateLimited(
            f"Too many sign-ups from your address ({decision.describe()}); "
            f"retry after {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
        )


@router.post(
    "/accounts",
    response_model=SignupResponse,
    status_code=201,
    responses=errors(400, 403, 429),
)
async def sign_up(
    body: SignupRequest, request: Request, services: ServicesDep, limiter: RateLimiterDep
) -> SignupResponse:
    """Create an account and its first API key (shown once: keep it)."""
    await _limit_signups(request, limiter, services.settings)
    code = body.invite_code if services.settings.require_invite else None
    if services.settings.require_invite and not code:
        raise Forbidden(
            "This control plane admits new accounts by invite only: send `invite_code` "
            "(its operator creates codes with `infernet cp invite`)."
        )
    try:
        issued = await store.sign_up(services.db, body.name, code)
    except store.InviteRejected as exc:
        raise Forbidden("That invite code is unknown or has already been used.") from exc
    account = await store.get_account(services.db, issued.account_id)
    assert account is not None  # just written
    return SignupResponse(
        account=_account_public(account), api_key=await _created(services, issued)
    )


@router.get("/account", response_model=Me, responses=errors(401, 429))
async def me(caller: CallerDep, services: ServicesDep) -> Me:
    """Your account, and the key this request was made with."""
    account = await store.get_account(services.db, caller.account_id)
    key = await store.get_key(services.db, caller.key_id)
    assert account is not None and key is not None  # the caller was just authenticated
    return Me(**_account_public(account).model_dump(), key=key_public(key, services.settings))


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=errors(400, 401, 429))
async def create_key(body: KeyCreate, caller: CallerDep, services: ServicesDep) -> KeyCreated:
    """A new API key for your account (shown once), optionally with its own limits."""
    settings = services.settings
    ceilings = (
        ("requests_per_minute", body.requests_per_minute, settings.key_max_requests_per_minute),
        ("requests_per_hour", body.requests_per_hour, settings.key_max_requests_per_hour),
    )
    for field, value, ceiling in ceilings:
        if value is not None and value > ceiling:
            raise BadRequest(f"{field}: {value} is above this control plane's most, {ceiling}.")
    issued = await store.issue_key(
        services.db,
        caller.account_id,
        body.name,
        requests_per_minute=body.requests_per_minute,
        requests_per_hour=body.requests_per_hour,
    )
    return await _created(services, issued)


@router.get("/keys", response_model=KeyList, responses=errors(401, 429))
async def list_keys(caller: CallerDep, services: ServicesDep) -> KeyList:
    """Every key of your account, revoked ones included (never the secrets)."""
    keys = await store.list_keys(services.db, caller.account_id)
    return KeyList(keys=[key_public(k, services.settings) for k in keys])


@router.delete("/keys/{key_id}", response_model=KeyPublic, responses=errors(401, 404, 429))
async def revoke_key(key_id: str, caller: CallerDep, services: ServicesDep) -> KeyPublic:
    """Revoke a key of your account: it is refused from the next request on."""
    key = await store.get_key(services.db, key_id)
    if key is None or key.account_id != caller.account_id:  # others' keys do not exist
        raise NotFound(f"No key {key_id} in your account.")
    await store.revoke_key(services.db, key_id, caller.account_id)
    await services.caches.key_revoked(key_id)  # refused from the next request on, on every replica
    revoked = await store.get_key(services.db, key_id)
    assert revoked is not None
    return key_public(revoked, services.settings)
