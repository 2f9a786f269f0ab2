#!/usr/bin/env bash
# Set up what the tests need, then run lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
# binutils: objdump, with which tests/engine/test_portable_build.py reads the engine's code.
bash scripts/system-deps.sh redis-server postgresql chromium chromium-driver binutils
echo "==> ruff (lint and format)" >&2
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "==> mypy --strict" >&2
.venv/bin/mypy
echo "==> size budget (module <= 400 lines, function <= 60)" >&2
.venv/bin/python scripts/size_budget.py src bench
echo "==> pytest" >&2
set +e
# --durations: the slowest tests, so a suite that creeps towards its time limit says where.
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
if [ "$status" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$status"
