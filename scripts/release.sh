#!/usr/bin/env bash
# Builds archsmoke's release artifacts into one directory (default dist/):
#
#   archsmoke-linux-amd64, archsmoke-linux-arm64   static binaries (musl, no glibc, no PT_INTERP)
#   archsmoke-image.tar, archsmoke-image-layout/   archsmoke's own image for both platforms,
#                                                  from scratch (OCI archive and OCI layout)
#   completions/, man/                             shell completions and man pages
#   SHA256SUMS                                     checksums of the binaries and the archive
#
# Usage: scripts/release.sh [--profile PROFILE] [--out DIR] [--source URL]
#        scripts/release.sh --profile PROFILE --testbed-tls-server DIR
#        scripts/release.sh --darwin [--profile PROFILE] [--out DIR]     (on macOS)
#        scripts/release.sh --check-darwin                               (on Linux)
#
# --darwin builds archsmoke-darwin-arm64 and archsmoke-darwin-amd64 and SHA256SUMS-darwin instead,
# on a Mac with Xcode's command line tools (`xcode-select --install`: its clang compiles the C
# of aws-lc and libzstd for both targets, and links). The Linux image is not built there.
# --check-darwin type-checks archsmoke and every Rust dependency for both macOS targets on this
# Linux machine (`cargo check --all-targets`): no macOS SDK exists here, so a stand-in C
# compiler writes empty objects for the C crates (aws-lc-sys, zstd-sys) and nothing is linked.
# It proves that the Rust code compiles for macOS (the Linux-only parts are gated), not that
# the binary links or runs there: the macOS job of .github/workflows/release.yml does that.
#
# --profile picks the cargo profile (default dist: release plus thin LTO, for published binaries;
# tests/run uses the lighter dist-test).
# --testbed-tls-server builds only the test bed's HTTPS fixture server (feature `testbed`) for
# both targets into DIR as testbed-tls-server-linux-{amd64,arm64}, with the same toolchains
# (the same C compiler settings keep cargo from rebuilding what the release build compiled).
# It installs what it needs when it is missing, so it runs on a fresh Debian machine: the rustup
# targets x86_64-unknown-linux-musl and aarch64-unknown-linux-musl, and Debian's musl-tools and
# the cross gcc of the other architecture (the zstd crate compiles libzstd from C, so each
# target needs a C compiler; the cross gcc also links). Idempotent: a second run with nothing
# changed rebuilds nothing (cargo's own freshness, and a stamp for the image).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=dist
OUT=$ROOT/dist
SOURCE=${ARCHSMOKE_SOURCE:-}
TESTBED_TLS=
DARWIN=
ARCHES=(amd64 arm64)

while (($#)); do
  case $1 in
    --profile) PROFILE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --source) SOURCE=$2; shift 2 ;;
    --testbed-tls-server) TESTBED_TLS=$2; shift 2 ;;
    --darwin) DARWIN=build; shift ;;
    --check-darwin) DARWIN=check; shift ;;
    -h | --help) sed -n '2,36s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

START=$SECONDS
log() { printf '[release %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() {
  printf '[release] ERROR: %s\n' "$*" >&2
  exit 1
}

triple() { # amd64|arm64
  case $1 in amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; esac
}

gnu_arch() { # amd64|arm64 -> the machine name of `uname -m` and of Debian's cross compilers
  case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac
}

HOST_MACHINE=$(uname -m)

# The C compiler (cc-rs's CC_<target>; C code: libzstd, aws-lc) and the linker of a target:
# musl-gcc for this machine's own architecture; for the other, Debian's cross gcc pointed at
# that architecture's musl headers by musl-dev's gcc specs file (musl-dev:<arch>, multiarch).
# Rust brings musl's libc.a and crt objects itself; the cross gcc links.
c_compiler() {
  local machine
  machine=$(gnu_arch "$1")
  if [[ $machine == "$HOST_MACHINE" ]]; then echo musl-gcc; else echo "$machine-linux-gnu-gcc"; fi
}

