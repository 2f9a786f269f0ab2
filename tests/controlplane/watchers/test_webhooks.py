"""Offline notifications (controlplane/watchers/webhooks.py): a node that stops heartbeating makes
the control plane post to its owner's Slack / Discord webhook; here the webhook is a real
HTTP server on loopback that records what it was sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infernet.cli.register import send_registration
from infernet.controlplane.settings import Settings
from infernet.controlplane.store import dashboard as records
from infernet.controlplane.store.accounts import create_account
from infernet.controlplane.store.registration import create_token
from infernet.controlplane.watchers.webhooks import BadWebhook, check_webhook, payload
from infernet.localnet import LocalNode
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_slack_gets_text_and_discord_gets_content() -> None:
    assert payload("slack", "hi") == {"text": "hi"}
    assert payload("discord", "hi") == {"content": "hi"}


def test_a_webhook_must_be_a_full_url_of_a_known_service() -> None:
    assert check_webhook("Slack", " https://hooks.slack.com/x ") == (
        "slack",
        "https://hooks.slack.com/x",
    )
    with pytest.raises(BadWebhook, match="Slack or Discord"):
        check_webhook("teams", "https://example.com")
    with pytest.raises(BadWebhook, match="full webhook URL"):
        check_webhook("discord", "hooks.slack.com/x")


@pytest.mark.parametrize(
    ("kind", "url", "why"),
    [
        ("slack", "http://hooks.slack.com/services/T/B/x", "https"),
        ("slack", "https://hooks.slack.com:8443/services/T/B/x", "standard port"),
        ("slack", "https://127.0.0.1/hook", "hooks.slack.com"),
        ("slack", "https://169.254.169.254/latest/meta-data", "hooks.slack.com"),
        ("slack", "https://hooks.slack.com.evil.example/x", "hooks.slack.com"),
        ("discord", "https://localhost/api/webhooks/1/x", "discord.com"),
        ("discord", "https://discord.com/channels/1/2", "api/webhooks"),
        ("slack", "https://discord.com/api/webhooks/1/x", "hooks.slack.com"),
    ],
)
def test_the_control_plane_posts_only_to_the_services_own_webhook_hosts(
    kind: str, url: str, why: str
) -> None:
    # Otherwise any dashboard user could make the control plane POST into its own network.
    with pytest.raises(BadWebhook, match=why):
        check_webhook(kind, url)


def test_the_operator_can_allow_another_host_such_as_a_self_hosted_mattermost() -> None:
    url = "http://chat.internal:8065/hooks/abc"
    assert check_webhook("slack", url, ["chat.internal"]) == ("slack", url)
    assert check_webhook("discord", "https://discord.com/api/webhooks/1/x") == (
        "discord",
        "https://discord.com/api/webhooks/1/x",
    )


async def test_a_node_going_offline_posts_to_its_owners_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = Settings(heartbeat_interval_s=0.5)  # offline after 1.5 s of silence
    async with running(tmp_path, settings) as harness:
        services = harness.control_plane.services
        owner = await create_account(services.db, "operator")
        await records.add_webhook(services.db, owner, "discord", receiver.url)
        token = await create_token(services.db, owner, 600)
        node = LocalNode(tmp_path / "n", harness.url, ScriptedBackend(["smollm2:135m"]),
                         served_models=["smollm2:135m"], heartbeat_interval_s=0.5,
                         name="rig")  # fmt: skip
        await send_registration(node.config, node.key, token.token, None)
        harness.nodes.append(node)
        node.start()
        await harness.control_plane.wait_serving("smollm2:135m", 1, timeout=20)
        await asyncio.sleep(2.5)  # the liveness watch has seen it online
        assert receiver.received == []
        await node.stop()
        harness.nodes.remove(node)
        async with asyncio.timeout(20):
            while not receiver.received:
                await asyncio.sleep(0.1)
        message = receiver.received[0]["content"]
        assert "rig" in message and "went offline" in message
        async with asyncio.timeout(10):  # its outcome is stored once the post returned
            while (hooks := await records.webhooks_of(services.db, owner))[0].last_status is None:
                await asyncio.sleep(0.05)
        assert hooks[0].last_status is not None and hooks[0].last_status.startswith("HTTP 204")
