"""The benchmark suite runs end to end at tiny sizes and prints every row.

No timing is asserted here (speed belongs to the benchmark's own table); this only checks
that each benchmark still runs against the current code and reports a row, so the suite
cannot rot. LiteLLM's proxy takes part when scripts/bench.sh has installed .venv-bench;
otherwise its column must say it was skipped and how to get it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bench import dbservers
from tests.support.proctree import run_bounded

ROOT = Path(__file__).resolve().parents[2]
ROWS = {"1a", "1b", "2a", "2b", "3a", "3b", "4a", "4b", "5a", "5b", "6a", "6b", "6c", "7"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("bench")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # A run that overruns is stopped with its control plane, nodes and engines.
    done = run_bounded(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)], 240, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, json.loads((out / "results.json").read_text())


def test_quick_mode_reports_every_row_in_the_table_and_the_json(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    stdout, results = quick_run
    rows = results["rows"]
    assert isinstance(rows, list)
    assert {r["id"] for r in rows} == ROWS
    for row_id in ROWS:
        assert f"│ {row_id} " in stdout


def test_no_row_fails_and_the_replica_rows_run_or_say_what_is_missing(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    rows = {r["id"]: r for r in quick_run[1]["rows"]}  # type: ignore[attr-defined]
    assert not [r for r in rows.values() if r["note"].startswith("failed")]
    missing = dbservers.missing()
    for row_id, replicas in (("6b", 2), ("6c", 1)):
        if missing:
            assert rows[row_id]["verdict"] == "not run"
            assert rows[row_id]["note"] == missing
        else:
            assert rows[row_id]["data"]["replicas"] == replicas
            assert rows[row_id]["data"]["jobs"] > 0
    if not missing:  # what the second replica adds, beside one on each store
        assert "of one replica on the same store (6c)" in rows["6b"]["ratio"]
        assert "of one on SQLite (6a)" in rows["6b"]["ratio"]


def test_the_litellm_column_is_measured_or_says_how_to_install_it(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    rows = {r["id"]: r for r in quick_run[1]["rows"]}  # type: ignore[attr-defined]
    installed = (ROOT / ".venv-bench" / "bin" / "litellm").is_file()
    for row_id in ("2a", "2b"):
        peer = rows[row_id]["peer"]
        if installed:
            assert peer.startswith("+")
        else:
            assert peer == "skipped: LiteLLM not installed (run scripts/bench.sh)"


def test_results_record_the_machine_they_ran_on(
    quick_run: tuple[str, dict[str, object]],
) -> None:
    meta = quick_run[1]["meta"]
    assert isinstance(meta, dict)
    assert meta["mode"] == "quick"
    assert int(meta["nproc"]) >= 1 and meta["cpu"]
