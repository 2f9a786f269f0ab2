"""Before a shard is paid, its reported loss is reproduced here.

The node reports the eval loss of the shard's held-out lines (the same split
`train run --local` makes, by the job's seed) before and after its training. The
verifier loads the base model with the uploaded adapter, on this machine's CPU, with the
phase-1 training code (`python -m infernet.train.verify`, in a child process: the model
stays out of the control plane's memory, and a hung run can be killed), and measures
both. `judge` then pays only an adapter

- that loads onto the base model (right modules, right shapes),
- whose reported losses reproduce within `Settings.training_loss_tolerance` (relative;
  at least 0.01 absolute, for GPU nodes computing in bf16), and
- that lowers the held-out loss (measured after < measured before): an untouched
  adapter reported honestly is work not done.

A verifier that cannot run (the base model not at hand, out of memory) is not the
node's fault: the claim waits and is tried again (`VerifierFailed`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ABSOLUTE_TOLERANCE = 0.01
_STDERR_TAIL = 600


@dataclass(frozen=True)
class Measured:
    loss_before: float
    loss_after: float


class AdapterUnfit(Exception):
    """The adapter does not load onto the base model; the message says why."""


class VerifierFailed(Exception):
    """The verifier could not run; the message says why (not the node's fault)."""


class Verifier(Protocol):
    async def measure(self, config: dict[str, Any], shard: Path, adapter: Path) -> Measured:
        """Eval loss on the shard's held-out lines without and with `adapter`."""
        ...


def judge(reported: tuple[float, float], measured: Measured, tolerance: float) -> str | None:
    """Why the adapter is not paid, or None when it is."""

    def off(said: float, found: float) -> bool:
        return abs(said - found) > max(ABSOLUTE_TOLERANCE, tolerance * abs(found))

    before, after = reported
    if off(before, measured.loss_before) or off(after, measured.loss_after):
        return (
            f"the reported eval loss {before:.4f} → {after:.4f} was not reproduced: the "
            f"verifier measured {measured.loss_before:.4f} → {measured.loss_after:.4f} on the "
            "shard's held-out lines"
        )
    if not measured.loss_after < measured.loss_before:
        return (
            f"the adapter does not lower the loss on the shard's held-out lines "
            f"({measured.loss_before:.4f} → {measured.loss_after:.4f})"
        )
    return None


class ChildProcessVerifier:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    async def measure(self, config: dict[str, Any], shard: Path, adapter: Path) -> Measured:
        with tempfile.TemporaryDirectory(prefix="infernet-verify-") as scratch:
            settings = Path(scratch) / "config.json"
            settings.write_text(json.dumps(config), encoding="utf-8")
            out = await self._run(settings, shard, adapter)
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError) as exc:
            raise VerifierFailed(f"the verifier printed no verdict: {out[-_STDERR_TAIL:]}") from exc
        if "unfit" in answer:
            raise AdapterUnfit(str(answer["unfit"]))
        return Measured(float(answer["loss_before"]), float(answer["loss_after"]))

    async def _run(self, settings: Path, shard: Path, adapter: Path) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "infernet.train.verify",
            str(settings),
            str(shard),
            str(adapter),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TQDM_DISABLE": "1"},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.timeout_s)
        except TimeoutError as exc:
            raise VerifierFailed(f"the verifier ran past {self.timeout_s:g} s") from exc
        finally:
            if process.returncode is None:  # timed out, or the control plane is stopping
                process.kill()
                await process.wait()
        if process.returncode != 0:
            tail = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
            raise VerifierFailed(f"the verifier exited with {process.returncode}: {tail}")
        return out.decode(errors="replace")