musl_specs() { # amd64|arm64 -> musl-dev's specs file for that architecture
  echo "/usr/lib/$(gnu_arch "$1")-linux-musl/musl-gcc.specs"
}

# The Debian packages a target's C toolchain needs, as "package" or "package:arch".
packages_for() { # amd64|arm64
  case $(c_compiler "$1") in
    musl-gcc) echo musl-tools ;;
    x86_64-linux-gnu-gcc) echo gcc-x86-64-linux-gnu musl-dev:amd64 ;;
    aarch64-linux-gnu-gcc) echo gcc-aarch64-linux-gnu musl-dev:arm64 ;;
  esac
}

ensure_rust_targets() {
  command -v rustup >/dev/null || die "rustup is not installed; the musl targets come from rustup (https://rustup.rs)"
  local installed missing=() arch t
  installed=$(rustup target list --installed)
  for arch in "${ARCHES[@]}"; do
    t=$(triple "$arch")
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  if ((${#missing[@]})); then
    log "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}" >&2 || die "rustup target add ${missing[*]} failed"
  fi
}

ensure_compilers() {
  local missing=() arch pkg
  for arch in "${ARCHES[@]}"; do
    for pkg in $(packages_for "$arch"); do
      [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || missing+=("$pkg")
    done
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null ||
    die "missing C toolchains for the musl targets; install ${missing[*]} (Debian package names)"
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  for pkg in "${missing[@]}"; do
    if [[ $pkg == *:* ]] && ! dpkg --print-foreign-architectures | grep -qx "${pkg#*:}"; then
      log "apt: dpkg --add-architecture ${pkg#*:}"
      dpkg --add-architecture "${pkg#*:}"
    fi
  done
  log "apt: installing ${missing[*]}"
  apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null 2>&1 || log "apt-get update failed; trying the indexes apt has"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

profile_dir() {
  case $PROFILE in release) echo release ;; dev | test) echo debug ;; *) echo "$PROFILE" ;; esac
}

# Both targets in one cargo invocation: build scripts and proc macros compile once, and the
# two targets' crates share the jobserver.
build_binaries() { # BIN [cargo flags...]: builds BIN for both targets into $OUT/BIN-linux-ARCH
  local bin=$1 arch t cc upper started=$SECONDS targets=()
  shift
  (
    cd "$ROOT"
    for arch in "${ARCHES[@]}"; do
      t=$(triple "$arch")
      cc=$(c_compiler "$arch")
      upper=$(tr 'a-z-' 'A-Z_' <<<"$t")
      export "CC_${t//-/_}=$cc"
      if [[ $cc != musl-gcc ]]; then
        export "CFLAGS_${t//-/_}=-specs=$(musl_specs "$arch")"
        export "CARGO_TARGET_${upper}_LINKER=$cc"
      fi
      targets+=(--target "$t")
    done
    log "cargo build --locked --profile $PROFILE ${targets[*]} --bin $bin $*"
    cargo build --locked --quiet --profile "$PROFILE" "${targets[@]}" --bin "$bin" "$@"
  ) || die "cargo build failed"
  for arch in "${ARCHES[@]}"; do
    t=$(triple "$arch")
    local built=${CARGO_TARGET_DIR:-$ROOT/target}/$t/$(profile_dir)/$bin
    [[ -x $built ]] || die "cargo left no $built"
    # Copy only when the bytes changed, so the file's mtime says when it last really changed.
    cmp -s "$built" "$OUT/$bin-linux-$arch" || cp "$built" "$OUT/$bin-linux-$arch"
    log "linux/$arch: $OUT/$bin-linux-$arch ($(stat -c %s "$OUT/$bin-linux-$arch") bytes)"
  done
  log "binaries built in $((SECONDS - started))s"
}

# What the image's labels say: the version from Cargo.toml, the commit, the commit's time (so
# the image is reproducible), and where the sources live.
image_facts() {
  VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)
  [[ -n $VERSION ]] || die "no version in $ROOT/Cargo.toml"
  REVISION=${ARCHSMOKE_GIT_COMMIT:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}
  if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
    CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  else
    CREATED=$(TZ=UTC git -C "$ROOT" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
      date -u +%Y-%m-%dT%H:%M:%SZ)
  fi
  if [[ -z $SOURCE ]]; then
    if [[ -n ${GITHUB_REPOSITORY:-} ]]; then
      SOURCE=${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY
    else
      SOURCE=$(git -C "$ROOT" remote get-url origin 2>/dev/null |
        sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$##') || true
      # A remote that is a local path (a CI clone of a checkout) becomes a file:// URL; a
      # checkout without a remote names itself. The label is a URL either way.
      case $SOURCE in
        https://* | http://* | file://*) ;;
        /*) SOURCE=file://$SOURCE ;;
        *) SOURCE=file://$ROOT ;;
      esac
    fi
  fi
}

build_image() {
  local ca=/etc/ssl/certs/ca-certificates.crt ca_args=() stamp
  if [[ -f $ca ]]; then
    ca_args=(--ca-bundle "$ca")
  else
    log "no $ca on this machine: the image will have no CA bundle (mount one for TLS registries)"
  fi
  stamp=$({
    sha256sum "$OUT"/archsmoke-linux-amd64 "$OUT"/archsmoke-linux-arm64 | cut -d' ' -f1
    [[ -f $ca ]] && sha256sum "$ca" | cut -d' ' -f1
    (cd "$ROOT" && sha256sum scripts/release_image.rs tests/testbed/image.rs tests/testbed/publish.rs tests/testbed/tarball.rs)
    echo "$VERSION $REVISION $CREATED $SOURCE"
  } | sha256sum | cut -d' ' -f1)
  if [[ $(cat "$OUT/.image.stamp" 2>/dev/null) == "$stamp" && -f $OUT/archsmoke-image.tar &&
    -f $OUT/archsmoke-image-layout/index.json ]]; then
    log "image: up to date ($OUT/archsmoke-image.tar)"
    return 0
  fi
  rm -f "$OUT/.image.stamp"
  log "image: cargo run --example release-image (version $VERSION, revision $REVISION)"
  (cd "$ROOT" && cargo run --locked --quiet --example release-image -- \
    --amd64 "$OUT/archsmoke-linux-amd64" --arm64 "$OUT/archsmoke-linux-arm64" \
    --version "$VERSION" --revision "$REVISION" --source "$SOURCE" --created "$CREATED" \
    "${ca_args[@]}" --out "$OUT" >"$OUT/archsmoke-image.digest") || die "release-image failed"
  echo "$stamp" >"$OUT/.image.stamp"
}

# Completions and man pages, from the binary of this machine's architecture (it is static, so
# it runs here whatever the libc).
build_docs() {
  local arch bin
  for arch in "${ARCHES[@]}"; do
    if [[ $(gnu_arch "$arch") == "$HOST_MACHINE" ]]; then bin=$OUT/archsmoke-linux-$arch; fi
  done
  if [[ -z ${bin:-} ]]; then
    log "docs: no binary for this machine ($HOST_MACHINE); completions and man pages skipped"
    return 0
  fi
  mkdir -p "$OUT/completions" "$OUT/man"
  "$bin" completions bash >"$OUT/completions/archsmoke.bash"
  "$bin" completions zsh >"$OUT/completions/_archsmoke"
  "$bin" completions fish >"$OUT/completions/archsmoke.fish"
  "$bin" man --out-dir "$OUT/man"
}

darwin_triple() { # amd64|arm64
  case $1 in amd64) echo x86_64-apple-darwin ;; arm64) echo aarch64-apple-darwin ;; esac
}

ensure_darwin_targets() {
  command -v rustup >/dev/null || die "rustup is not installed; the macOS targets come from rustup"
  local installed missing=() arch t
  installed=$(rustup target list --installed)
  for arch in "${ARCHES[@]}"; do
    t=$(darwin_triple "$arch")
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  if ((${#missing[@]})); then
    log "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}" >&2 || die "rustup target add ${missing[*]} failed"
  fi
}

# Both macOS binaries, on a Mac: Xcode's clang is cc-rs's default C compiler and the linker.
build_darwin() {
  [[ $(uname -s) == Darwin ]] || die "--darwin builds on macOS (Xcode's SDK); on Linux use --check-darwin"
  command -v clang >/dev/null || die "no clang: install Xcode's command line tools (xcode-select --install)"
  ensure_darwin_targets
  local arch t targets=()
  for arch in "${ARCHES[@]}"; do targets+=(--target "$(darwin_triple "$arch")"); done
  log "cargo build --locked --profile $PROFILE ${targets[*]} --bin archsmoke"
  (cd "$ROOT" && cargo build --locked --quiet --profile "$PROFILE" "${targets[@]}" --bin archsmoke) ||
    die "cargo build failed"
  for arch in "${ARCHES[@]}"; do
    t=$(darwin_triple "$arch")
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/$t/$(profile_dir)/archsmoke" "$OUT/archsmoke-darwin-$arch"
    log "darwin/$arch: $OUT/archsmoke-darwin-$arch"
  done
  (cd "$OUT" && shasum -a 256 archsmoke-darwin-amd64 archsmoke-darwin-arm64 >SHA256SUMS-darwin)
  sed 's/^/  /' "$OUT/SHA256SUMS-darwin" >&2
}

# The macOS type check on Linux (see the header): a stand-in C compiler that writes an empty
# object wherever one is asked for (`-o FILE`, or cc-rs's `-FoFILE` when it takes an unknown
# compiler for MSVC-like), and the system's ar.
check_darwin() {
  ensure_darwin_targets
  local fake arch t targets=()
  fake=$(mktemp -d)
  cat >"$fake/cc" <<'CC'
#!/bin/sh
out= prev=
for a in "$@"; do
  [ "$prev" = -o ] && out=$a
  case $a in -Fo?*) out=${a#-Fo} ;; esac
  prev=$a
done
[ -n "$out" ] && : >"$out"
exit 0
CC
  chmod +x "$fake/cc"
  for arch in "${ARCHES[@]}"; do
    t=$(darwin_triple "$arch")
    export "CC_${t//-/_}=$fake/cc" "AR_${t//-/_}=ar"
    targets+=(--target "$t")
  done
  log "cargo check --locked --all-targets ${targets[*]} (C crates not compiled, nothing linked)"
  if ! (cd "$ROOT" && cargo check --locked --quiet --all-targets "${targets[@]}"); then
    rm -rf "$fake"
    die "cargo check for macOS failed"
  fi
  rm -rf "$fake"
  log "archsmoke's Rust code and its Rust dependencies compile for ${targets[*]}"
}

main() {
  if [[ $DARWIN == check ]]; then
    check_darwin
    return 0
  fi
  if [[ $DARWIN == build ]]; then
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    build_darwin
    return 0
  fi
  if [[ -n $TESTBED_TLS ]]; then
    OUT=$TESTBED_TLS
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    ensure_rust_targets
    ensure_compilers
    build_binaries testbed-tls-server --features testbed
    return 0
  fi
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  ensure_rust_targets
  ensure_compilers
  build_binaries archsmoke
  image_facts
  build_image
  build_docs
  (cd "$OUT" && sha256sum archsmoke-linux-amd64 archsmoke-linux-arm64 archsmoke-image.tar >SHA256SUMS.tmp &&
    mv SHA256SUMS.tmp SHA256SUMS)
  log "done: $OUT ($PROFILE profile, image $(cat "$OUT/archsmoke-image.digest"))"
  sed 's/^/  /' "$OUT/SHA256SUMS" >&2
}

main
