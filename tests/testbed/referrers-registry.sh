# A registry with the OCI 1.1 referrers API, sourced by up.sh (full profile), for the attestation
# tests of that path (tests/attest.rs). Debian's docker-registry has no referrers API; the one
# real implementation Debian packages is go-containerregistry's registry library
# (golang-github-google-go-containerregistry-dev, bookworm-backports; its pkg/registry needs
# nothing but the Go standard library). Its .deb is fetched with `apt-get download` through an
# apt list of bookworm-backports kept under $STATE (the machine's sources stay as they are),
# unpacked, and built with Debian's golang-go (GOPATH mode, offline) from
# tests/testbed/referrers_registry.go, which only switches the endpoint on and serves it.
#
# Needs $STATE, $REPO_ROOT, log, die, choose_port, port_in_use and explain_exit from up.sh.

REFERRERS_REGISTRY_PORT=5002
REFERRERS_DIR=$STATE/referrers-registry
REFERRERS_PACKAGE=golang-github-google-go-containerregistry-dev
REFERRERS_SUITE="http://deb.debian.org/debian bookworm-backports main"

referrers_registry_ours() { # port
  local pid
  pid=$(cat "$REFERRERS_DIR/registry.pid" 2>/dev/null || true)
  [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$REFERRERS_DIR/bin/referrers-registry" ]] &&
    grep -q -- "127.0.0.1:$1" "/proc/$pid/cmdline" 2>/dev/null
}

# The referrers endpoint answers an index for a digest in a repository that exists: push
# nothing, ask /v2/ only (the library answers 200 there).
referrers_registry_healthy() { # port
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$1/v2/" || true) == 200 ]]
}

# Downloads the library's .deb through a private apt list (no change to /etc/apt).
referrers_library() {
  local apt=$REFERRERS_DIR/apt debs
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$REFERRERS_DIR/debs"
  echo "deb $REFERRERS_SUITE" >"$apt/sources.list"
  log "referrers: apt-get update (bookworm-backports, a list of its own in $apt)"
  apt-get "${opts[@]}" update -q >"$REFERRERS_DIR/apt.log" 2>&1 ||
    die "apt-get update of bookworm-backports failed; see $REFERRERS_DIR/apt.log"
  log "referrers: apt-get download $REFERRERS_PACKAGE"
  rm -f "$REFERRERS_DIR/debs/"*.deb
  (cd "$REFERRERS_DIR/debs" && apt-get "${opts[@]}" download -q "$REFERRERS_PACKAGE" >>"$REFERRERS_DIR/apt.log" 2>&1) ||
    die "apt-get download $REFERRERS_PACKAGE failed; see $REFERRERS_DIR/apt.log"
  debs=("$REFERRERS_DIR/debs/"*.deb)
  [[ -f ${debs[0]} ]] || die "apt-get download left no $REFERRERS_PACKAGE deb in $REFERRERS_DIR/debs"
  rm -rf "$REFERRERS_DIR/gopath"
  mkdir -p "$REFERRERS_DIR/gopath"
  dpkg-deb -x "${debs[0]}" "$REFERRERS_DIR/gopath"
}

ensure_referrers_registry() {
  local bin=$REFERRERS_DIR/bin/referrers-registry src=$REPO_ROOT/tests/testbed/referrers_registry.go
  local gopath=$REFERRERS_DIR/gopath/usr/share/gocode stamp pid i
  mkdir -p "$REFERRERS_DIR/bin"
  [[ -d $gopath/src/github.com/google/go-containerregistry/pkg/registry ]] || referrers_library
  stamp=$({ sha256sum "$src"; ls "$REFERRERS_DIR/debs"; go version; } | sha256sum | cut -d' ' -f1)
  if [[ ! -x $bin || $(cat "$bin.stamp" 2>/dev/null) != "$stamp" ]]; then
    log "referrers: go build $src (GOPATH mode, offline)"
    mkdir -p "$REFERRERS_DIR/build/src/referrers-registry"
    cp "$src" "$REFERRERS_DIR/build/src/referrers-registry/main.go"
    (cd "$REFERRERS_DIR/build/src/referrers-registry" &&
      GO111MODULE=off GOPATH="$REFERRERS_DIR/build:$gopath" GOCACHE="$REFERRERS_DIR/gocache" \
        GOFLAGS= GOPROXY=off go build -o "$bin.new" . >"$REFERRERS_DIR/build.log" 2>&1) ||
      die "go build of the referrers registry failed; see $REFERRERS_DIR/build.log"
    mv "$bin.new" "$bin"
    echo "$stamp" >"$bin.stamp"
    pid=$(cat "$REFERRERS_DIR/registry.pid" 2>/dev/null || true)
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  fi
  choose_port REFERRERS_REGISTRY_PORT "$REFERRERS_REGISTRY_PORT" referrers_registry_ours
  if referrers_registry_ours "$REFERRERS_REGISTRY_PORT" && referrers_registry_healthy "$REFERRERS_REGISTRY_PORT"; then
    log "referrers: 127.0.0.1:$REFERRERS_REGISTRY_PORT is up (pid $(cat "$REFERRERS_DIR/registry.pid"))"
    return 0
  fi
  ! port_in_use "$REFERRERS_REGISTRY_PORT" ||
    die "something else answers on 127.0.0.1:$REFERRERS_REGISTRY_PORT since the port was chosen; re-run to choose another"
  log "referrers: starting $bin on 127.0.0.1:$REFERRERS_REGISTRY_PORT (log: $REFERRERS_DIR/registry.log)"
  setsid nohup "$bin" -addr "127.0.0.1:$REFERRERS_REGISTRY_PORT" >>"$REFERRERS_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$REFERRERS_DIR/registry.pid"
  for ((i = 0; i < 100; i++)); do
    referrers_registry_healthy "$REFERRERS_REGISTRY_PORT" && return 0
    [[ -e /proc/$(cat "$REFERRERS_DIR/registry.pid") ]] ||
      explain_exit "the referrers registry on 127.0.0.1:$REFERRERS_REGISTRY_PORT" "$REFERRERS_DIR/registry.log"
    sleep 0.1
  done
  die "the referrers registry on 127.0.0.1:$REFERRERS_REGISTRY_PORT did not come up; see $REFERRERS_DIR/registry.log"
}
