"""`infernet cp serve`: each option reaches the control plane's settings."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infernet.cli import cp
from infernet.cli.app import app
from infernet.controlplane.settings import Settings


def test_admins_open_deposits_and_the_job_timeout_reach_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(cp, "_run", lambda settings, host, port: served.append(settings))
    argv = ["cp", "serve", "--db", "sqlite+aiosqlite:///:memory:", "--admin", "acct_a"]
    argv += ["--admin", "acct_b", "--open-deposits", "--job-timeout", "20"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert settings.admin_accounts == ["acct_a", "acct_b"]
    assert settings.open_deposits and settings.job_timeout_s == 20.0


def test_without_them_no_one_is_admin_and_crediting_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(cp, "_run", lambda settings, host, port: served.append(settings))
    result = CliRunner().invoke(app, ["cp", "serve", "--db", "sqlite+aiosqlite:///:memory:"])
    assert result.exit_code == 0, result.output
    assert served[0].admin_accounts == [] and not served[0].open_deposits
