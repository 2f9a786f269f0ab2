"""Who is looking at the dashboard: the session cookie → account (`ViewerDep`).

Pages without a valid session redirect to sign-in (303, remembering where the visitor
was going); the live streams and /dashboard/api answer 401 instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from infernet.controlplane.api.deps import ServicesDep
from infernet.controlplane.dashboard.security import (
    COOKIE_NAME,
    CookieSigner,
    load_or_create_secret,
    token_hash,
)
from infernet.controlplane.errors import CrossSite
from infernet.controlplane.money.platform_key import platform_key_path
from infernet.controlplane.services import Services
from infernet.controlplane.store import dashboard as records
from infernet.controlplane.store import sessions
from infernet.controlplane.store.accounts import get_account

SIGN_IN = "/dashboard/sign-in"


class SignInRequired(Exception):
    def __init__(self, next_path: str, api: bool) -> None:
        super().__init__(next_path)
        self.next_path, self.api = next_path, api


@dataclass(frozen=True, slots=True)
class Viewer:
    account_id: str
    name: str
    email: str | None


class CookieKeys:
    """The cookie signer, its secret loaded on first use (beside the database)."""

    def __init__(self) -> None:
        self._signer: CookieSigner | None = None

    def signer(self, services: Services) -> CookieSigner:
        if self._signer is None:
            path = platform_key_path(services.settings).with_name("dashboard.secret")
            self._signer = CookieSigner(load_or_create_secret(path))
        return self._signer


def cookie_keys(request: Request) -> CookieKeys:
    keys: CookieKeys = request.app.state.dashboard_cookies
    return keys


def _session_token(request: Request, services: Services) -> str | None:
    cookie = request.cookies.get(COOKIE_NAME)
    return cookie_keys(request).signer(services).token_of(cookie) if cookie else None


async def optional_viewer(request: Request, services: ServicesDep) -> Viewer | None:
    token = _session_token(request, services)
    if token is None:
        return None
    account_id = await sessions.account_of(services.db, token_hash(token))
    account = await get_account(services.db, account_id) if account_id else None
    if account is None:
        return None
    return Viewer(account.id, account.name, await records.email_of(services.db, account.id))


async def viewer(
    request: Request, found: Annotated[Viewer | None, Depends(optional_viewer)]
) -> Viewer:
    if found is None:
        path = request.url.path
        api = path.startswith(("/dashboard/api/", "/dashboard/live/"))
        raise SignInRequired(path, api)
    return found


ViewerDep = Annotated[Viewer, Depends(viewer)]
MaybeViewerDep = Annotated[Viewer | None, Depends(optional_viewer)]


async def sign_in_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if exc.api:
        return JSONResponse(
            {"error": "unauthorized", "error_message": "Sign in to the dashboard first."},
            status_code=401,
        )
    return RedirectResponse(f"{SIGN_IN}?next={quote(exc.next_path)}", status_code=303)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def same_origin(request: Request) -> None:
    """Refuse a state-changing request that a page on another site sent (CSRF).

    SameSite=Lax already keeps the session cookie off cross-site form posts; this is the
    second wall (OWASP's origin check): browsers send `Origin` (or at least `Referer`)
    with every POST, and it must name the host the dashboard is served from. A request
    with neither header comes from a script, not a browser, and carries no ambient cookie
    risk.
    """
    if request.method in SAFE_METHODS:
        return
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return
    host = request.headers.get("host", "")
    if source == "null" or urlsplit(source).netloc.lower() != host.lower():
        raise CrossSite(
            "This form was sent from another site. Open the dashboard at "
            f"http(s)://{host}/dashboard and try again."
        )


async def open_session(
    request: Request,
    services: Services,
    account_id: str,
    response: Response,
    key_id: str | None = None,
) -> None:
    """Sign the browser in as `account_id` (with API key `key_id`, which ends the session
    when revoked); the session's lifetime is store/sessions.py's."""
    cookie, token = cookie_keys(request).signer(services).new_cookie()
    await sessions.start(services.db, token_hash(token), account_id, key_id)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(sessions.MAX_AGE.total_seconds()),
        httponly=True,
        samesite="lax",
        path="/",
        secure=services.settings.public_url.startswith("https://"),
    )


async def close_session(request: Request, services: Services, response: Response) -> None:
    token = _session_token(request, services)
    if token is not None:
        await sessions.end(services.db, token_hash(token))
    response.delete_cookie(COOKIE_NAME, path="/")
