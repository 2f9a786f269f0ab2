"""How the installed llama.cpp engine (llama-cpp-python) was built, and whether that build
runs on every CPU of this machine type.

`scripts/build-engine.sh` builds it with the flags of `requirements/engine-build.txt` and
records them in `<virtualenv>/.infernet-engine` (first line: the build's cache key, second:
the CMake flags). llama.cpp's own system info says which instruction sets its CPU backend
was compiled to use. The build is portable when it was made with `GGML_NATIVE=OFF` and
uses neither AVX-512 nor AMX: many cloud VMs advertise those but do not enable them for
processes, and an engine that uses them dies with SIGSEGV or SIGILL at its first answer.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from infernet.backends.engine_process import exit_reason
from infernet.backends.errors import BackendError

MARKER_NAME = ".infernet-engine"
# Instruction sets that a build for "any CPU of this type" must not use (x86-64).
NON_PORTABLE = ("AVX512", "AMX")
REBUILD_HINT = (
    "Rebuild it with the project's portable flags: `bash scripts/build-engine.sh .venv "
    "requirements/runtime.lock` (from the repository)."
)


def installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def recorded_flags(prefix: Path | None = None) -> str | None:
    """The CMake flags scripts/build-engine.sh recorded for this environment, if any."""
    marker = (prefix or Path(sys.prefix)) / MARKER_NAME
    try:
        lines = marker.read_text().splitlines()
    except OSError:
        return None
    return lines[1].strip() if len(lines) > 1 else None


def parse_system_info(text: str) -> dict[str, bool]:
    """`CPU : SSE3 = 1 | AVX2 = 1 | ...` (llama_print_system_info) as {"AVX2": True, ...}."""
    features: dict[str, bool] = {}
    for part in text.replace("\n", "|").split("|"):
        name, sep, value = part.rpartition("=")
        if sep:
            features[name.split(":")[-1].strip()] = value.strip() == "1"
    return features


@dataclass(frozen=True, slots=True)
class EngineBuild:
    flags: str | None  # None: not built by scripts/build-engine.sh
    features: dict[str, bool]

    @property
    def native_features(self) -> list[str]:
        """Instruction sets in use that some CPUs of this type lack or do not enable."""
        return [f for f, on in self.features.items() if on and f.startswith(NON_PORTABLE)]

    @property
    def portable(self) -> bool:
        native_off = self.flags is not None and "-DGGML_NATIVE=OFF" in self.flags.split()
        return native_off and not self.native_features

    def describe(self) -> str:
        used = ", ".join(f for f, on in self.features.items() if on) or "none reported"
        if self.portable:
            return f"portable (GGML_NATIVE=OFF; features: {used})"
        if self.native_features:
            why = f"uses {', '.join(self.native_features)}"
        elif self.flags is None:
            why = "not built by scripts/build-engine.sh, so its flags are unknown"
        else:
            why = "built without GGML_NATIVE=OFF"
        return f"not portable: {why} (features: {used})"


async def probe_build() -> EngineBuild:
    """Ask the installed llama.cpp, in a child process (a broken build must not take the
    caller down), which instruction sets it uses."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infernet.engine",
        "--system-info",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode("utf-8", "replace").strip()
    if process.returncode:
        raise BackendError(
            f"llama.cpp could not be loaded: it {exit_reason(process.returncode)}: {text}"
        )
    return EngineBuild(recorded_flags(), parse_system_info(text))
