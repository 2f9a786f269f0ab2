"""The dashboard (Book §4.4): server-rendered pages served by the control plane itself.

Jinja2 templates (`controlplane/templates/`), one small script and one stylesheet
(`controlplane/static/`), no build step. Pages update live over server-sent events
(`live.py`), fed by the in-process event hub (`controlplane/dashboard/hub.py`). Every page
reads the same service and store functions as the API, in-process; nothing goes through
HTTP. `/` is the landing: sign-in, or the Nodes page when signed in. The API under
`/api` and `/v1` is untouched.

Modules: `session.py` / `security.py` (sign-in, cookies; rows in store/dashboard.py),
`auth_pages.py`, `nodes_pages.py` (+ `nodes_view.py`, `models_view.py`), `jobs_pages.py`,
`money_pages.py`, `settings_pages.py`, `chat_pages.py`, `supply_pages.py`.
"""
