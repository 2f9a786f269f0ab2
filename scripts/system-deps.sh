#!/usr/bin/env bash
# System packages the test suite drives for real (none are needed to run Infernet).
# Installed only when missing, and only where apt-get and root are available.
set -euo pipefail
packages=()
for entry in "$@"; do packages+=("$entry"); done
[ ${#packages[@]} -gt 0 ] || exit 0
missing=()
for pkg in "${packages[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> Installing system packages for the tests: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "warning: missing ${missing[*]}; tests that need them will be skipped" >&2
fi
