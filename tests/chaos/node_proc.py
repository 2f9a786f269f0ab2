"""A real node daemon in a process of its own, on a scripted engine, for chaos tests
that kill or freeze it: `python -m tests.chaos.node_proc HOME URL TOKENS DELAY HEARTBEAT
[REGISTRATION_TOKEN]` (with a token, the node is that account's). It writes its node id to
HOME/node_id once registered and runs until SIGTERM/SIGKILL."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from infernet.localnet import LocalNode
from tests.support.scripted import ScriptedBackend


async def main(
    home: Path, url: str, tokens: list[str], delay: float, beat: float, owner_token: str | None
) -> None:
    backend = ScriptedBackend(["m:1b"], tokens=tokens, delay_s=delay)
    node = LocalNode(
        home, url, backend, served_models=["m:1b"], heartbeat_interval_s=beat, metrics_port=0
    )
    if owner_token is not None:
        await node.join(owner_token)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    node.start()
    while node.node_id is None:
        await asyncio.sleep(0.02)
    (home / "node_id").write_text(node.node_id)
    await stop.wait()
    await node.stop()


if __name__ == "__main__":
    home, url, tokens, delay, beat = sys.argv[1:6]
    owner_token = sys.argv[6] if len(sys.argv) > 6 else None
    asyncio.run(main(Path(home), url, tokens.split("|"), float(delay), float(beat), owner_token))
