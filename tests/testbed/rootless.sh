#!/usr/bin/env bash
# The rootless Linux laptop of issue 31, sourced by up.sh (full profile) after engines.sh: a
# rootless Podman engine of an ordinary user on this machine, as a developer's laptop has one.
#
#   user      `archsmoke-rootless` (no login shell; home $STATE/rootless/home), with subordinate
#             uids and gids in /etc/subuid and /etc/subgid (useradd allocates them; added with
#             usermod when missing), so its user namespace maps 65536 ids through newuidmap
#             (Debian's uidmap).
#   runtime   /run/user/<uid> (its XDG_RUNTIME_DIR, 0700, as systemd-logind makes it).
#   podman    `podman system service --time=0` run as that user on
#             unix:///run/user/<uid>/podman/podman.sock: its own storage under its home, the
#             system's registries.conf.d and containers.conf.d (engines.sh's loopback registries
#             and ulimits) apply to it as to root's. Foreign platforms run through this kernel's
#             binfmt_misc QEMU entries (registered with F, so they work in its user namespace).
#
# Recorded in $STATE/changes (user, dir) so that down.sh removes the user, its subordinate ids
# and the runtime directory. Idempotent: a second run checks and returns in about a second.

ROOTLESS_USER=archsmoke-rootless
ROOTLESS_PACKAGES=(podman uidmap slirp4netns)

rootless_uid() { id -u "$ROOTLESS_USER"; }
rootless_runtime() { echo "/run/user/$(rootless_uid)"; }
rootless_sock() { echo "$(rootless_runtime)/podman/podman.sock"; }

rootless_answers() {
  timeout 5 docker -H "unix://$(rootless_sock)" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Runs a command as the user, with the environment a login session would give it.
as_rootless() {
  local home
  home=$(getent passwd "$ROOTLESS_USER" | cut -d: -f6)
  # In its home: podman and conmon fail ("Failed to get working directory") in a directory
  # the user cannot reach, such as a checkout under /root or one since deleted.
  runuser -u "$ROOTLESS_USER" -- env -i -C "$home" PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" \
    USER="$ROOTLESS_USER" LOGNAME="$ROOTLESS_USER" XDG_RUNTIME_DIR="$(rootless_runtime)" "$@"
}

rootless_pid() {
  local pid
  pid=$(cat "$STATE/rootless/podman.pid" 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == podman ]] && echo "$pid"
}

ensure_rootless_podman() {
  local missing=() pkg
  for pkg in "${ROOTLESS_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    apt_update
    require_candidates "${missing[@]}"
    log "rootless: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "${missing[@]}" >"$STATE/apt-install-rootless.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed; see $STATE/apt-install-rootless.log"
  fi
  mkdir -p "$STATE/rootless"
  if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    log "rootless: creating user $ROOTLESS_USER"
    useradd --create-home --home-dir "$STATE/rootless/home" --shell /usr/sbin/nologin \
      --comment "archsmoke test bed, rootless Podman" "$ROOTLESS_USER" ||
      die "useradd $ROOTLESS_USER failed"
    record_change user "$ROOTLESS_USER"
  fi
  # useradd allocates subordinate ids for ordinary users; an older user may lack them.
  if ! grep -q "^$ROOTLESS_USER:" /etc/subuid || ! grep -q "^$ROOTLESS_USER:" /etc/subgid; then
    local base=$((300000 + $(rootless_uid) * 65536))
    log "rootless: subordinate ids $base-$((base + 65535)) for $ROOTLESS_USER"
    usermod --add-subuids "$base-$((base + 65535))" --add-subgids "$base-$((base + 65535))" \
      "$ROOTLESS_USER" || die "usermod --add-subuids failed"
  fi
  local run
  run=$(rootless_runtime)
  if [[ ! -d $run ]]; then
    install -d -m 0700 -o "$ROOTLESS_USER" -g "$ROOTLESS_USER" "$run"
    record_change dir "$run"
  fi
  install -d -m 0700 -o "$ROOTLESS_USER" -g "$ROOTLESS_USER" "$run/podman"
  local pid
  if pid=$(rootless_pid); then
    if rootless_answers; then
      log "rootless: podman of $ROOTLESS_USER answers on unix://$(rootless_sock)"
      rootless_json
      return 0
    fi
    log "rootless: restarting podman (pid $pid): not answering"
    kill "$pid"
    sleep 1
  fi
  rm -f "$(rootless_sock)"
  log "rootless: starting podman system service as $ROOTLESS_USER (log: $STATE/rootless/podman.log)"
  # The storage driver and the pause process are podman's own choices for a rootless user
  # (native overlay on this kernel); only the socket is ours.
  as_rootless setsid nohup podman system service --time=0 "unix://$(rootless_sock)" \
    >>"$STATE/rootless/podman.log" 2>&1 </dev/null &
  echo $! >"$STATE/rootless/podman.pid"
  local i
  for ((i = 0; i < 60; i++)); do
    if rootless_answers; then
      # runuser's pid is the recorded one's parent: keep podman's own.
      pgrep -u "$ROOTLESS_USER" -x podman -o >"$STATE/rootless/podman.pid" || true
      log "rootless: podman of $ROOTLESS_USER answers on unix://$(rootless_sock)"
      rootless_json
      return 0
    fi
    sleep 0.5
  done
  tail -5 "$STATE/rootless/podman.log" >&2
  die "rootless podman did not answer within 30 s; see $STATE/rootless/podman.log"
}

# What tests/laptop.rs needs to find this engine.
rootless_json() {
  cat >"$STATE/rootless/rootless.json.new" <<EOF
{
  "user": "$ROOTLESS_USER",
  "uid": $(rootless_uid),
  "home": "$(getent passwd "$ROOTLESS_USER" | cut -d: -f6)",
  "runtime_dir": "$(rootless_runtime)",
  "socket": "unix://$(rootless_sock)"
}
EOF
  mv "$STATE/rootless/rootless.json.new" "$STATE/rootless/rootless.json"
}

# Run directly: `rootless.sh` brings up this engine alone, assuming the rest of the test bed.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  STATE=${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}
  REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  START_TIME=$SECONDS
  CHANGES=$STATE/changes
  log() { printf '[testbed %3ds] %s\n' "$((SECONDS - START_TIME))" "$*" >&2; }
  die() {
    printf '[testbed] ERROR: %s\n' "$*" >&2
    exit 1
  }
  record_change() { grep -qxF "$1 $2" "$CHANGES" 2>/dev/null || echo "$1 $2" >>"$CHANGES"; }
  installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
  apt_update() { apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null 2>&1 || true; }
  require_candidates() { :; }
  [[ $(id -u) == 0 ]] || die "run as root"
  ensure_rootless_podman
fi
