"""The platform's signing key: it countersigns every Compute Payment Receipt (Book §6.2).

Loaded from `Settings.platform_key_path`; created there (mode 0600, atomically) on first
start if absent. With no path set, the key lives next to the SQLite database it signs for
(`platform.key` beside `infernet.db`), or in `~/.infernet/keys/platform.key` for other
databases. Its public half is served at `GET /api/v1/platform-key` so anyone can verify
receipts offline. (`infernet keys generate-platform` creates one explicitly.)
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from infernet.controlplane.settings import Settings
from infernet.protocol.keys import NodeKey

log = logging.getLogger("infernet.platform_key")
FALLBACK = Path("~/.infernet/keys/platform.key")


def platform_key_path(settings: Settings) -> Path:
    explicit: str | None = getattr(settings, "platform_key_path", None)
    if explicit:
        return Path(explicit).expanduser()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).expanduser().resolve().with_name("platform.key")
    return FALLBACK.expanduser()


def load_or_create_platform_key(path: Path) -> NodeKey:
    """The key at `path`; a new one written there (0600) if there is none."""
    if path.exists():
        return NodeKey.load(path)
    key = NodeKey.generate()
    key.save(path)
    log.info(f"Created the platform signing key at {path} (public key {key.public_hex})")
    return key
