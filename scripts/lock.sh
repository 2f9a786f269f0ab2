#!/usr/bin/env bash
# Regenerate the hash-pinned lock files from pyproject.toml and requirements/*.in.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${TMPDIR:-/tmp}/infernet-lock-tools
[ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q uv; }
compile() { "$tools/bin/uv" pip compile --quiet --generate-hashes --python-version 3.11 \
    --universal --no-header "$@"; }
compile requirements/pip.in -o requirements/pip.lock
compile requirements/build.in -o requirements/build.lock
compile requirements/model.in --no-deps -o requirements/model.lock
compile pyproject.toml --extra llamacpp -o requirements/runtime.lock
# dev also installs the train extra (so CI runs its tests) with torch's CPU build.
wheels=${TORCH_WHEELS:-/opt/wheels}
[ -d "$wheels" ] || { echo "no $wheels with torch's CPU wheel (requirements/torch-cpu.txt)" >&2; exit 1; }
compile pyproject.toml --extra llamacpp --extra evm --extra dev --extra train \
    --find-links "$wheels" --override requirements/torch-cpu.txt -o requirements/dev.lock
echo "locked: requirements/{pip,build,model,runtime,dev}.lock"
