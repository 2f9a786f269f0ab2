"""Sign-up, sign-in and sign-out.

Two ways in: email + password (an account made here), or pasting an API key (an account
made by `infernet up`, `POST /api/v1/accounts` or the CLI has keys but no password). Both
open the same kind of session. A revoked key signs nobody in.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.render import (
    Errors,
    page,
    submit_form,
)
from infernet.controlplane.dashboard.security import hash_password, verify_password
from infernet.controlplane.dashboard.session import MaybeViewerDep, close_session, open_session
from infernet.controlplane.schemas.forms import SignInForm, SignUpForm
from infernet.controlplane.services import Services
from infernet.controlplane.store import dashboard as records
from infernet.controlplane.store.accounts import (
    InviteRejected,
    create_account,
    key_for_secret,
    revoke_key,
    sign_up,
)

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
HOME = "/dashboard/nodes"
BAD_LOGIN = "That email and password do not match an account. Check both, or sign up."


def safe_next(target: str | None) -> str:
    """Only local dashboard paths: never an open redirect."""
    if target and target.startswith("/dashboard/") and not target.startswith("//"):
        return target
    return HOME


@router.get("/sign-in")
async def sign_in_page(request: Request, viewer: MaybeViewerDep, next: str = "") -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "sign_in.html", next=next, errors={}, values={})


async def _account_from(
    services: Services, form: SignInForm
) -> tuple[tuple[str, str | None] | None, Errors]:
    """(account, API key it signed in with) for a valid form, else the errors."""
    if form.api_key.strip():
        key = await key_for_secret(services.db, form.api_key.strip())
        if key is None:
            return None, {
                "api_key": "That API key is unknown or revoked. Create one with "
                "`infernet keys create` or sign in with email."
            }
        return (key.account_id, key.id), {}
    if not form.email.strip() or not form.password:
        return None, {"email": "Enter your email and password, or paste an API key below."}
    login = await records.login_for(services.db, form.email.strip().lower())
    ok = login is not None and await asyncio.to_thread(
        verify_password, form.password, login.password_hash
    )
    if login is None or not ok:
        return None, {"password": BAD_LOGIN}
    return (login.account_id, None), {}


@router.post("/sign-in")
async def sign_in(request: Request, services: ServicesDep) -> Response:
    fields, signed_in, errors = await submit_form(
        request, SignInForm, lambda form: _account_from(services, form)
    )
    if signed_in is None:
        values = {"email": fields.get("email", "")}
        return page(
            request,
            "sign_in.html",
            status_code=400,
            next=fields.get("next", ""),
            errors=errors,
            values=values,
        )
    response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
    account_id, key_id = signed_in
    await open_session(request, services, account_id, response, key_id)
    return response


@router.get("/sign-up")
async def sign_up_page(request: Request, services: ServicesDep) -> Response:
    invite = services.settings.require_invite
    return page(request, "sign_up.html", errors={}, values={}, invite_required=invite)


async def _new_account(services: Services, form: SignUpForm) -> tuple[str | None, Errors]:
    if await records.login_for(services.db, form.email) is not None:
        return None, {"email": "An account already uses this email: sign in instead."}
    if services.settings.require_invite:
        if not form.invite.strip():
            return None, {"invite": "This network needs an invite code to sign up."}
        try:
            issued = await sign_up(services.db, form.name, form.invite.strip())
        except InviteRejected:
            return None, {"invite": "That invite code is unknown or was already used."}
        await revoke_key(services.db, issued.id)  # the browser account starts keyless
        account_id = issued.account_id
    else:
        account_id = await create_account(services.db, form.name)
    password_hash = await asyncio.to_thread(hash_password, form.password)
    try:
        await records.add_login(services.db, form.email, account_id, password_hash)
    except records.EmailTaken:
        return None, {"email": "An account already uses this email: sign in instead."}
    return account_id, {}


@router.post("/sign-up")
async def do_sign_up(request: Request, services: ServicesDep) -> Response:
    fields, account_id, errors = await submit_form(
        request, SignUpForm, lambda form: _new_account(services, form)
    )
    if account_id is None:
        values = {k: fields.get(k, "") for k in ("name", "email", "invite")}
        return page(
            request,
            "sign_up.html",
            status_code=400,
            errors=errors,
            values=values,
            invite_required=services.settings.require_invite,
        )
    response = RedirectResponse(HOME, status_code=303)
    await open_session(request, services, account_id, response)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, services: ServicesDep) -> Response:
    response = RedirectResponse("/dashboard/sign-in", status_code=303)
    await close_session(request, services, response)
    return response


landing = APIRouter(include_in_schema=False)


@landing.get("/")
async def landing_page(viewer: MaybeViewerDep) -> Response:
    """`/`: the Nodes page when signed in, else sign-in."""
    return RedirectResponse(HOME if viewer else "/dashboard/sign-in", status_code=303)


@landing.get("/dashboard")
async def dashboard_root(viewer: MaybeViewerDep) -> Response:
    return await landing_page(viewer)
