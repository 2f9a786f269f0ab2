"""An `nvidia-smi` stand-in on PATH that replays the recorded output in
tests/fixtures/hardware, so the real detection code (subprocess and parsing) runs as it
would on a GPU machine. `working("rtx4090")` answers like a healthy RTX 4090; `broken()`
like a machine whose driver stopped loading (exit 9, the recorded message).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hardware"
SCRIPT = f"""#!/bin/sh
mode=$(cat "$(dirname "$0")/nvidia-smi.mode")
if [ "$mode" = broken ]; then cat "{FIXTURES}/nvidia-smi.driver-broken.txt"; exit 9; fi
case "$*" in
  *--query-gpu*) cat "{FIXTURES}/nvidia-smi-query.$mode.csv" ;;
  *) cat "{FIXTURES}/nvidia-smi.$mode.txt" ;;
esac
"""


class NvidiaSmi:
    def __init__(self, bin_dir: Path) -> None:
        bin_dir.mkdir(parents=True, exist_ok=True)
        self.mode_file = bin_dir / "nvidia-smi.mode"
        script = bin_dir / "nvidia-smi"
        script.write_text(SCRIPT)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        self.working()

    def working(self, card: str = "rtx4090") -> None:
        self.mode_file.write_text(card)

    def broken(self) -> None:
        self.mode_file.write_text("broken")


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NvidiaSmi:
    """This machine, for the rest of the test, has one RTX 4090 (switchable to a broken
    driver) seen through `nvidia-smi` only (no NVML)."""
    bin_dir = tmp_path / "fake-bin"
    smi = NvidiaSmi(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr("infernet.node.hardware.load_nvml", lambda: None)
    return smi
