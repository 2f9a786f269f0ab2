"""What the node commands (model, setup, status, doctor) share: the config they read, the
machine they run on, the tier they report, and the backend they talk to.

Commands read the *effective* config (file, then `INFERNET_*` overrides), which is what
the daemon runs on, so a command and the daemon never disagree about a setting; writes
go to the file (`update_config`). `hardware()` is looked up at call time, so tests can
stand a recorded machine in for this one in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import typer

from infernet.backends.base import Backend
from infernet.backends.detect import BackendSettings, detect_and_build
from infernet.node.config import NodeConfig, default_config_path, load_effective_config
from infernet.node.hardware import HardwareReport, TierChoice, detect_hardware, effective_tier

CONFIG_OPTION = typer.Option(
    None, "--config", envvar="INFERNET_CONFIG", help="Config file (default: the XDG path)."
)


def hardware() -> HardwareReport:
    return detect_hardware()


def load(config: Path | None) -> tuple[Path, NodeConfig]:
    """The config path and its effective settings; ConfigError when there is none."""
    path = config or default_config_path()
    return path, load_effective_config(path)


def load_if_present(config: Path | None) -> NodeConfig | None:
    """The effective config when the file exists (commands that work without one)."""
    path = config or default_config_path()
    return load_effective_config(path) if path.exists() else None


def tier_of(config: NodeConfig | None, report: HardwareReport) -> TierChoice:
    """The node's tier by the rule the heartbeat uses (`effective_tier`)."""
    return effective_tier(config.vram_tier if config is not None else None, report)


@asynccontextmanager
async def open_backend(config: NodeConfig) -> AsyncIterator[Backend]:
    """The configured (or detected) backend, closed afterwards; raises BackendError."""
    _, backend = await detect_and_build(BackendSettings.from_sources(config.model_dump()))
    try:
        yield backend
    finally:
        await backend.close()
