"""A node that dies or freezes, as real processes on loopback (a control plane from
`infernet cp serve`, node daemons from tests/chaos/node_proc.py):

- killed (SIGKILL) mid-stream: the client's stream completes through another node, one
  receipt per node share that reported usage, billed once;
- frozen (SIGSTOP: its socket stays open, no FIN, nothing more is sent): marked offline
  within the heartbeat window (3 beats), and online again when it thaws.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos.processes import ControlPlane, NodeProcess, client_key

BEAT = 0.5
WINDOW = 3 * BEAT  # offline after three missed beats
FIRST = [f" a{i}" for i in range(12)]
REST = [" b1", " b2", " b3"]


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    server = ControlPlane(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cp.db'}", "--payments")
    try:
        yield server
    finally:
        server.close()


def status(cp: ControlPlane, node_id: str) -> str:
    answer: str = httpx.get(f"{cp.url}/api/v1/nodes/{node_id}/status", timeout=5).json()["status"]
    return answer


def wait_status(cp: ControlPlane, node_id: str, wanted: set[str], limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if status(cp, node_id) in wanted:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{node_id} not {wanted} after {limit:.1f} s: {status(cp, node_id)}")


def test_a_frozen_node_is_offline_within_the_heartbeat_window(
    cp: ControlPlane, tmp_path: Path
) -> None:
    node = NodeProcess(tmp_path / "n0", cp.url, ["x"], beat=BEAT)
    try:
        node_id = node.node_id()
        wait_status(cp, node_id, {"online", "degraded"}, 20)
        node.freeze()  # the socket stays open: no FIN, no RST, just silence
        frozen_at = time.monotonic()
        # Detected no later than one beat after the window (the beat in flight may land).
        detected = wait_status(cp, node_id, {"offline"}, WINDOW + 2 * BEAT)
        print(
            f"frozen node offline after {time.monotonic() - frozen_at:.2f} s "
            f"(window {WINDOW:.1f} s)"
        )
        assert detected <= WINDOW + 2 * BEAT
        node.thaw()
        wait_status(cp, node_id, {"online", "degraded"}, 10)
    finally:
        node.close()


def test_a_node_killed_mid_stream_is_finished_by_another_and_billed_once(
    cp: ControlPlane, tmp_path: Path
) -> None:
    key = client_key(cp.url)
    auth = {"Authorization": f"Bearer {key}"}
    first = NodeProcess(tmp_path / "n0", cp.url, FIRST, delay=0.4, beat=BEAT)
    second: NodeProcess | None = None
    texts: list[str] = []
    try:
        first.node_id()
        wait_status(cp, first.node_id(), {"online", "degraded"}, 20)
        body = {
            "model": "m:1b",
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
            "max_tokens": 100,
        }
        with httpx.stream(
            "POST", f"{cp.url}/api/v1/jobs", json=body, headers=auth, timeout=60
        ) as resp:
            done = False
            for line in resp.iter_lines():
                if line.startswith('data: {"text"'):
                    texts.append(json.loads(line[6:])["text"])
                    if len(texts) == 2 and second is None:
                        first.freeze()  # so it cannot finish while the second one starts
                        second = NodeProcess(tmp_path / "n1", cp.url, REST, beat=BEAT)
                        wait_status(cp, second.node_id(), {"online", "degraded"}, 20)
                        first.kill()
                elif line == "data: [DONE]":
                    done = True
        assert done, "the stream completed"
        assert second is not None
        job_id = httpx.get(f"{cp.url}/api/v1/jobs", headers=auth).json()["jobs"][0]["id"]
        job = wait_receipts(cp, auth, job_id)
        ledger = httpx.get(f"{cp.url}/api/v1/ledger", headers=auth).json()
    finally:
        first.close()
        if second is not None:
            second.close()
    prefix = texts[: len(texts) - len(REST)]
    assert prefix == FIRST[: len(prefix)] and texts[len(prefix) :] == REST
    assert job["status"] == "completed" and job["node_id"] == second.node_id()
    # The killed node never reported usage or signed: its share is billed by stream count
    # and carries no receipt; the node that finished signs one.
    assert len(job["receipt_ids"]) == 1  # type: ignore[arg-type]
    entries = [e for e in ledger["entries"] if e["job_id"] == job_id]
    settles = {e["transaction_id"] for e in entries if e["kind"] == "settle"}
    holds = {e["transaction_id"] for e in entries if e["kind"] == "hold"}
    assert len(settles) == 1 and len(holds) == 1, "held once, billed once"
    assert {e["usage_source"] for e in entries if e["kind"] == "settle"} == {"backend+stream_count"}


def wait_receipts(cp: ControlPlane, auth: dict[str, str], job_id: str) -> dict[str, object]:
    for _ in range(200):
        job: dict[str, object] = httpx.get(f"{cp.url}/api/v1/jobs/{job_id}", headers=auth).json()
        if job["status"] == "completed" and job["receipt_ids"]:
            return job
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {job_id}")
