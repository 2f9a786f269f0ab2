"""Slack / Discord notifications when a node goes offline (Book §8.7, Settings →
Notifications).

`LivenessWatch.check` runs every few seconds (a background task): it compares each node's
status with the one it saw last time, publishes every change on the event hub (so live
dashboard pages update even though no heartbeat arrived), and when a node that was online
or degraded is now offline it posts a message to every webhook of the account that owns
the node. Nodes no account owns (open registration) have nobody to tell.

Slack's incoming webhooks take `{"text": ...}`, Discord's `{"content": ...}`. The control
plane posts only to the services' own webhook hosts over https (plus hosts the operator
names in `Settings.webhook_hosts`, e.g. a Slack-compatible Mattermost): a dashboard user
must not be able to make the control plane POST into its own private network. Each
delivery's outcome (HTTP status, or the error) is stored on the webhook and shown in
Settings, so an operator sees a broken URL instead of silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from infernet.controlplane.services import Services
from infernet.controlplane.store import dashboard as records
from infernet.controlplane.store import nodes as node_store
from infernet.controlplane.store.ids import iso, utcnow

log = logging.getLogger("infernet.webhooks")
KINDS = ("slack", "discord")
# Where each service's incoming webhooks live (their documented URL shapes).
SERVICE_HOSTS = {
    "slack": ("hooks.slack.com", "hooks.slack-gov.com"),
    "discord": ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"),
}
DELIVERY_TIMEOUT_S = 5.0


class BadWebhook(ValueError):
    """A webhook URL or kind the control plane will not post to."""


def check_webhook(kind: str, url: str, extra_hosts: Sequence[str] = ()) -> tuple[str, str]:
    """The (kind, url) to store, or BadWebhook saying what is wrong.

    `extra_hosts` are hosts the operator allows besides the services' own.
    """
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise BadWebhook("Choose Slack or Discord.")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadWebhook("Paste the full webhook URL, starting with https://.")
    if len(url) > 500:
        raise BadWebhook("That URL is longer than 500 characters.")
    host = parts.hostname.lower()
    if host in (h.lower() for h in extra_hosts):
        return kind, url
    if parts.scheme != "https" or parts.port not in (None, 443):
        raise BadWebhook("Webhook URLs must use https:// on the standard port.")
    if host not in SERVICE_HOSTS[kind]:
        allowed = ", ".join(SERVICE_HOSTS[kind])
        raise BadWebhook(
            f"A {kind.capitalize()} webhook URL is on {allowed}. Copy it from the "
            f"channel's integration settings (the control plane's operator can allow "
            f"other hosts with webhook_hosts)."
        )
    if kind == "discord" and not parts.path.startswith("/api/webhooks/"):
        raise BadWebhook("A Discord webhook URL looks like https://discord.com/api/webhooks/….")
    return kind, url


def payload(kind: str, text: str) -> dict[str, str]:
    return {"content": text} if kind == "discord" else {"text": text}


async def deliver(client: httpx.AsyncClient, hook: records.Webhook, text: str) -> str:
    """Post `text` to `hook`; the outcome in words (also stored on the webhook)."""
    try:
        response = await client.post(hook.url, json=payload(hook.kind, text))
        outcome = f"HTTP {response.status_code} at {iso(utcnow())}"
        if response.is_error:
            outcome = f"failed: {outcome}"
    except httpx.HTTPError as exc:
        outcome = f"failed: {type(exc).__name__} at {iso(utcnow())}"
    return outcome


async def notify_account(services: Services, account_id: str, text: str) -> list[str]:
    hooks = await records.webhooks_of(services.db, account_id)
    outcomes = []
    async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S) as client:
        for hook in hooks:
            outcome = await deliver(client, hook, text)
            await records.record_delivery(services.db, hook.id, outcome)
            outcomes.append(outcome)
    return outcomes


def offline_message(name: str, node_id: str, offline_after_s: float) -> str:
    label = f"{name} ({node_id})" if name else node_id
    return (
        f"Infernet: node {label} went offline: no heartbeat for {offline_after_s:g} s. "
        "Check that `infernet start` is running and can reach the control plane."
    )


class LivenessWatch:
    """Remembers each node's last status; reports changes and offline transitions."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._last: dict[str, str] = {}

    async def check(self) -> None:
        registry = self._services.registry
        now = time.monotonic()
        for node in registry.all():
            status = node.status(now, registry.offline_after_s)
            before = self._last.get(node.node_id)
            self._last[node.node_id] = status
            if before is None or before == status:
                continue
            self._services.events.publish("nodes", node.node_id)
            self._services.events.publish(f"status:{node.node_id}", status)
            if status == "offline":
                await self._went_offline(node.node_id)

    async def _went_offline(self, node_id: str) -> None:
        row = await node_store.node_by_id(self._services.db, node_id)
        if row is None or row["account_id"] is None:
            return
        text = offline_message(
            str(row["name"] or ""), node_id, self._services.registry.offline_after_s
        )
        outcomes = await notify_account(self._services, str(row["account_id"]), text)
        log.info("node offline notified", extra={"node_id": node_id, "webhooks": len(outcomes)})
