"""`infernet chat` and the bare-prompt shorthand: exit codes by the README's table, and a
mistyped command never sent as a (billed) prompt."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from infernet.cli.app import app, main
from infernet.controlplane.settings import Settings
from tests.fakes.server import serve
from tests.support.harness import running
from tests.support.scripted import ScriptedBackend


@pytest.fixture
def control_plane(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A stand-in control plane that records every request it gets and serves no model."""
    seen: list[str] = []
    fake = FastAPI()

    @fake.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> dict[str, object]:
        seen.append(f"{request.method} /{path}")
        return {"models": []}

    with serve(fake) as url:
        monkeypatch.setenv("INFERNET_CONTROL_PLANE_URL", url)
        monkeypatch.setenv("INFERNET_API_KEY", "inft_sk_test")
        yield seen


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["infernet", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [(["stauts"], "infernet status"), (["modle", "list"], "infernet model"), (["hello"], "")],
)
def test_a_word_that_is_no_command_is_a_usage_error_never_a_job(
    argv: list[str],
    suggestion: str,
    control_plane: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_main(argv, monkeypatch) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"'{argv[0]}' is not an infernet command." in err
    assert suggestion in err and f"infernet chat {argv[0]}" in err
    assert control_plane == []  # nothing was sent


def test_a_real_prompt_still_goes_through_the_shorthand(
    control_plane: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_main(["what is the capital of France?"], monkeypatch)
    assert control_plane == ["GET /api/v1/models"]
    assert code == 4  # no node serves a model: the control plane has nothing to run it on
    assert "no online node serves any model" in " ".join(capsys.readouterr().err.split())


def chat(url: str, key: str, model: str) -> tuple[int, str]:
    env = {"INFERNET_CONTROL_PLANE_URL": url, "INFERNET_API_KEY": key}
    result = CliRunner().invoke(app, ["chat", "hi", "--model", model], env=env)
    return result.exit_code, " ".join(result.output.split())


async def test_refusals_by_the_control_plane_exit_4(tmp_path: Path) -> None:
    async with running(tmp_path, Settings(payments_enabled=True)) as harness:
        await harness.add_node(ScriptedBackend(["m:1b"]))
        broke = await harness.control_plane.create_client_key("broke", credit="0")
        no_funds = await asyncio.to_thread(chat, harness.url, broke, "m:1b")
        no_node = await asyncio.to_thread(chat, harness.url, harness.api_key, "other:7b")
        ok = await asyncio.to_thread(chat, harness.url, harness.api_key, "m:1b")
    assert no_funds[0] == 4 and "insufficient_funds" in no_funds[1]
    assert no_node[0] == 4 and "model_not_found" in no_node[1]
    assert ok == (0, "Paris is the capital.")
