"""Real processes for the chaos tests, all on loopback: control-plane replicas
(`infernet cp serve`) and node daemons (tests/chaos/node_proc.py), each killable,
freezable (SIGSTOP) and always reaped at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infernet.backends.engine_process import free_port

REPO = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv, self.log = argv, log
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(self.argv, stdout=out, stderr=out, cwd=REPO)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def freeze(self) -> None:
        os.kill(self.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.popen.pid, signal.SIGCONT)

    def close(self) -> None:
        if self.popen.poll() is None:
            self.thaw()
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class ControlPlane(Proc):
    def __init__(self, home: Path, db: str, *extra: str, heartbeat: float = 0.5) -> None:
        self.port = free_port()  # kept across restarts: nodes and clients know this URL
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [str(Path(sys.executable).parent / "infernet"), "cp", "serve"]
        argv += ["--port", str(self.port), "--db", db, "--heartbeat-interval", str(heartbeat)]
        argv += ["--platform-key", str(home / "platform.key"), "--open-deposits", *extra]
        super().__init__(argv, home / f"cp-{self.port}.log")
        self.wait_up()

    def restart(self) -> None:
        """Start it again, same port, database and flags (after `kill`)."""
        assert self.popen.poll() is not None, "restart a control plane that is down"
        self.popen = self._spawn()
        self.wait_up()

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"control plane exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("control plane did not start")


class NodeProcess(Proc):
    def __init__(
        self,
        home: Path,
        url: str,
        tokens: list[str],
        delay: float = 0.05,
        beat: float = 0.5,
        owner: str | None = None,
    ) -> None:
        """`owner`: an API key whose account the node joins (else no one owns it)."""
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        argv = [sys.executable, "-m", "tests.chaos.node_proc", str(home), url]
        argv += ["|".join(tokens), str(delay), str(beat)]
        if owner is not None:
            argv.append(registration_token(url, owner))
        super().__init__(argv, home / "node.log")

    def node_id(self, timeout: float = 30) -> str:
        path, deadline = self.home / "node_id", time.monotonic() + timeout
        while not path.exists():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not register: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return path.read_text()


def client_key(url: str, credit: str | None = "20.00") -> str:
    """A new account (open sign-up), with a ledger-only deposit of `credit` (None: no
    deposit, for a control plane without payments); its API key."""
    signup = httpx.post(f"{url}/api/v1/accounts", json={"name": "chaos"}, timeout=10)
    assert signup.status_code == 201, signup.text
    key: str = signup.json()["api_key"]["key"]
    if credit is None:
        return key
    deposit = httpx.post(
        f"{url}/api/v1/billing/deposits",
        json={"amount": credit},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert deposit.status_code == 201, deposit.text
    return key


def registration_token(url: str, key: str) -> str:
    """A one-time token that makes a node the account of API key `key`."""
    reply = httpx.post(
        f"{url}/api/v1/nodes/registration-tokens",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    token: str = reply.json()["token"]
    return token
