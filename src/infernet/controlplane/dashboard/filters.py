"""Jinja2 filters the templates share: times, ages, token counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from jinja2 import Environment

from infernet.controlplane.store.ids import iso


def when(moment: datetime | str | None) -> str:
    """`2026-05-01 14:23 UTC`, or an em dash."""
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float | None) -> str:
    """`12s ago`, `3m ago`, `2h ago`; JavaScript keeps it ticking (static/dashboard.js)."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 86400:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"


def ago(epoch: float | None) -> str:
    return age(None if epoch is None else time.time() - epoch)


def register_filters(env: Environment) -> None:
    env.filters["ago"] = ago
    env.filters["when"] = when
    env.filters["age"] = age
    env.filters["iso"] = iso
