"""Running the node daemon as a system service: a systemd unit or a launchd agent.

Generation is pure (`systemd_unit`, `launchd_plist`: a `ServiceSpec` in, file text out);
actions go through an injected `Runner` so tests see exactly which `systemctl` or
`launchctl` commands would run.

* Linux, as root: `/etc/systemd/system/infernet.service` (Book §2.8), `WantedBy=
  multi-user.target`, `User=` the invoking user (`$SUDO_USER`) unless told otherwise.
* Linux, as a user: `~/.config/systemd/user/infernet.service`, `WantedBy=default.target`,
  driven with `systemctl --user` (run `loginctl enable-linger $USER` so it starts at boot
  without a login).
* macOS: `~/Library/LaunchAgents/sh.infernet.daemon.plist`, `RunAtLoad` + `KeepAlive`.

The unit runs `<absolute path of this infernet> start`, restarts always after 10 s, and
logs to the journal (stderr) and to the daemon's own rotating file (`infernet logs`).
When systemd is not the init system (a container, WSL without systemd) the actions say so
and fail with exit code 1 instead of pretending.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "infernet.service"
LAUNCHD_LABEL = "sh.infernet.daemon"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


class ServiceError(Exception):
    """A service action cannot be done here; the text says why and what to do."""


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str]], RunResult]


def subprocess_run(argv: Sequence[str]) -> RunResult:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as exc:
        return RunResult(127, "", f"{argv[0]}: not found ({exc})")
    return RunResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class ServiceSpec:
    exec_start: tuple[str, ...]  # argv of the daemon, absolute paths
    home: Path
    system: bool  # system-wide unit (root) or a user unit
    user: str | None = None  # User= for a system unit
    config_path: Path | None = None  # exported as INFERNET_CONFIG when not the default
    log_path: Path | None = None  # launchd: where stdout/stderr go


def infernet_command() -> tuple[str, ...]:
    """The absolute argv prefix that runs this very `infernet`."""
    beside = Path(sys.executable).parent / "infernet"
    if beside.exists():
        return (str(beside.absolute()),)
    found = shutil.which("infernet")
    if found:
        return (str(Path(found).absolute()),)
    return (str(Path(sys.executable).absolute()), "-m", "infernet.cli")


def _quote(arg: str) -> str:
    return f'"{arg}"' if any(c.isspace() for c in arg) else arg


def systemd_unit(spec: ServiceSpec) -> str:
    lines = [
        "[Unit]",
        "Description=Infernet Protocol Node Daemon",
        "After=network.target",
        "Wants=network.target",
        "",
        "[Service]",
        "Type=simple",
    ]
    if spec.system and spec.user:
        lines.append(f"User={spec.user}")
    lines += [
        f"ExecStart={' '.join(_quote(a) for a in (*spec.exec_start, 'start'))}",
        "Restart=always",
        "RestartSec=10",
        # A drain (SIGUSR2, `infernet upgrade`) may wait for running jobs this long.
        "TimeoutStopSec=330",
        f"Environment=HOME={spec.home}",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if spec.config_path is not None:
        lines.append(f"Environment=INFERNET_CONFIG={spec.config_path}")
    lines += [
        "StandardOutput=journal",
        "StandardError=journal",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.system else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(spec: ServiceSpec) -> str:
    env = {"HOME": str(spec.home), "PYTHONUNBUFFERED": "1"}
    if spec.config_path is not None:
        env["INFERNET_CONFIG"] = str(spec.config_path)
    body: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [*spec.exec_start, "start"],
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": 10,
        "EnvironmentVariables": env,
        "WorkingDirectory": str(spec.home),
    }
    if spec.log_path is not None:
        body["StandardOutPath"] = body["StandardErrorPath"] = str(spec.log_path)
    return plistlib.dumps(body).decode()


def unit_path(platform: str, system: bool, home: Path) -> Path:
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    if system:
        return SYSTEM_UNIT_DIR / UNIT_NAME
    return home / ".config" / "systemd" / "user" / UNIT_NAME


def systemd_running(run_dir: Path = Path("/run/systemd/system")) -> bool:
    """sd_booted(): systemd is PID 1 when this directory exists."""
    return run_dir.is_dir()


@dataclass
class ServiceManager:
    spec: ServiceSpec
    platform: str = sys.platform
    runner: Runner = subprocess_run
    booted: Callable[[], bool] = systemd_running

    @property
    def path(self) -> Path:
        return unit_path(self.platform, self.spec.system, self.spec.home)

    @property
    def is_launchd(self) -> bool:
        return self.platform == "darwin"

    def _systemctl(self, *args: str) -> RunResult:
        if not self.booted():
            raise ServiceError(
                "systemd is not running on this machine (PID 1 is not systemd: a container "
                "or WSL without systemd), so there is no service manager to hand the node "
                "to. Run `infernet start --detach` instead, or use your own supervisor."
            )
        scope = () if self.spec.system else ("--user",)
        result = self.runner(["systemctl", *scope, *args])
        if result.returncode != 0 and args[0] != "status":
            detail = (result.stderr or result.stdout).strip()
            raise ServiceError(f"systemctl {' '.join(args)} failed: {detail}")
        return result

    def _launchctl(self, *args: str) -> RunResult:
        result = self.runner(["launchctl", *args])
        if result.returncode != 0 and args[0] != "list":
            detail = (result.stderr or result.stdout).strip()
            raise ServiceError(f"launchctl {' '.join(args)} failed: {detail}")
        return result

    def render(self) -> str:
        return launchd_plist(self.spec) if self.is_launchd else systemd_unit(self.spec)

    def write(self) -> Path:
        """Write the unit or plist file (no service manager involved)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render(), encoding="utf-8")
        return self.path

    def enable(self) -> None:
        """Start at boot, and now."""
        if self.is_launchd:
            self._launchctl("load", "-w", str(self.path))
        else:
            self._systemctl("daemon-reload")
            self._systemctl("enable", "--now", UNIT_NAME)

    def action(self, verb: str) -> RunResult:
        """start, stop, restart or status."""
        if self.is_launchd:
            if verb == "status":
                return self._launchctl("list", LAUNCHD_LABEL)
            if verb == "restart":
                return self._launchctl("kickstart", "-k", f"gui/{os.getuid()}/{LAUNCHD_LABEL}")
            return self._launchctl(verb, LAUNCHD_LABEL)
        return self._systemctl(verb, UNIT_NAME)

    def logs_command(self, follow: bool = True) -> list[str]:
        if self.is_launchd:
            return ["tail", "-n", "200", *(["-F"] if follow else []), str(self.spec.log_path)]
        if not self.booted():
            self._systemctl("status")  # raises the clear "no systemd" error
        scope = [] if self.spec.system else ["--user"]
        return ["journalctl", *scope, "-u", UNIT_NAME, "-n", "200", *(["-f"] if follow else [])]

    def uninstall(self) -> bool:
        """Stop, disable and remove the unit; False when none was installed."""
        if not self.path.exists():
            return False
        if self.is_launchd:
            self._launchctl("unload", "-w", str(self.path))
        else:
            self._systemctl("disable", "--now", UNIT_NAME)
        self.path.unlink()
        if not self.is_launchd:
            self._systemctl("daemon-reload")
        return True
