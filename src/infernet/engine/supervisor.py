"""Keeps an engine this node started running, and tells the node what happened to it.

`EngineSupervisor` watches the engine's process. When it dies (a signal or a non-zero
exit), the supervisor logs how, with the last lines of the engine's log, and starts it
again after a backoff (1, 2, 4, 8 s). A run of `stable_s` resets the count; the fifth
crash in a row is a crash loop: it stops restarting and says so (`state == "failed"`,
`gave_up` set). `on_change` is called at each change of state, so the node can send a
heartbeat at once instead of at its next beat.

`SupervisedBackend` is the node's `Backend` for such an engine: the engine's own adapter,
except that while the engine is down its health says why (the heartbeat then reports the
backend unavailable), and a request cut short by the engine dying fails with the crash
report ("the llama.cpp engine crashed (SIGSEGV) while answering; last lines of its log:
...; log file: PATH") instead of a bare connection error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal

from infernet.backends.base import (
    Backend,
    BackendHealth,
    GenerationEvent,
    GenerationRequest,
    InstalledModel,
    PullProgress,
)
from infernet.backends.engine_process import EngineProcess
from infernet.backends.errors import (
    BackendTimeout,
    BackendUnavailable,
    EngineCrashed,
    EngineStartFailed,
)

log = logging.getLogger("infernet.engine")

RESTART_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
STABLE_S = 60.0
State = Literal["stopped", "running", "restarting", "failed"]


class EngineSupervisor:
    """Starts the engine with `start`, waits until it answers, restarts it when it dies."""

    def __init__(
        self,
        start: Callable[[], EngineProcess],
        *,
        delays: Sequence[float] = RESTART_DELAYS_S,
        stable_s: float = STABLE_S,
        ready_timeout_s: float = 120.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._start, self._delays, self._stable_s = start, tuple(delays), stable_s
        self._ready_timeout_s, self.on_change = ready_timeout_s, on_change
        self.process: EngineProcess | None = None
        self.state: State = "stopped"
        self.crashes = 0  # in a row, without a stable run between them
        self.last_crash = ""  # the full report of the last crash
        self.gave_up = asyncio.Event()
        self._started_at = 0.0
        self._watcher: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        if self.process is None:
            raise RuntimeError("the engine has not been started")
        return self.process.url

    async def start(self) -> None:
        """Start the engine and wait until it answers (EngineStartFailed if it cannot),
        then keep watching it."""
        await self._launch()
        self._watcher = asyncio.create_task(self._watch(), name="engine-supervisor")

    async def _launch(self) -> None:
        process = self._start()
        try:
            await process.wait_ready(self._ready_timeout_s)
        except BaseException:
            await asyncio.to_thread(process.stop, 10.0)
            raise
        self.process, self._started_at = process, time.monotonic()
        self._set("running")

    async def _watch(self) -> None:
        while self.process is not None:
            await self.process.wait_exit()
            if time.monotonic() - self._started_at >= self._stable_s:
                self.crashes = 0
            report = self.process.crash_report()
            while True:
                self.crashes += 1
                self.last_crash = report
                if self.crashes > len(self._delays):
                    self._give_up()
                    return
                delay = self._delays[self.crashes - 1]
                log.error(f"{report}\nRestarting it in {delay:.0f} s ({self._attempt()}).")
                self._set("restarting")
                await asyncio.sleep(delay)
                try:
                    await self._launch()
                except EngineStartFailed as exc:
                    report = str(exc)
                    continue
                log.warning(f"{self._title()} is running again ({self.url})")
                break

    async def noticed_exit(self, timeout_s: float = 1.0) -> None:
        """Wait (at most `timeout_s`) until the watcher has acted on the engine's exit."""
        deadline = time.monotonic() + timeout_s
        while self.state == "running" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _attempt(self) -> str:
        return f"restart {self.crashes} of {len(self._delays)}"

    def _title(self) -> str:
        return self.process.title if self.process else "the engine"

    def _give_up(self) -> None:
        self._set("failed")
        log.error(self.detail())
        self.gave_up.set()

    def _set(self, state: State) -> None:
        self.state = state
        if self.on_change is not None:
            self.on_change()

    def detail(self) -> str:
        """What the engine is doing, for health checks and heartbeats."""
        process = self.process
        if self.state == "running" or process is None:
            return "ok" if self.state == "running" else f"{self._title()} is not started"
        how = process.exit_reason() or "stopped answering"
        if self.state == "failed":
            return (
                f"{process.title} {how} and was restarted {len(self._delays)} times, crashing "
                f"again each time, so this node stopped restarting it. Last crash: "
                f"{self.last_crash}\nRun `infernet doctor` (it runs a one-token self-test of "
                "the engine) and check the log above."
            )
        restart = f"restarting it ({self._attempt()})"
        return f"{process.title} {how}; {restart}; log file: {process.log_path}"

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self.process is not None:
            await asyncio.to_thread(self.process.stop, 10.0)
        self.state = "stopped"


class SupervisedBackend:
    """`inner` (the engine's adapter) for an engine that `supervisor` keeps running."""

    def __init__(self, inner: Backend, supervisor: EngineSupervisor) -> None:
        self._inner, self._supervisor = inner, supervisor

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def host(self) -> str:
        return self._inner.host

    async def health(self) -> BackendHealth:
        process = self._supervisor.process
        if self._supervisor.state == "running" and process is not None:
            health = await self._inner.health()
            # Refused a moment before the process is reaped: say that it crashed (as
            # `generate` does), not that nothing listens there.
            if health.ok or await process.wait_exit(1.0) is None:
                return health
            await self._supervisor.noticed_exit()
        return BackendHealth(ok=False, detail=self._supervisor.detail())

    async def list_models(self) -> list[InstalledModel]:
        return await self._inner.list_models()

    def install(self, model: str) -> AsyncIterator[PullProgress]:
        return self._inner.install(model)

    async def remove(self, model: str) -> None:
        await self._inner.remove(model)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        process = self._supervisor.process
        if self._supervisor.state != "running" or process is None:
            raise BackendUnavailable(self._supervisor.detail())
        try:
            async for event in self._inner.generate(request):
                yield event
        except (BackendUnavailable, BackendTimeout) as exc:
            # The connection breaks a moment before the process is reaped: give it that.
            if await process.wait_exit(2.0) is None:
                raise
            raise EngineCrashed(process.crash_report("while answering")) from exc

    async def close(self) -> None:
        await self._inner.close()
        await self._supervisor.stop()
