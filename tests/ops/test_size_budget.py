"""The size budget CI enforces (scripts/size_budget.py): it names each offender."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "size_budget.py"


def budget(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False
    )


def test_a_long_function_and_a_long_module_are_named_and_fail_the_check(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "long_function.py").write_text(f"def too_long() -> None:\n{body}")
    (tmp_path / "long_module.py").write_text("x = 1\n" * 401)
    result = budget(tmp_path)
    assert result.returncode == 1
    assert "long_function.py:1 too_long (61 lines > 60)" in result.stdout
    assert "long_module.py: module (401 lines > 400)" in result.stdout


def test_code_within_budget_and_generated_migrations_pass(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(59))
    (tmp_path / "fine.py").write_text(f"def fits() -> None:\n{body}")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "generated.py").write_text("x = 1\n" * 900)
    result = budget(tmp_path)
    assert result.returncode == 0, result.stdout
