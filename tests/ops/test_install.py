"""install.sh, for real: a scratch prefix gets its own virtualenv with `infernet` from the
hash-pinned locks, a link on PATH and an install record; then `--help` and a bad option.

Slow-ish (a minute or two: it installs every runtime dependency into a fresh virtualenv).
It reuses pip's wheel cache and the engine wheel that `scripts/build-engine.sh` keeps
under ~/.cache/infernet/engine (built by `scripts/bootstrap.sh` with this same Python and
the same portable flags); without that wheel it would compile llama.cpp for 5-15 minutes,
so it is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"


ENGINE_CACHE = Path(
    os.environ.get("INFERNET_ENGINE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infernet" / "engine"
)


def _cached_engine_wheel() -> bool:
    """The wheel build-engine.sh made for this environment's key is in the engine cache."""
    marker = Path(sys.prefix) / ".infernet-engine"
    key = marker.read_text().split("\n", 1)[0] if marker.is_file() else ""
    return bool(key) and any((ENGINE_CACHE / key).glob("llama_cpp_python-*.whl"))


pytestmark = pytest.mark.skipif(
    not BASE_PYTHON.exists() or not _cached_engine_wheel(),
    reason=f"{ENGINE_CACHE} holds no llama-cpp-python wheel for this environment: installing "
    "would compile llama.cpp for 5-15 minutes (run scripts/bootstrap.sh first to build it)",
)


def run_installer(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": f"{BASE_PYTHON.parent}:/usr/bin:/bin",
        "INFERNET_PYTHON": str(BASE_PYTHON),
        "PIP_CACHE_DIR": subprocess.run(
            [sys.executable, "-m", "pip", "cache", "dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "PIP_NO_INPUT": "1",
        "INFERNET_ENGINE_CACHE": str(ENGINE_CACHE),
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(REPO / "install.sh"), *args],
        capture_output=True,
        text=True,
        env={**env, **{k: v for k, v in os.environ.items() if k.startswith("PIP_INDEX")}},
        timeout=900,
        check=False,
    )


def test_installs_into_its_own_prefix_and_links_infernet_onto_path(tmp_path: Path) -> None:
    prefix, bin_dir = tmp_path / "prefix", tmp_path / "bin"
    done = run_installer(
        tmp_path,
        "--prefix", str(prefix), "--bin-dir", str(bin_dir), "--no-setup", "--no-modify-path",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    link = bin_dir / "infernet"
    assert link.is_symlink() and link.resolve() == (prefix / "venv" / "bin" / "infernet").resolve()
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("infernet ")
    record = json.loads((prefix / "install.json").read_text())
    assert record == {
        "source": str(REPO),
        "prefix": str(prefix),
        "venv": str(prefix / "venv"),
        "link": str(link),
    }
    assert f"{bin_dir} is not on your PATH" in done.stderr
    assert not (tmp_path / "home" / ".config" / "infernet").exists()  # no config made


def test_an_unknown_option_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    done = run_installer(tmp_path, "--prefix", str(tmp_path / "p"), "--frobnicate")
    assert done.returncode == 1
    assert "unknown option --frobnicate" in done.stderr
    assert not (tmp_path / "p").exists()
