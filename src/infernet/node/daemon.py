"""The node daemon: register, check the backend, heartbeat, hold the job channel.

One outbound HTTP client for registration and heartbeats (at the interval the control
plane states in its replies, `node/pacing.py`) and one outbound WebSocket, the job
channel, over which the control plane pushes jobs; the node opens it with a hello (its
state and the attempts it still runs), writes to it through one queue (node/outbox.py:
tokens that pile up leave in one frame) and, while it is open, beats over it instead
of over HTTP. The channel reconnects with jittered exponential
backoff (node/pacing.py) so that a control-plane restart does not bring every node back
in the same second.

After every heartbeat the daemon rewrites its status snapshot (`node/status_file.py`,
read by `infernet status`) and hands the commands in the response to the command executor
(`node/commands.py`), which runs them in the background. `sync()` is an immediate
heartbeat, sent after a model change; SIGUSR1 asks for one (`infernet model install`).
Each heartbeat re-reads `served_models` from the config file (a change the CLI made is
advertised from then on) and reports each model's context length as the engine says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection, connect

from infernet import __version__
from infernet.backends.base import Backend
from infernet.backends.errors import BackendError
from infernet.heap import startup_frozen
from infernet.node.autopayout import auto_payout_loop
from infernet.node.client import ControlPlaneClient, ControlPlaneError
from infernet.node.commands import AckReply, CommandExecutor, ledger_path
from infernet.node.confidential import open_job
from infernet.node.config import ConfigError, NodeConfig, load_effective_config
from infernet.node.executor import run_job
from infernet.node.gpu_report import HardwareCache
from infernet.node.hardware import detect_hardware
from infernet.node.heartbeat import build_heartbeat
from infernet.node.metrics import Health, NodeMetrics, daemon_health, start_metrics
from infernet.node.model_keys import ModelKeyring
from infernet.node.models import MemoryBudget, ModelError, ModelManager, served_mismatch
from infernet.node.outbox import ChannelClosed, Outbox, Tokens
from infernet.node.pacing import backoff_delays, heartbeat_interval
from infernet.node.shard_trainer import ShardTrainer
from infernet.node.status_file import StatusSnapshot, status_path, write_status
from infernet.node.training import training_worker
from infernet.protocol.confidential import ConfidentialError
from infernet.protocol.keys import NodeKey
from infernet.protocol.wire import (
    NODE_CHANNEL_PATH,
    BeatReply,
    CommandAck,
    Heartbeat,
    HeartbeatResponse,
    JobAssignment,
    JobCancel,
    JobDone,
    JobFailed,
    NodeHello,
    RegisterRequest,
    RegisterResponse,
    RunningAttempt,
    to_node_adapter,
)

log = logging.getLogger("infernet.node")
BEAT_REPLY_S = 10.0  # a heartbeat on the job channel unanswered this long: back to HTTP


@dataclass
class NodeDaemon:
    config: NodeConfig
    key: NodeKey
    backend: Backend
    node_id: str | None = None
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    last_heartbeat: float | None = None
    config_path: Path | None = None  # where served_models is re-read and recorded
    memory_budget: MemoryBudget | None = None  # for install fit checks; None: detect
    told_interval_s: float | None = None  # what the control plane last asked for
    shard_trainer: ShardTrainer | None = None  # for accept_training; None: a child process

    def __post_init__(self) -> None:
        self.client = ControlPlaneClient(self.config.control_plane_url, self.key)
        self._outbox: Outbox | None = None  # the open job channel's writer
        self._attempts: dict[str, int] = {}  # job id -> the attempt running (in `running`)
        self._stopping = asyncio.Event()
        self._beat_lock = asyncio.Lock()
        self._started_at = time.time()
        self._syncs: set[asyncio.Task[bool]] = set()
        self._commands: CommandExecutor | None = None
        self.model_keys = ModelKeyring(self.config.key_file().parent, self.key)
        self.metrics = NodeMetrics()  # served on 127.0.0.1:metrics_port (node/metrics.py)
        self.metrics.active_jobs.set_function(lambda: len(self.running))
        self.hardware = HardwareCache()  # GPUs and tier for heartbeats, probed every 5 min
        self.draining = False  # set by drain(): no new jobs, exit when the running ones end
        self._drain_task: asyncio.Task[None] | None = None
        self.training = training_worker(self.client, self.key, self.config, self.shard_trainer)

    async def register(self) -> str:
        reply = await self.client.post(
            "/api/v1/node/register",
            RegisterRequest(public_key=self.key.public_hex, name=self.config.name),
            RegisterResponse,
        )
        self.node_id = reply.node_id
        self._follow_interval(reply.heartbeat_interval_s)
        return reply.node_id

    @property
    def interval_s(self) -> float:
        """Seconds between heartbeats now (`node/pacing.py`)."""
        return heartbeat_interval(self.config.heartbeat_interval_s, self.told_interval_s)

    def _follow_interval(self, told: float | None) -> None:
        if told is None or told == self.told_interval_s:
            return
        before, self.told_interval_s = self.interval_s, told
        if self.interval_s != before:
            log.info(f"Heartbeat every {self.interval_s:g}s (the control plane asks {told:g}s)")

    async def check_models(self) -> None:
        try:
            installed = await self.backend.list_models()
        except BackendError as exc:
            log.warning(f"Cannot list the backend's models: {exc}")
            return
        log.info("Loaded models: " + (", ".join(m.name for m in installed if m.loaded) or "none"))
        for warning in served_mismatch(self.config.served_models, installed):
            log.warning(f"served_models mismatch: {warning}")

    async def build_heartbeat(self) -> Heartbeat:
        return await build_heartbeat(
            self.backend,
            self.config,
            self.model_keys,
            self.hardware,
            active_jobs=len(self.running),
            draining=self.draining,
            slots=self.training.capacity(self.config.max_concurrent_jobs),  # node/training.py
        )

    async def heartbeat(self) -> HeartbeatResponse:
        async with self._beat_lock:
            self._reload_served_models()
            beat = await self.build_heartbeat()
            started = time.monotonic()
            reply = await self._beat(beat)
            latency_ms = (time.monotonic() - started) * 1000
            self.last_heartbeat = time.time()
        self.metrics.heartbeat_ok(latency_ms / 1000, beat.backend_healthy)
        self._follow_interval(reply.heartbeat_interval_s)
        log.info(f"Heartbeat OK (latency: {latency_ms:.0f}ms)")
        self._write_status(beat, reply, latency_ms)
        if reply.commands:
            self.commands.submit(reply.commands)
        return reply

    async def _beat(self, beat: Heartbeat) -> HeartbeatResponse:
        """Over the job channel while it is open and answers beats, else signed HTTP."""
        if self._outbox is not None and (reply := await self._outbox.beat(beat, BEAT_REPLY_S)):
            return reply
        return await self.client.post("/api/v1/heartbeat", beat, HeartbeatResponse)

    async def sync(self) -> bool:
        """An immediate heartbeat (after a model change); False when it failed."""
        try:
            await self.heartbeat()
        except ControlPlaneError as exc:
            log.warning(f"Sync heartbeat failed: {exc}")
            return False
        return True

    def request_sync(self) -> None:
        """Schedule `sync()`; safe to call from a signal handler (SIGUSR1)."""
        task = asyncio.create_task(self.sync())
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    def _reload_served_models(self) -> None:
        if self.config_path is None:
            return
        try:
            self.config.served_models = load_effective_config(self.config_path).served_models
        except ConfigError as exc:
            log.warning(f"Keeping the served_models I had: {exc}")

    def _write_status(self, beat: Heartbeat, reply: HeartbeatResponse, latency_ms: float) -> None:
        if self.config_path is None:
            return
        snapshot = StatusSnapshot(
            pid=os.getpid(),
            version=__version__,
            node_id=self.node_id,
            control_plane_url=self.config.control_plane_url,
            started_at=self._started_at,
            last_heartbeat_at=self.last_heartbeat,
            heartbeat_latency_ms=round(latency_ms, 1),
            heartbeat_status=reply.status,
            backend=self.backend.name,
            backend_host=self.backend.host,
            backend_healthy=beat.backend_healthy,
            served_models=[m.name for m in beat.served_models],
            loaded_models=[m.name for m in beat.served_models if m.loaded],
            vram_tier=beat.vram_tier,
            active_jobs=len(self.running),
            max_concurrent_jobs=self.config.max_concurrent_jobs,
            jobs_completed=self.metrics.completed,
            jobs_failed=self.metrics.failed,
        )
        try:
            write_status(status_path(self.config_path), snapshot)
        except OSError as exc:
            log.warning(f"Cannot write the status file: {exc}")

    @property
    def commands(self) -> CommandExecutor:
        if self._commands is None:
            ledger = ledger_path(self.config_path) if self.config_path else None
            self._commands = CommandExecutor(self._model_manager, self._send_ack, ledger)
        return self._commands

    async def _model_manager(self) -> ModelManager:
        if self.config_path is None:
            raise ModelError("this daemon runs without a config file to record served_models in")
        if self.memory_budget is None:
            report = await asyncio.to_thread(detect_hardware)
            self.memory_budget = MemoryBudget.from_report(report)
        return ModelManager(self.backend, self.config_path, self.memory_budget, self.sync)

    async def _send_ack(self, command_id: str, ack: CommandAck) -> None:
        await self.client.post(f"/api/v1/node/commands/{command_id}/ack", ack, AckReply)

    async def heartbeat_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.heartbeat()
            except ControlPlaneError as exc:
                self.metrics.heartbeat_failed()
                log.warning(f"Heartbeat failed: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    def _channel_url(self) -> str:
        base = self.config.control_plane_url.rstrip("/")
        return (
            base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + NODE_CHANNEL_PATH
        )

    async def send(self, message: Tokens | JobDone | JobFailed) -> None:
        """Queue `message` on the job channel (node/outbox.py); ConnectionError if closed."""
        if self._outbox is None:
            raise ChannelClosed("job channel is closed")
        if not isinstance(message, Tokens):  # counted per job, not per token
            self.metrics.observe_message(message)
        self._outbox.put(message)

    async def channel_loop(self) -> None:
        delays = backoff_delays()
        while not self._stopping.is_set():
            headers = self.client.signed_headers("GET", NODE_CHANNEL_PATH)
            try:
                async with connect(
                    self._channel_url(),
                    additional_headers=headers,
                    max_size=2**22,
                    ping_interval=20,
                    # One small frame per token: deflating each costs more CPU on both
                    # ends (beside a busy engine) than the bytes it saves on the wire.
                    compression=None,
                ) as channel:
                    delays = backoff_delays()
                    log.info("Job channel connected")
                    await self._serve(channel)
            except (OSError, websockets.WebSocketException) as exc:
                log.warning(f"Job channel down: {exc!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), next(delays))

    async def _serve(self, channel: ClientConnection) -> None:
        """Open with the hello, first on each channel: our state and running attempts (so a
        restarted control plane routes to us at once and stops what it no longer counts
        on); then take what comes until the channel closes."""
        running = [RunningAttempt(job_id=j, attempt=a) for j, a in self._attempts.items()]
        hello = NodeHello(heartbeat=await self.build_heartbeat(), running=running)
        outbox = Outbox(channel.send)
        outbox.put(hello)
        self._outbox = outbox
        try:
            await self._receive(channel, outbox)
        finally:
            self._outbox = None
            await outbox.close()

    async def _receive(self, channel: ClientConnection, outbox: Outbox) -> None:
        async for raw in channel:
            message = to_node_adapter.validate_json(raw)
            if isinstance(message, BeatReply):
                outbox.replied(message.reply)
            elif isinstance(message, JobAssignment):
                if old := self.running.get(message.job_id):
                    old.cancel()  # the control plane gave up on that attempt
                task = asyncio.create_task(self._run(message), name=message.job_id)
                self.running[message.job_id] = task
                self._attempts[message.job_id] = message.attempt
            elif isinstance(message, JobCancel):
                self._cancel(message)

    def _cancel(self, message: JobCancel) -> None:
        """Stop the job's attempt (the one named, when the message names one)."""
        job = self.running.get(message.job_id)
        if job is not None and message.attempt in (None, self._attempts.get(message.job_id)):
            job.cancel()

    async def _run(self, job: JobAssignment) -> None:
        try:
            if self.draining:  # assigned before the control plane heard we are draining
                await self._refuse(job, "backend_unavailable", "The node is draining.")
                return
            try:
                job, backend = open_job(job, self.backend, self.model_keys, self.key)
            except ConfidentialError as exc:
                await self._refuse(job, "bad_request", f"Confidential job refused: {exc}")
                return
            await run_job(backend, job, self.send, key=self.key, provenance=self.model_keys)
        except ConnectionError:
            log.warning(f"Job {job.job_id}: channel lost while streaming")
        finally:
            if self._attempts.get(job.job_id) == job.attempt:  # not replaced by a newer one
                self.running.pop(job.job_id, None)
                self._attempts.pop(job.job_id, None)

    async def _refuse(self, job: JobAssignment, error: str, message: str) -> None:
        log.warning(f"Job {job.job_id} refused: {message}", extra={"job_id": job.job_id})
        await self.send(
            JobFailed(job_id=job.job_id, attempt=job.attempt, error=error, message=message)
        )

    async def drain(self) -> None:
        """Stop taking jobs (the control plane hears it at once through a heartbeat with
        `draining`), let running jobs finish (at most `drain_timeout_s`), then stop."""
        self.draining = True
        log.info(f"Draining: {len(self.running)} job(s) running, taking no new ones")
        await self.sync()
        deadline = time.monotonic() + self.config.drain_timeout_s
        while self.running and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self.running.values()), timeout=left)
        if self.running:
            log.warning(f"Drain timed out; stopping {len(self.running)} running job(s)")
        self.stop()

    def request_drain(self) -> None:
        """Schedule `drain()`; safe from a signal handler (SIGUSR2, `infernet upgrade`)."""
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self.drain())

    def health(self) -> Health:
        return daemon_health(
            self.last_heartbeat,
            self.interval_s,
            self.metrics.backend_ok,
            self.draining,
        )

    async def run(self) -> None:
        """Register, check, then heartbeat and serve jobs until `stop()`."""
        node_id = await self.register()
        log.info(f"Node {node_id} starting...", extra={"node_id": node_id})
        log.info(f"Inference backend: {self.backend.name} ({self.backend.host})")
        await self.check_models()
        await self.heartbeat()
        metrics_server = await start_metrics(self.metrics, self.health, self.config.metrics_port)
        loops = [
            asyncio.create_task(self.heartbeat_loop()),
            asyncio.create_task(self.channel_loop()),
        ]
        if self.config.auto_payout:
            loops.append(asyncio.create_task(auto_payout_loop(self.client, self.config)))
        loops.append(asyncio.create_task(self.training.run(self._stopping)))  # accept_training
        try:
            with startup_frozen():  # heap.py
                await self._stopping.wait()
        finally:
            commands = list(self._commands.running.values()) if self._commands else []
            for task in [*loops, *self.running.values(), *commands]:
                task.cancel()
            await asyncio.gather(*loops, *self.running.values(), *commands, return_exceptions=True)
            if metrics_server is not None:
                await metrics_server.stop()
            await self.client.close()

    def stop(self) -> None:
        self._stopping.set()
