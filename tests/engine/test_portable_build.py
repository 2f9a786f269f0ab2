"""The installed llama.cpp engine runs on every CPU of this machine type, whatever CPU
built it (issue 14: a build with `GGML_NATIVE=ON` on a Sapphire Rapids VM used AMX, which
the hypervisor does not enable, and died with SIGSEGV at its first answer).

Checked on the binaries themselves, so it holds on any build machine: no AMX tile
instruction and no AVX-512 register anywhere in llama.cpp's libraries; llama.cpp's own
system info agrees; and the flags recorded for the build are this machine type's line of
requirements/engine-build.txt.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infernet.engine.build import parse_system_info, recorded_flags

llama_cpp = pytest.importorskip("llama_cpp", reason="the llama.cpp engine is not installed")

ROOT = Path(__file__).resolve().parents[2]
X86 = platform.machine() in ("x86_64", "AMD64")
# AMX: tile config/load/store/zero/release and the tile dot products (tdpbssd, tdpbf16ps...).
AMX = re.compile(r"\b(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilezero|tilerelease|tdp\w+)\b")
AVX512 = re.compile(r"%zmm\d+")  # any use of a 512-bit register


def libraries() -> list[Path]:
    """The libraries llama-cpp-python loads (by these names; the versioned files beside
    them are copies)."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    found = sorted(lib_dir.glob("lib*.so"))
    assert any(p.name.startswith("libggml-cpu") for p in found), f"no libggml-cpu in {lib_dir}"
    return found


def forbidden_instructions(library: Path) -> dict[str, int]:
    """Mnemonic (or `%zmm`) -> how often it occurs in the disassembly."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed; scripts/test.sh installs it")
    argv = [objdump, "-d", "--no-show-raw-insn", str(library)]
    listing = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    counts: dict[str, int] = {}
    for match in [*AMX.finditer(listing), *AVX512.finditer(listing)]:
        key = "%zmm" if match.group(0).startswith("%zmm") else match.group(0)
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.skipif(not X86, reason="AMX and AVX-512 exist only on x86-64")
@pytest.mark.parametrize("library", libraries(), ids=lambda p: p.name)
def test_no_library_holds_an_amx_or_avx512_instruction(library: Path) -> None:
    assert forbidden_instructions(library) == {}


def test_llama_cpp_reports_the_portable_instruction_sets() -> None:
    features = parse_system_info(llama_cpp.llama_print_system_info().decode())
    on = {name for name, enabled in features.items() if enabled}
    assert not {f for f in on if f.startswith(("AVX512", "AMX"))}, on
    if X86:
        assert {"AVX", "AVX2", "FMA", "F16C"} <= on, on


def chosen_flags(machine: str) -> str:
    """This machine type's line of requirements/engine-build.txt, as build-engine.sh reads it."""
    for line in (ROOT / "requirements" / "engine-build.txt").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == machine:
            return " ".join(fields[1:])
    raise AssertionError(f"requirements/engine-build.txt has no line for {machine}")


def test_the_engine_was_built_with_the_flags_the_project_chose() -> None:
    flags = recorded_flags(Path(sys.prefix))
    assert flags is not None, (
        f"{sys.prefix}/.infernet-engine is missing: the engine was not installed by "
        "scripts/build-engine.sh"
    )
    assert flags == chosen_flags(platform.machine())
    assert "-DGGML_NATIVE=OFF" in flags.split()
