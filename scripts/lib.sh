# shellcheck shell=bash
# Sourced by the scripts beside it: the module root, the Go toolchain, and
# the cache of tools built from the pinned modules in scripts/tools.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"

# The toolchain is go.mod's toolchain line. A machine whose go.env says
# GOTOOLCHAIN=local ignores that line and would build with whatever Go it
# has, so every entry point exports it. The go command fetches that exact
# release through the module proxy, checked against the checksum database.
GOTOOLCHAIN=$(sed -n 's/^toolchain //p' "$ROOT/go.mod")
[ -n "$GOTOOLCHAIN" ] || { echo "go.mod has no toolchain line" >&2; exit 1; }
export GOTOOLCHAIN

# Where built tools, the vulnerability database and the like are kept
# between runs (CI runs on the same machine as the session before it).
CACHE=${ROTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rotor}

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

# tool_bin NAME PKG [MODDIR] builds PKG from the tools module MODDIR
# (default scripts/tools; each pins its versions in go.mod/go.sum) and
# prints the binary's path. The binary is kept under a key of the toolchain
# and the module's go.sum, so it is rebuilt only when a pin changes.
tool_bin() {
  local name=$1 pkg=$2 moddir=${3:-$ROOT/scripts/tools}
  local key
  key=$(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-16)
  local bin="$CACHE/tools/$GOTOOLCHAIN-$key/$name"
  if [ ! -x "$bin" ]; then
    log "building $name ($pkg) into $bin"
    mkdir -p "$(dirname "$bin")"
    (cd "$moddir" && go build -trimpath -o "$bin.tmp" "$pkg") && mv "$bin.tmp" "$bin"
  fi
  printf '%s\n' "$bin"
}
