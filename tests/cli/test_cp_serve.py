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


def test_verifiers_the_checks_share_and_hidden_checks_reach_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(cp, "_run", lambda settings, host, port: served.append(settings))
    argv = ["cp", "serve", "--db", "sqlite+aiosqlite:///:memory:"]
    argv += ["--verifier", "m:1b=http://127.0.0.1:9000", "--verify-share", "0.02"]
    result = CliRunner().invoke(app, [*argv, "--hidden-check-interval", "600"])
    assert result.exit_code == 0, result.output
    assert served[0].verifier_urls == {"m:1b": "http://127.0.0.1:9000"}
    assert (served[0].verify_share, served[0].hidden_check_interval_s) == (0.02, 600.0)


def test_a_verifier_that_is_not_model_equals_url_is_a_usage_error() -> None:
    argv = ["cp", "serve", "--db", "sqlite+aiosqlite:///:memory:", "--verifier", "m:1b"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and "MODEL=http://HOST:PORT" in result.output
