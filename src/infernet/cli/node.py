"""`infernet init | start | stop`: create a node's identity and config, run the daemon."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from infernet import event_loop
from infernet.backends.detect import BackendSettings, detect_and_build
from infernet.cli.common import Exit, console, fail, user_errors
from infernet.logs import setup_logging
from infernet.node.config import (
    DEFAULT_CONTROL_PLANE_URL,
    ConfigError,
    NodeConfig,
    default_config_path,
    load_effective_config,
    save_config,
)
from infernet.node.daemon import NodeDaemon
from infernet.node.logfiles import resolve_log_path
from infernet.node.status_file import SYNC_SIGNAL
from infernet.protocol.keys import NodeKey

CONFIG_OPTION = typer.Option(
    None,
    "--config",
    envvar="INFERNET_CONFIG",
    help="Config file (default ~/.config/infernet/config.json).",
)


def init(
    control_plane: str = typer.Option(
        DEFAULT_CONTROL_PLANE_URL, "--control-plane", help="URL of the control plane to join."
    ),
    served_model: list[str] = typer.Option(
        [], "--served-model", help="A model to advertise (repeatable)."
    ),
    backend: str = typer.Option(
        None, help="ollama, vllm, sglang, max or llamacpp (default: detect)."
    ),
    config: Path = CONFIG_OPTION,
    force: bool = typer.Option(False, help="Overwrite an existing config (the key is kept)."),
) -> None:
    """Create the node keypair (secp256k1, mode 0600) and the config file (mode 0600)."""
    path = config or default_config_path()
    if path.exists() and not force:
        raise fail(f"{path} exists already; use --force to overwrite it.", Exit.CONFIG)
    with user_errors():
        settings = NodeConfig(
            control_plane_url=control_plane, served_models=served_model, backend=backend
        )
        key_file = settings.key_file()
        key = NodeKey.load(key_file) if key_file.exists() else NodeKey.generate()
        if not key_file.exists():
            key.save(key_file)
        settings.public_key = key.public_hex
        save_config(settings, path)
    console.print(f"Public key: {key.npub}\nKey file:   {key_file}\nConfig:     {path}")


def _pid_file(path: Path) -> Path:
    return path.with_name("daemon.pid")


async def _run_daemon(config_path: Path) -> None:
    config = load_effective_config(config_path)
    key = NodeKey.load(config.key_file())
    settings = BackendSettings.from_sources(config.model_dump())
    detection, backend = await detect_and_build(settings)
    logging.getLogger("infernet.node").info(f"Backend detected: {detection.reason}")
    daemon = NodeDaemon(config, key, backend, config_path=config_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, daemon.stop)
    loop.add_signal_handler(signal.SIGUSR2, daemon.request_drain)  # `infernet upgrade`
    loop.add_signal_handler(SYNC_SIGNAL, daemon.request_sync)  # `infernet model install`
    try:
        await daemon.run()
    finally:
        await backend.close()


def start(
    config: Path = CONFIG_OPTION,
    detach: bool = typer.Option(False, "--detach", help="Run in the background (pid file)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the node daemon: heartbeats, job channel, job execution (foreground by default)."""
    path = config or default_config_path()
    log = _log_file(path)
    if detach:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log.with_suffix(".out"), "ab") as out:  # only what precedes logging
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "infernet.cli",
                    "start",
                    "--config",
                    str(path),
                    "--log-level",
                    log_level,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _pid_file(path).write_text(str(child.pid))
        console.print(f"Daemon started (pid {child.pid}); logs in {log}")
        return
    setup_logging(log_level, log)
    with user_errors():
        event_loop.run(_run_daemon(path))


def _log_file(config_path: Path) -> Path:
    """The daemon's rotating log file (`infernet logs` reads it; node/logfiles.py)."""
    try:
        configured = load_effective_config(config_path).log_file
    except ConfigError:
        configured = None
    return resolve_log_path(config_path, configured)


def stop(config: Path = CONFIG_OPTION) -> None:
    """Stop a daemon started with `infernet start --detach`."""
    pid_file = _pid_file(config or default_config_path())
    if not pid_file.exists():
        raise fail("no daemon is running (no pid file).", Exit.FAILED)
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        raise fail(f"daemon {pid} did not stop within 10 s.", Exit.FAILED)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        console.print(f"Daemon {pid} stopped.")
