#!/usr/bin/env bash
# Infernet installer for node operators: puts the `infernet` CLI in its own virtualenv and
# on your PATH, then runs `infernet setup`.
#
#   bash install.sh                      # from a checkout of this repository
#   curl -fsSL <url>/install.sh | INFERNET_SOURCE=https://github.com/<org>/infernet bash
#
# Options:
#   --prefix DIR      where the virtualenv goes (default ~/.local/share/infernet, or
#                     /opt/infernet as root)
#   --bin-dir DIR     where the `infernet` link goes (default ~/.local/bin, or
#                     /usr/local/bin as root)
#   --source DIR|URL  the Infernet source (default: the directory of this script;
#                     a git URL is cloned into PREFIX/src)
#   --no-setup        do not run `infernet setup` afterwards
#   --no-modify-path  do not add the bin dir to ~/.bashrc / ~/.zshrc
#
# Everything is installed from the repository's hash-pinned lock files
# (requirements/build.lock, then requirements/runtime.lock, with --require-hashes), then the
# package itself without dependencies. Re-running it upgrades in place (`infernet upgrade`
# does exactly that); config (~/.config/infernet) and keys (~/.infernet/keys) are never
# touched. Writes PREFIX/install.json so `infernet upgrade` and `infernet remove` know
# what was installed where.
set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  prefix=/opt/infernet; bin_dir=/usr/local/bin
else
  prefix="${XDG_DATA_HOME:-$HOME/.local/share}/infernet"; bin_dir="$HOME/.local/bin"
fi
source_arg="${INFERNET_SOURCE:-}"
run_setup=1
modify_path=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --source) source_arg="$2"; shift 2 ;;
    --no-setup) run_setup=0; shift ;;
    --no-modify-path) modify_path=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# --- platform -------------------------------------------------------------------------
os=$(uname -s); arch=$(uname -m)
case "$os" in
  Linux) platform=linux ;;
  Darwin) platform=darwin ;;
  *) die "Infernet runs on Linux and macOS (and Windows through WSL2); this is $os." ;;
esac
case "$arch" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) die "unsupported CPU architecture $arch (x86_64 and aarch64/arm64 are supported)." ;;
esac
say "Installing Infernet for $platform-$arch into $prefix"

python=${INFERNET_PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "python3 not found; install Python 3.11 or newer."
"$python" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' \
  || die "Infernet needs Python 3.11 or newer; $python is $("$python" -V 2>&1)."
"$python" -c 'import ensurepip, venv' 2>/dev/null \
  || die "Python's venv module is missing: install python3-venv (Debian/Ubuntu) and re-run."

# --- source ---------------------------------------------------------------------------
here=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" 2>/dev/null && pwd || true)
if [ -z "$source_arg" ] && [ -n "$here" ] && [ -f "$here/pyproject.toml" ]; then
  source_dir=$here
elif [ -n "$source_arg" ] && [ -d "$source_arg" ]; then
  source_dir=$(cd "$source_arg" && pwd)
elif [ -n "$source_arg" ]; then
  command -v git >/dev/null || die "git is needed to fetch $source_arg."
  source_dir="$prefix/src"
  if [ -d "$source_dir/.git" ]; then
    say "Updating $source_dir"; git -C "$source_dir" pull --ff-only -q
  else
    say "Fetching $source_arg"; git clone -q --depth 1 "$source_arg" "$source_dir"
  fi
else
  die "cannot find the Infernet source: run this script from a checkout, or set INFERNET_SOURCE / --source."
fi
for lock in build runtime; do
  [ -f "$source_dir/requirements/$lock.lock" ] || die "$source_dir/requirements/$lock.lock is missing."
done

# --- virtualenv and packages -----------------------------------------------------------
venv="$prefix/venv"
mkdir -p "$prefix"
[ -x "$venv/bin/python" ] || { say "Creating virtualenv $venv"; "$python" -m venv "$venv"; }
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
say "Installing build tools (pinned, hash-checked)"
"${pip[@]}" install --require-hashes -r "$source_dir/requirements/build.lock"
# llama.cpp with the portable flags of requirements/engine-build.txt (it says when it
# compiles, and keeps the wheel under ~/.cache/infernet/engine for later installs).
bash "$source_dir/scripts/build-engine.sh" "$venv" "$source_dir/requirements/runtime.lock"
say "Installing dependencies (pinned, hash-checked)"
"${pip[@]}" install --require-hashes --no-build-isolation -r "$source_dir/requirements/runtime.lock"
say "Installing infernet from $source_dir"
build_dir=$(mktemp -d)
trap 'rm -rf "$build_dir"' EXIT
cp -R "$source_dir/pyproject.toml" "$source_dir/src" "$build_dir/"
[ -f "$source_dir/README.md" ] && cp "$source_dir/README.md" "$build_dir/"
"${pip[@]}" install --no-deps --no-build-isolation --force-reinstall "$build_dir"

# --- on PATH --------------------------------------------------------------------------
mkdir -p "$bin_dir"
ln -sfn "$venv/bin/infernet" "$bin_dir/infernet"
cat > "$prefix/install.json" <<JSON
{"source": "$source_dir", "prefix": "$prefix", "venv": "$venv", "link": "$bin_dir/infernet"}
JSON
version=$("$bin_dir/infernet" --version 2>/dev/null | head -n1 || true)
say "Installed ${version:-infernet} at $bin_dir/infernet"

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *)
    line="export PATH=\"$bin_dir:\$PATH\"  # added by the Infernet installer"
    if [ "$modify_path" = 1 ]; then
      for rc in "$HOME/.bashrc" "$HOME/.zshrc"; do
        if [ -f "$rc" ] && ! grep -qF "$line" "$rc"; then echo "$line" >> "$rc"; fi
      done
      say "Added $bin_dir to PATH in your shell startup files; open a new shell or run: $line"
    else
      say "$bin_dir is not on your PATH; add it: $line"
    fi
    ;;
esac

if [ "$run_setup" = 1 ]; then
  say "Handing over to \`infernet setup\`"
  if [ ! -t 0 ] && [ -r /dev/tty ]; then
    exec "$bin_dir/infernet" setup </dev/tty  # piped from curl: ask on the terminal
  fi
  exec "$bin_dir/infernet" setup
fi
say "Done. Next: infernet setup"
