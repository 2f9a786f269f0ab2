"""`infernet up`: the whole network on this machine, in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from pathlib import Path

import httpx
import typer
from rich.panel import Panel

from infernet.cli.common import Exit, console, fail
from infernet.engine.launch import EngineError
from infernet.localnet import LocalNetwork
from infernet.logs import setup_logging

DEMO_PROMPT = "What is the capital of France?"


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
    console.print(f"[bold]You:[/] {DEMO_PROMPT}\n[bold]SmolLM2 (through the network):[/] ", end="")
    async with (
        httpx.AsyncClient(base_url=net.url, timeout=120) as client,
        client.stream("POST", "/api/v1/jobs", json=body, headers=headers) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line[6:])
                if "error" in event:
                    raise RuntimeError(f"{event['error']}: {event['message']}")
                console.print(event["text"], end="", markup=False, highlight=False)
    console.print()


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
            f"Model              {net.model_name}\n"
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
        await stop.wait()
        console.print("\nStopping...")
    finally:
        await net.stop()
    console.print("Stopped: control plane, node and llama.cpp engine.")


def up(
    port: int = typer.Option(8700, "--port", help="Port of the control plane."),
    home: Path = typer.Option(
        Path("~/.infernet/local"),
        help="Where the local network keeps its database, node key and logs.",
    ),
    log_level: str = typer.Option("warning", help="Log level of the control plane and node."),
) -> None:
    """Run a control plane and a node serving SmolLM2 on llama.cpp, then chat through them."""
    setup_logging(log_level)
    try:
        net = LocalNetwork(home.expanduser(), port=port)
        asyncio.run(_run(net))
    except EngineError as exc:
        raise fail(str(exc), Exit.BACKEND) from exc
    except OSError as exc:
        raise fail(f"{exc} (is port {port} in use? try --port)", Exit.FAILED) from exc
