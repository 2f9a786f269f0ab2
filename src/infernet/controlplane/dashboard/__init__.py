"""The dashboard (Book §4.4): server-rendered pages served by the control plane itself.

Jinja2 templates (`controlplane/templates/`), one small script and one stylesheet
(`controlplane/static/`), no build step. Pages update live over server-sent events
(`live.py`), fed by the in-process event hub (`controlplane/events.py`). Every page
reads the same service and store functions as the API, in-process; nothing goes through
HTTP. `/` is the landing: sign-in, or the Nodes page when signed in. The API under
`/api` and `/v1` is untouched.

Modules: `session.py` / `security.py` / `records.py` (sign-in, cookies, rows),
`auth_pages.py`, `nodes_pages.py` (+ `nodes_view.py`, `models_view.py`), `jobs_pages.py`,
`money_pages.py`, `settings_pages.py`, `chat_pages.py`, `supply_pages.py`.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from infernet.controlplane.background import PeriodicTask
from infernet.controlplane.services import Services

LIVENESS_CHECK_S = 2.0


def install(app: FastAPI) -> None:
    """Mount the dashboard's routes, static files and sign-in redirect on `app`."""
    from infernet.controlplane.dashboard import (
        auth_pages,
        chat_pages,
        jobs_pages,
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
    ):
        app.include_router(module.router, dependencies=[Depends(same_origin)])
    app.include_router(auth_pages.landing)


def dashboard_tasks(services: Services) -> list[PeriodicTask]:
    """Background work the dashboard needs: node liveness → live pages and webhooks."""
    from infernet.controlplane.webhooks import LivenessWatch

    interval = min(LIVENESS_CHECK_S, services.settings.heartbeat_interval_s)
    return [PeriodicTask("liveness-watch", interval, LivenessWatch(services).check)]
