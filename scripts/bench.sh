#!/usr/bin/env bash
# Run the benchmark suite: one table of side-by-side ratios (see docs/benchmarks.md).
#   bash scripts/bench.sh            # the documented full run (about 10-15 minutes on 2 cores)
#   bash scripts/bench.sh --quick    # everything at tiny sizes, well under a minute
# Extra arguments go to `python -m bench` (--only 1,3  --out DIR  --no-litellm).
# Sets up .venv (dev profile) and a separate .venv-bench holding LiteLLM's proxy, the peer
# it is compared with, both from hash-pinned lock files only.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/bootstrap.sh dev

venv=.venv-bench
stamp="$venv/.bench.stamp"
want=$(cat requirements/pip.lock requirements/bench.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -x "$venv/bin/python" ] || { say "Creating $venv for LiteLLM's proxy"; python3 -m venv "$venv"; }
  say "Installing LiteLLM's proxy from requirements/bench.lock (pinned, hashed)"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q install --require-hashes)
  "${pip[@]}" -r requirements/pip.lock
  "${pip[@]}" -r requirements/bench.lock
  echo "$want" > "$stamp"
fi

say "Running the benchmarks (results in bench-results/)"
exec .venv/bin/python -m bench "$@"
