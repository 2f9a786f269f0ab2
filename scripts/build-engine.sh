#!/usr/bin/env bash
# Install the embedded llama.cpp engine (llama-cpp-python) into a virtualenv, built with the
# portable flags of requirements/engine-build.txt for this machine type.
#   bash scripts/build-engine.sh VENV LOCKFILE
# The wheel is built once per (pinned sdist, flags, Python, machine type) and kept under
# ${INFERNET_ENGINE_CACHE:-~/.cache/infernet/engine}/KEY. pip's own wheel cache is never
# used for it: pip keys that cache by the sdist alone, so a wheel built earlier with other
# flags (say -march=native on another CPU) would be picked up silently.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1
lock=$2
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

arch=$(uname -m)
flags=$(awk -v a="$arch" '$1 == a { $1 = ""; sub(/^ +/, ""); print }' requirements/engine-build.txt)
if [ -z "$flags" ]; then
  echo "No llama.cpp build flags for machine type '$arch' in requirements/engine-build.txt." >&2
  exit 1
fi
# The lock's stanza for llama-cpp-python: its pinned version and the sdist's hash.
req=$(awk '/^llama-cpp-python==/ { p = 1 } p { print } p && !/\\$/ { exit }' "$lock")
[ -n "$req" ] || { echo "llama-cpp-python is not pinned in $lock." >&2; exit 1; }
py=$("$venv/bin/python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
key=$(printf '%s\n' "$req" "$flags" "$py" "$arch" | sha256sum | cut -c1-16)
marker="$venv/.infernet-engine"
if [ "$(head -n1 "$marker" 2>/dev/null)" = "$key" ] \
    && "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  exit 0
fi

cache=${INFERNET_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infernet/engine}/$key
if ! compgen -G "$cache/llama_cpp_python-*.whl" >/dev/null; then
  say "Building llama.cpp (llama-cpp-python) for any $arch CPU. This compiles C++ once:"
  say "5-15 minutes on 2 cores (later installs reuse $cache)."
  say "Flags: $flags"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  printf '%s\n' "$req" > "$work/requirement.txt"
  # Not quiet: pip's "Building wheel ... still running" lines show the compile is alive.
  CMAKE_ARGS="$flags" "$venv/bin/python" -m pip --disable-pip-version-check wheel \
    --no-deps --no-build-isolation --no-cache-dir --require-hashes \
    --no-binary llama-cpp-python -r "$work/requirement.txt" -w "$work/wheel"
  mkdir -p "$cache"
  mv "$work"/wheel/llama_cpp_python-*.whl "$cache/"
fi
"$venv/bin/python" -m pip --disable-pip-version-check -q install --no-deps --force-reinstall \
  "$cache"/llama_cpp_python-*.whl
# Read by `infernet doctor` and the tests: which flags the installed engine was built with.
printf '%s\n%s\n' "$key" "$flags" > "$marker"
