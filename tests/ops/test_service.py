"""`infernet service`: the generated systemd unit / launchd plist, and the actions run."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from infernet.node.service import (
    LAUNCHD_LABEL,
    RunResult,
    ServiceError,
    ServiceManager,
    ServiceSpec,
    launchd_plist,
    systemd_unit,
    unit_path,
)

EXE = ("/opt/infernet/venv/bin/infernet",)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


class FakeSystemctl:
    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv: Sequence[str]) -> RunResult:
        self.calls.append(list(argv))
        return RunResult(self.returncode, "active (running)\n", "boom")


def test_a_system_unit_has_the_books_fields(tmp_path: Path) -> None:
    spec = ServiceSpec(EXE, Path("/home/infernet"), system=True, user="infernet")
    unit = parse_unit(systemd_unit(spec))
    assert unit["Unit"] == {
        "Description": ["Infernet Protocol Node Daemon"],
        "After": ["network.target"],
        "Wants": ["network.target"],
    }
    service = unit["Service"]
    assert service["Type"] == ["simple"]
    assert service["User"] == ["infernet"]
    assert service["ExecStart"] == ["/opt/infernet/venv/bin/infernet start"]
    assert service["Restart"] == ["always"]
    assert service["RestartSec"] == ["10"]
    assert "HOME=/home/infernet" in service["Environment"]
    assert unit["Install"] == {"WantedBy": ["multi-user.target"]}


def test_a_user_unit_has_no_user_line_and_is_wanted_by_the_default_target() -> None:
    spec = ServiceSpec(EXE, Path("/home/ann"), system=False, user="ann")
    unit = parse_unit(systemd_unit(spec))
    assert "User" not in unit["Service"]
    assert unit["Install"]["WantedBy"] == ["default.target"]


def test_a_non_default_config_travels_in_the_environment() -> None:
    spec = ServiceSpec(EXE, Path("/h"), system=False, config_path=Path("/srv/node.json"))
    assert (
        "INFERNET_CONFIG=/srv/node.json" in parse_unit(systemd_unit(spec))["Service"]["Environment"]
    )


def test_the_launchd_plist_runs_the_daemon_at_load_and_keeps_it_alive() -> None:
    spec = ServiceSpec(EXE, Path("/Users/ann"), system=False, log_path=Path("/Users/ann/d.log"))
    plist = plistlib.loads(launchd_plist(spec).encode())
    assert plist["Label"] == LAUNCHD_LABEL
    assert plist["ProgramArguments"] == [*EXE, "start"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    assert plist["EnvironmentVariables"]["HOME"] == "/Users/ann"
    assert plist["StandardErrorPath"] == "/Users/ann/d.log"


def test_unit_paths_follow_the_book() -> None:
    home = Path("/home/ann")
    assert unit_path("linux", True, home) == Path("/etc/systemd/system/infernet.service")
    assert unit_path("linux", False, home) == home / ".config/systemd/user/infernet.service"
    assert unit_path("darwin", False, home) == (
        home / "Library/LaunchAgents/sh.infernet.daemon.plist"
    )


def test_install_writes_the_user_unit_then_reloads_and_enables_it(tmp_path: Path) -> None:
    runner = FakeSystemctl()
    service = ServiceManager(
        ServiceSpec(EXE, tmp_path, system=False), "linux", runner, booted=lambda: True
    )
    path = service.write()
    service.enable()
    assert path == tmp_path / ".config/systemd/user/infernet.service"
    assert "ExecStart=" in path.read_text()
    assert runner.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "infernet.service"],
    ]
    service.action("restart")
    assert runner.calls[-1] == ["systemctl", "--user", "restart", "infernet.service"]
    assert service.uninstall() is True
    assert not path.exists()
    assert ["systemctl", "--user", "disable", "--now", "infernet.service"] in runner.calls


def test_without_systemd_every_action_says_so_and_runs_nothing(tmp_path: Path) -> None:
    runner = FakeSystemctl()
    service = ServiceManager(
        ServiceSpec(EXE, tmp_path, system=False), "linux", runner, booted=lambda: False
    )
    with pytest.raises(ServiceError, match="systemd is not running"):
        service.enable()
    with pytest.raises(ServiceError, match="infernet start --detach"):
        service.action("start")
    assert runner.calls == []


def test_a_failing_systemctl_reports_its_message(tmp_path: Path) -> None:
    service = ServiceManager(
        ServiceSpec(EXE, tmp_path, system=False), "linux", FakeSystemctl(1), booted=lambda: True
    )
    with pytest.raises(ServiceError, match="boom"):
        service.action("stop")


def test_on_macos_launchctl_loads_the_plist(tmp_path: Path) -> None:
    runner = FakeSystemctl()
    service = ServiceManager(ServiceSpec(EXE, tmp_path, system=False), "darwin", runner)
    service.write()
    service.enable()
    assert runner.calls == [["launchctl", "load", "-w", str(service.path)]]


def test_the_cli_fails_with_exit_1_and_a_clear_message_here_without_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from infernet.cli.app import app

    monkeypatch.setattr("infernet.node.service.systemd_running", lambda run_dir=None: False)
    monkeypatch.setattr("infernet.node.service.ServiceManager.booted", lambda self=None: False)
    result = CliRunner().invoke(app, ["service", "start", "--config", str(tmp_path / "c.json")])
    assert result.exit_code == 1
    assert "systemd is not running" in result.output
