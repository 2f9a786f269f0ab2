"""What the heartbeat says about this machine's GPUs: every GPU (coarse facts only:
vendor, name, VRAM, utilization) and the combined VRAM tier (Book §9.1: 2 x 24 GB reports
`>=48gb`; no tier above it).

Probing runs vendor tools (nvidia-smi and friends), which can take a second, so the
report is cached and refreshed at most every `refresh_s` (5 minutes); the probe runs in
a worker thread so the heartbeat loop never blocks on it. The tier follows
`effective_tier`: detected, unless `vram_tier` is set in the config (the Book lets
operators set it by hand for multi-GPU rigs).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infernet.node.hardware import HardwareReport, detect_hardware, effective_tier
from infernet.protocol.tiers import Tier
from infernet.protocol.wire import GpuSummary

log = logging.getLogger("infernet.node")
REFRESH_S = 300.0


def gpu_summaries(report: HardwareReport) -> list[GpuSummary]:
    return [
        GpuSummary(
            vendor=str(gpu.vendor),
            name=gpu.name,
            vram_mb=gpu.vram_total_mb,
            utilization_pct=gpu.utilization_pct,
            memory_used_mb=gpu.vram_used_mb,
        )
        for gpu in report.gpus
    ]


@dataclass
class HardwareCache:
    detect: Callable[[], HardwareReport] = detect_hardware
    refresh_s: float = REFRESH_S
    clock: Callable[[], float] = time.monotonic
    _report: HardwareReport | None = field(default=None, init=False)
    _taken_at: float = field(default=float("-inf"), init=False)

    async def report(self) -> HardwareReport | None:
        """The cached report, re-probed when older than `refresh_s`; None if probing fails."""
        if self._report is None or self.clock() - self._taken_at >= self.refresh_s:
            self._taken_at = self.clock()
            try:
                self._report = await asyncio.to_thread(self.detect)
            except OSError as exc:
                log.warning(f"Hardware detection failed: {exc}")
        return self._report

    async def heartbeat_fields(self, configured_tier: Tier | None) -> tuple[list[GpuSummary], Tier]:
        """(gpus, vram_tier) for the heartbeat."""
        report = await self.report()
        gpus = gpu_summaries(report) if report else []
        return gpus, effective_tier(configured_tier, report).tier
