#!/usr/bin/env bash
# Installs archsmoke for the GitHub Action (action.yml) and anyone else who wants a release
# binary: downloads archsmoke-linux-<arch> and SHA256SUMS from a release, verifies the
# checksum, and installs the binary into ARCHSMOKE_BIN_DIR; or builds it with cargo from the
# action's own sources when asked, or (mode auto) when no release has a binary for this runner.
# A checksum mismatch always fails: it is never "repaired" by building instead.
#
# Environment (all optional):
#   ARCHSMOKE_VERSION     release to install: "latest" (default) or a version ("0.2.0", "v0.2.0")
#   ARCHSMOKE_INSTALL     auto (default) | release | cargo
#   ARCHSMOKE_REPOSITORY  owner/name of the GitHub repository with the releases
#   ARCHSMOKE_BASE_URL    where the release files are instead (https://, http://, file://);
#                         a mirror, or a local directory in tests
#   ARCHSMOKE_SOURCE_DIR  sources for the cargo build (default: this script's repository)
#   ARCHSMOKE_BIN_DIR     install directory (default: $RUNNER_TEMP/archsmoke/bin)
#   RUNNER_ARCH, RUNNER_OS  set by GitHub Actions (X64 / ARM64, Linux); else uname decides
# Writes `path=<binary>` to $GITHUB_OUTPUT and the directory to $GITHUB_PATH when they are set.
set -euo pipefail

VERSION=${ARCHSMOKE_VERSION:-latest}
VERSION=${VERSION#v}
MODE=${ARCHSMOKE_INSTALL:-auto}
REPOSITORY=${ARCHSMOKE_REPOSITORY:-}
BASE_URL=${ARCHSMOKE_BASE_URL:-}
SOURCE_DIR=${ARCHSMOKE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${ARCHSMOKE_BIN_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/archsmoke/bin}

log() { printf 'archsmoke-install: %s\n' "$*" >&2; }
die() {
  # An annotation on GitHub, a plain line elsewhere.
  if [[ -n ${GITHUB_ACTIONS:-} ]]; then echo "::error title=archsmoke install::$*"; fi
  printf 'archsmoke-install: error: %s\n' "$*" >&2
  exit 1
}

case $MODE in auto | release | cargo) ;; *) die "ARCHSMOKE_INSTALL=$MODE: use auto, release or cargo" ;; esac

os=${RUNNER_OS:-$(uname -s)}
[[ ${os,,} == linux ]] || die "archsmoke runs on Linux runners only (this runner: $os)"
case ${RUNNER_ARCH:-$(uname -m)} in
  X64 | x86_64 | amd64) ARCH=amd64 ;;
  ARM64 | aarch64 | arm64) ARCH=arm64 ;;
  *) ARCH= ;;
esac
ASSET=archsmoke-linux-$ARCH
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

release_url() {
  if [[ -n $BASE_URL ]]; then
    echo "${BASE_URL%/}"
  elif [[ -z $REPOSITORY ]]; then
    return 1
  elif [[ $VERSION == latest ]]; then
    echo "https://github.com/$REPOSITORY/releases/latest/download"
  else
    echo "https://github.com/$REPOSITORY/releases/download/v$VERSION"
  fi
}

fetch() { # url file: 0 fetched, 1 not there (404, missing file), dies on other failures
  local url=$1 file=$2 status
  status=$(curl -sSL --retry 3 --retry-connrefused -o "$file" -w '%{http_code}' "$url" 2>"$file.err") || {
    # curl exits 37 when a file:// path cannot be read.
    grep -q "Couldn't open file\|couldn't open file" "$file.err" && return 1
    die "downloading $url failed: $(cat "$file.err")"
  }
  case $status in
    2?? | 000) return 0 ;; # 000: file:// has no HTTP status
    404) return 1 ;;
    *) die "downloading $url: HTTP $status" ;;
  esac
}

# Downloads and verifies; 0 installed, 1 no release binary for this runner.
install_release() {
  [[ -n $ARCH ]] || { log "no release binary for architecture ${RUNNER_ARCH:-$(uname -m)}"; return 1; }
  local base tmp=$TMP expected actual
  base=$(release_url) || { log "no release location: set the repository or a base URL"; return 1; }
  log "downloading $base/$ASSET"
  fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" || { log "no SHA256SUMS at $base"; return 1; }
  fetch "$base/$ASSET" "$tmp/$ASSET" || { log "no $ASSET at $base"; return 1; }
  expected=$(awk -v f="$ASSET" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || die "SHA256SUMS at $base has no checksum for $ASSET"
  actual=$(sha256sum "$tmp/$ASSET" | cut -d' ' -f1)
  [[ $actual == "$expected" ]] ||
    die "checksum mismatch for $ASSET from $base: SHA256SUMS says $expected, the download is $actual; not installing it"
  mkdir -p "$BIN_DIR"
  install -m 0755 "$tmp/$ASSET" "$BIN_DIR/archsmoke"
  log "installed $ASSET (sha256 $actual) as $BIN_DIR/archsmoke"
}

install_cargo() {
  command -v cargo >/dev/null || die "cargo is not installed; add a Rust toolchain step (e.g. dtolnay/rust-toolchain) or use a release"
  [[ -f $SOURCE_DIR/Cargo.toml ]] || die "no Cargo.toml in $SOURCE_DIR to build from"
  log "cargo install --locked --path $SOURCE_DIR"
  cargo install --locked --quiet --force --root "$(dirname "$BIN_DIR")/cargo" --path "$SOURCE_DIR" --bin archsmoke >&2 ||
    die "cargo install failed"
  mkdir -p "$BIN_DIR"
  install -m 0755 "$(dirname "$BIN_DIR")/cargo/bin/archsmoke" "$BIN_DIR/archsmoke"
}

case $MODE in
  release) install_release || die "no release binary $ASSET for version $VERSION ($(release_url || echo 'no repository or base URL'))" ;;
  cargo) install_cargo ;;
  auto) install_release || { log "building with cargo instead"; install_cargo; } ;;
esac

installed=$("$BIN_DIR/archsmoke" --version) || die "$BIN_DIR/archsmoke does not run on this runner"
if [[ $VERSION != latest && $MODE != cargo && $installed != "archsmoke $VERSION "* && $installed != "archsmoke $VERSION" ]]; then
  die "asked for $VERSION, the release binary says: $installed"
fi
log "$installed"
if [[ -n ${GITHUB_PATH:-} ]]; then echo "$BIN_DIR" >>"$GITHUB_PATH"; fi
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "path=$BIN_DIR/archsmoke" >>"$GITHUB_OUTPUT"; fi
echo "$BIN_DIR/archsmoke"
