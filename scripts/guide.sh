#!/usr/bin/env bash
# Builds the user guide (guide/, mdBook): `scripts/guide.sh build [DIR]` (the default; into
# guide/book/ unless DIR is given) or `scripts/guide.sh serve` (a local preview). mdBook is the pinned version below: an `mdbook`
# on PATH of that version is used as is, else it is installed once with
# `cargo install --locked` into ${ARCHSMOKE_TOOLS_DIR:-$HOME/.cache/archsmoke-tools} and reused
# (a few minutes the first time on a 2-core machine, nothing after).
set -euo pipefail

MDBOOK_VERSION=0.5.4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${ARCHSMOKE_TOOLS_DIR:-$HOME/.cache/archsmoke-tools}

log() { printf '[guide] %s\n' "$*" >&2; }

mdbook_bin() {
  local candidate
  for candidate in "$tools/bin/mdbook" "$(command -v mdbook 2>/dev/null || true)"; do
    [[ -n $candidate && -x $candidate ]] || continue
    if [[ $("$candidate" --version 2>/dev/null) == "mdbook v$MDBOOK_VERSION" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  log "installing mdbook $MDBOOK_VERSION into $tools (cargo install --locked; once)"
  cargo install --quiet --locked --version "$MDBOOK_VERSION" --root "$tools" mdbook >&2 || {
    log "cargo install mdbook $MDBOOK_VERSION failed (see above)"
    return 1
  }
  echo "$tools/bin/mdbook"
}

mdbook=$(mdbook_bin) || exit 1
case ${1:-build} in
  build) "$mdbook" build "$root/guide" ${2:+--dest-dir "$(realpath "$2")"} ;;
  serve) exec "$mdbook" serve "$root/guide" ;;
  *)
    log "usage: $0 [build|serve]"
    exit 2
    ;;
esac
