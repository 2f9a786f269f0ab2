"""Start and stop the processes a benchmark measures: fake engine, control plane, nodes,
the llama.cpp engine and LiteLLM's proxy. Each is a child process bound to 127.0.0.1, stopped
by its own pid (SIGTERM, then SIGKILL), never by name.

A child that speaks first prints one JSON line on stdout once it is ready; `Child.ready`
reads it with a deadline, and if the child dies first, says so with the tail of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.httpclient import Connection, HttpError
from infernet.backends.engine_process import free_port

__all__ = ["Child", "LiteLLM", "Network", "ProcessFailed", "free_port", "network"]

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".venv-bench"
LITELLM = BENCH_VENV / "bin" / "litellm"


class ProcessFailed(Exception):
    """A benchmark child process did not start; the message says which and why."""


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as err:
            self.process = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-1500:]
        return ""

    async def ready(self, timeout: float = 60.0) -> dict[str, object]:
        """The child's first JSON line on stdout."""
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), timeout)
        except TimeoutError as exc:
            raise ProcessFailed(f"{self.name} not ready within {timeout:.0f} s") from exc
        if not line:
            raise ProcessFailed(f"{self.name} exited while starting:\n{self._tail()}")
        parsed: dict[str, object] = json.loads(line)
        return parsed

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


async def fake_engine(work: Path, chunks: int, port: int | None = None) -> tuple[Child, int]:
    port = port or free_port()
    argv = python_module("bench.fake_engine", "--port", str(port), "--chunks", str(chunks))
    child = Child("fake engine", argv, work / "fake_engine.log").start()
    await child.ready(20)
    return child, port


@dataclass
class Network:
    """A control plane process plus a process of real node daemons in front of an engine."""

    control_plane: Child
    nodes: Child
    url: str
    port: int
    api_key: str
    model: str

    async def stop(self) -> None:
        await self.nodes.stop()
        await self.control_plane.stop()


async def network(
    work: Path,
    engine_url: str | list[str],
    *,
    nodes: int,
    slots: int,
    engine_ready: Awaitable[object] | None = None,
    load_only: bool = False,
) -> Network:
    """Start a control plane (while `engine_ready`, if given, is awaited) and then nodes:
    all in front of one engine, or one in front of each of a list of them."""
    port = free_port()
    home = work / f"cp-{port}"
    argv = python_module("bench.serve", "controlplane", "--port", str(port), "--home", str(home))
    if load_only:
        argv.append("--load-only")
    cp = Child("control plane", argv, work / f"controlplane-{port}.log").start()
    try:
        if engine_ready is None:
            info = await cp.ready(60)
        else:
            info, _ = await asyncio.gather(cp.ready(60), engine_ready)
        url = str(info["url"])
        engines = [engine_url] if isinstance(engine_url, str) else engine_url
        argv = python_module(
            "bench.serve", "nodes", "--control-plane", url,
            *(arg for engine in engines for arg in ("--engine", engine)),
            "--count", str(nodes), "--slots", str(slots), "--home", str(home / "nodes"),
        )  # fmt: skip
        node_proc = Child("nodes", argv, work / f"nodes-{port}.log").start()
        ready = await node_proc.ready(90)
    except BaseException:
        await cp.stop()
        raise
    return Network(cp, node_proc, url, port, str(info["api_key"]), str(ready["model"]))


def litellm_installed() -> bool:
    return LITELLM.is_file()


@dataclass
class LiteLLM:
    child: Child
    port: int
    master_key: str
    model: str = "fakellm"


async def _wait_http(port: int, path: str, timeout: float, child: Child) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        assert child.process is not None
        if child.process.poll() is not None:
            raise ProcessFailed(f"{child.name} exited while starting:\n{child._tail()}")
        conn = Connection("127.0.0.1", port)
        try:
            response = await conn.request("GET", path)
            await response.read()
            if response.status == 200:
                return
        except (HttpError, OSError):
            pass
        finally:
            await conn.close()
        await asyncio.sleep(0.25)
    raise ProcessFailed(f"{child.name} did not answer {path} within {timeout:.0f} s")


def start_litellm(work: Path, engine_port: int, model: str) -> LiteLLM:
    """Start LiteLLM's proxy (no database, access log off) in front of the fake engine."""
    port = free_port()
    key = "sk-bench-" + secrets.token_hex(16)
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: fakellm\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: http://127.0.0.1:{engine_port}/v1\n"
        "      api_key: unused-by-the-fake-engine\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    log_config = work / "litellm-logging.json"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": {"uvicorn.access": {"level": "WARNING"}},
            }
        )
    )
    argv = [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log_config", str(log_config)]
    env = {
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "PYTHONUNBUFFERED": "1",
    }
    child = Child("LiteLLM proxy", argv, work / "litellm.log", env).start()
    return LiteLLM(child, port, key)


async def litellm_ready(proxy: LiteLLM, timeout: float = 180.0) -> None:
    await _wait_http(proxy.port, "/health/liveliness", timeout, proxy.child)


async def asyncio_to_thread(func: Callable[[], object]) -> None:
    """Run a blocking call (engine start or stop) without blocking the event loop."""
    await asyncio.to_thread(func)
