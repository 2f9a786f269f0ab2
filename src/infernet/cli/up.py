"""`infernet up`: the whole network on this machine, in the foreground until Ctrl-C.

It never ends in a Python traceback: whatever fails is printed as what failed, where the
logs are and what to try, with the README's exit code (5 for the engine, 1 otherwise). An
unexpected exception's traceback goes to `up.log` beside the engine's log.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import traceback
from pathlib import Path

import httpx
import typer
from rich.markup import escape
from rich.panel import Panel

from infernet import event_loop
from infernet.backends.errors import BackendError
from infernet.cli.common import Exit, console, fail
from infernet.engine.launch import find_smollm2
from infernet.localnet import LocalNetwork
from infernet.logs import setup_logging

DEMO_PROMPT = "What is the capital of France?"
# Job error codes that mean the engine, not the network, failed.
BACKEND_CODES = ("backend_unavailable", "backend_error", "model_not_loaded")


class DemoChatFailed(Exception):
    """The first chat through the network ended in an error event (or was refused)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class EngineGaveUp(Exception):
    """The engine kept crashing and its supervisor stopped restarting it."""


async def _demo_chat(net: LocalNetwork) -> None:
    """Send one job through control plane -> node -> llama.cpp and print it as it streams."""
    body = {
        "model": net.model_name,
        "stream": True,
        "max_tokens": 64,
        "temperature": 0.2,
        "messages": [{"role": "user", "content": DEMO_PROMPT}],
    }
    headers = {"Authorization": f"Bearer {net.api_key}"}
    who = escape(net.model_name)
    console.print(f"[bold]You:[/] {DEMO_PROMPT}\n[bold]{who} (through the network):[/] ", end="")
    async with (
        httpx.AsyncClient(base_url=net.url, timeout=120) as client,
        client.stream("POST", "/api/v1/jobs", json=body, headers=headers) as response,
    ):
        if response.status_code >= 400:
            refused = json.loads(await response.aread())
            raise DemoChatFailed(refused.get("error", "refused"), refused.get("error_message", ""))
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line[6:])
                if "error" in event:
                    console.print()
                    raise DemoChatFailed(event["error"], event.get("message", ""))
                console.print(event["text"], end="", markup=False, highlight=False)
    console.print()


def _context(net: LocalNetwork) -> str:
    tokens = net.context_length
    return f"  (context {tokens:,} tokens)" if tokens else ""


def _banner(net: LocalNetwork) -> None:
    cli = shlex.quote(str(Path(sys.executable).with_name("infernet")))
    key = net.api_key
    curl = (
        f"curl -N {net.url}/api/v1/jobs -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' -d '{\"model\": \""
        + net.model_name
        + '", "stream": true, "messages": [{"role": "user", "content": "Hello!"}]}\''
    )
    console.print(
        Panel.fit(
            f"[bold green]Infernet is running[/]\n\n"
            f"Control plane API  {net.url}/api/v1   (OpenAPI docs: {net.url}/docs)\n"
            f"Dashboard          {net.url}/  \n"
            f"Node               {net.daemon.node_id if net.daemon else '?'} -> llama.cpp at "
            f"{net.engine.url if net.engine else '?'}\n"
            f"Model              {net.model_name}{_context(net)}\n"
            f"API key            {key}\n\n"
            f"[bold]Try it[/] (in another terminal):\n"
            f'  INFERNET_API_KEY={key} {cli} chat --stream "Tell me a joke"\n'
            f"  {curl}\n\n"
            f"Press Ctrl-C to stop everything.",
            title="infernet up",
        )
    )


async def _run(net: LocalNetwork) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with console.status("Starting llama.cpp, the control plane and a node..."):
            await net.start()
        await _demo_chat(net)
        _banner(net)
        assert net.engine is not None
        # Until Ctrl-C, or until the engine has crashed too often to be restarted again.
        engine_gave_up = asyncio.create_task(net.engine.gave_up.wait())
        engine_gave_up.add_done_callback(lambda _: stop.set())
        await stop.wait()
        engine_gave_up.cancel()
        if net.engine.gave_up.is_set():
            raise EngineGaveUp(net.engine.detail())
        console.print("\nStopping...")
    finally:
        await net.stop()
    console.print("Stopped: control plane, node and llama.cpp engine.")


def _hints(net: LocalNetwork) -> str:
    return (
        f"Logs: the engine's in {net.engine_log}, the control plane's and the node's in "
        f"{net.home / 'up.log'} (rerun with --log-level info for more).\n"
        "Try `infernet doctor`: it shows how the llama.cpp engine was built and runs a "
        "one-token self-test of it."
    )


def _record_traceback(net: LocalNetwork) -> Path:
    path = net.home / "up.log"
    with path.open("a", encoding="utf-8") as log:
        log.write(traceback.format_exc())
    return path


def up(
    port: int = typer.Option(8700, "--port", help="Port of the control plane."),
    home: Path = typer.Option(
        Path("~/.infernet/local"),
        help="Where the local network keeps its database, node key and logs.",
    ),
    log_level: str = typer.Option("warning", help="Log level of the control plane and node."),
    model: Path = typer.Option(
        None, "--model", help="A GGUF file to serve instead of the bundled SmolLM2-135M-Instruct."
    ),
) -> None:
    """Run a control plane and a node serving SmolLM2 on llama.cpp, then chat through them."""
    home = home.expanduser()
    setup_logging(log_level, home / "up.log")
    try:
        net = LocalNetwork(home, port=port, model_path=model or find_smollm2())
    except BackendError as exc:  # the bundled model is missing
        raise fail(escape(str(exc)), Exit.BACKEND) from exc
    try:
        event_loop.run(_run(net))
    except Exception as exc:
        message, code = explain_failure(exc, net)
        raise fail(escape(message), code) from exc


def explain_failure(exc: Exception, net: LocalNetwork) -> tuple[str, Exit]:
    """What to print, and the exit code, for whatever stopped `infernet up`."""
    hints = _hints(net)
    if isinstance(exc, BackendError | EngineGaveUp):
        return f"{exc}\n{hints}", Exit.BACKEND
    if isinstance(exc, DemoChatFailed):
        code = Exit.BACKEND if exc.code in BACKEND_CODES else Exit.FAILED
        return f"the first chat through the network failed: {exc}\n{hints}", code
    if isinstance(exc, TimeoutError):
        return f"the node did not come online within 60 s.\n{hints}", Exit.FAILED
    if isinstance(exc, OSError):
        return f"{exc} (is port {net.port} in use? try --port)", Exit.FAILED
    where = _record_traceback(net)
    return f"infernet up failed unexpectedly: {exc!r} (traceback in {where}).\n{hints}", Exit.FAILED
