"""`infernet upgrade` and `infernet remove`, and the `--version` update hint.

`upgrade` re-runs the installer this CLI came from (`install.sh`, recorded in
`<prefix>/install.json`) into the same virtualenv, then drains the running daemon (it
finishes its jobs, takes no new ones, exits) so that the service manager restarts it on
the new code; a daemon started with `start --detach` is started again. Config, keys and
node identity are not touched.

`remove` deregisters the node on the control plane (signed), stops the daemon, removes
the service and the CLI, and deletes config and keys only when you say so: they hold the
node's identity and its unclaimed earnings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import typer
from pydantic import BaseModel

from infernet import __version__
from infernet.cli.common import Exit, console, err_console, fail
from infernet.cli.service import manager as service_manager
from infernet.node.client import ControlPlaneClient, ControlPlaneError
from infernet.node.config import (
    DEFAULT_CONTROL_PLANE_URL,
    ConfigError,
    NodeConfig,
    default_config_path,
    load_effective_config,
)
from infernet.node.lifecycle import (
    InstallRecord,
    daemon_pid,
    drain_daemon,
    fetch_latest,
    version_hint,
)
from infernet.node.service import ServiceError
from infernet.protocol.keys import KeyFileError, NodeKey

CONFIG_OPTION = typer.Option(None, "--config", envvar="INFERNET_CONFIG", help="Config file.")


def _config(path: Path) -> NodeConfig | None:
    try:
        return load_effective_config(path) if path.exists() else None
    except ConfigError:
        return None


def print_version() -> None:
    """`infernet --version`: the version, then an update hint when the control plane
    answers within a second (nothing more when it does not)."""
    typer.echo(f"infernet {__version__}")
    config = _config(default_config_path())
    url = os.environ.get("INFERNET_CONTROL_PLANE_URL") or (
        config.control_plane_url if config else DEFAULT_CONTROL_PLANE_URL
    )
    if hint := version_hint(__version__, fetch_latest(url)):
        typer.echo(hint)


def _restart_daemon(path: Path, config: NodeConfig | None) -> None:
    pid = daemon_pid(path)
    if pid is None:
        console.print("No daemon is running; start it with `infernet start` when ready.")
        return
    detached = path.with_name("daemon.pid").exists()
    timeout = config.drain_timeout_s if config else 300.0
    console.print(f"Draining daemon {pid}: it finishes its running jobs and takes no new ones...")
    result = drain_daemon(pid, timeout + 10)
    if not result.exited:
        raise fail(f"daemon {pid} is still running after {timeout:.0f} s; check `infernet logs`.")
    if service_manager(path).path.exists():
        console.print("Daemon drained; the service manager restarts it on the new version.")
    elif detached:
        path.with_name("daemon.pid").unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "infernet.cli", "start", "--detach"], check=False)
    else:
        console.print("Daemon drained and stopped; start it again with `infernet start`.")


def upgrade(
    config: Path = CONFIG_OPTION,
    restart: bool = typer.Option(True, "--restart/--no-restart", help="Drain and restart."),
) -> None:
    """Re-install the CLI from where it came from, keeping config, keys and identity."""
    record = InstallRecord.find()
    if record is None:
        raise fail(
            f"this infernet ({sys.prefix}) was not installed by install.sh; upgrade it the "
            "way you installed it (e.g. `pip install -U` in its virtualenv).",
            Exit.FAILED,
        )
    if not record.installer().exists():
        raise fail(f"the installer is gone from {record.source}; run install.sh again.")
    console.print(f"Re-installing from {record.source} into {record.venv}...")
    if subprocess.run(record.reinstall_argv(), check=False).returncode != 0:
        raise fail("the installer failed (output above); the old version is still in place.")
    path = config or default_config_path()
    if restart:
        _restart_daemon(path, _config(path))


class _Reason(BaseModel):
    reason: str


class _Deregistered(BaseModel):
    node_id: str
    status: str


async def _deregister(config: NodeConfig) -> str:
    client = ControlPlaneClient(config.control_plane_url, NodeKey.load(config.key_file()))
    try:
        body = _Reason(reason="infernet remove")
        return (await client.post("/api/v1/node/deregister", body, _Deregistered)).node_id
    finally:
        await client.close()


def _step(label: str, action: object) -> None:
    try:
        result = action() if callable(action) else action
        console.print(f"  {label}: {result}")
    except (ControlPlaneError, KeyFileError, ServiceError, OSError) as exc:
        err_console.print(f"  [yellow]{label}: skipped[/] ({exc})")


def remove(
    config: Path = CONFIG_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; keys are kept."),
    delete_keys: bool = typer.Option(False, "--delete-keys", help="Also delete config + keys."),
) -> None:
    """Deregister the node, stop it, remove the service and the CLI; keys only if asked."""
    path = config or default_config_path()
    settings = _config(path)
    if not yes and not typer.confirm("Remove this node from the network and uninstall?"):
        raise typer.Exit(int(Exit.FAILED))
    console.print("Removing the node:")
    if settings is not None:
        _step("deregistered", lambda: asyncio.run(_deregister(settings)))
    if (pid := daemon_pid(path)) is not None:
        _step("daemon stopped", lambda: _terminate(pid))
    _step("service", lambda: "removed" if service_manager(path).uninstall() else "none installed")
    _remove_cli()
    wipe = delete_keys or (
        not yes
        and typer.confirm(
            "Delete the config and keys too? The node's identity and unclaimed earnings are "
            "lost with the keys.",
            default=False,
        )
    )
    if wipe:
        _delete_identity(path, settings)
    else:
        console.print(f"  kept: config {path} and keys (delete them yourself when sure)")


def _terminate(pid: int) -> int:
    os.kill(pid, signal.SIGTERM)
    return pid


def _remove_cli() -> None:
    record = InstallRecord.find()
    if record is None:
        console.print(f"  CLI: installed with pip in {sys.prefix}; `pip uninstall infernet` there")
        return
    if record.link and Path(record.link).is_symlink():
        Path(record.link).unlink()
    shutil.rmtree(record.prefix, ignore_errors=True)
    console.print(f"  CLI: removed {record.prefix}")


def _delete_identity(path: Path, settings: NodeConfig | None) -> None:
    if settings is not None and settings.key_file().parent.exists():
        shutil.rmtree(settings.key_file().parent)
        console.print(f"  deleted keys: {settings.key_file().parent}")
    for file in (path, path.with_name(path.name + ".lock")):
        file.unlink(missing_ok=True)
    console.print(f"  deleted config: {path}")
