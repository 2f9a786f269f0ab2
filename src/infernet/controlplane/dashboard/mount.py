"""Mounting the dashboard on the app: its routes, static files and sign-in redirect."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from infernet.controlplane.dashboard import (
    auth_pages,
    chat_pages,
    jobs_pages,
    market_pages,
    money_pages,
    nodes_pages,
    settings_pages,
    supply_pages,
)
from infernet.controlplane.dashboard.render import STATIC
from infernet.controlplane.dashboard.session import (
    CookieKeys,
    SignInRequired,
    same_origin,
    sign_in_required,
)


def install(app: FastAPI) -> None:
    """Mount the dashboard's routes, static files and sign-in redirect on `app`."""

    app.state.dashboard_cookies = CookieKeys()
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.mount("/dashboard/static", StaticFiles(directory=str(STATIC)), name="dashboard-static")
    for module in (
        auth_pages,
        nodes_pages,
        jobs_pages,
        money_pages,
        settings_pages,
        chat_pages,
        supply_pages,
        market_pages,
    ):
        app.include_router(module.router, dependencies=[Depends(same_origin)])
    app.include_router(auth_pages.landing)
