#!/usr/bin/env bash
# Set up what Infernet needs (first run: a few minutes, llama.cpp compiles), then run a
# control plane + a node + llama.cpp serving SmolLM2 on this machine until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh runtime
exec .venv/bin/infernet up "$@"
