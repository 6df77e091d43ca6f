#!/usr/bin/env bash
# Undoes what tests/testbed/up.sh (and so tests/demo and tests/run) did on this machine. Needs
# root. It touches only what up.sh recorded or created under its own names:
#
#   always       stops the processes it started (registries, a dockerd it had to start, engine2,
#                sshd, podman, the arm64 VM), removes engine2's bridge `asmk-br2` and its
#                /run directories, the `Include` line in /root/.ssh/config and the test bed's
#                key in /root/.ssh/authorized_keys, /etc/containers/*.conf.d/50-archsmoke-testbed.conf,
#                the binfmt_misc entries it registered (not those that were there before),
#                `junitparser` if it pip-installed it, and the rootless Podman user
#                `archsmoke-rootless` with its /run/user directory (tests/testbed/rootless.sh);
#   --packages   also purges the Debian packages, dpkg architectures and rustup targets that
#                were added while up.sh ran (recorded as a before/after difference);
#   --purge      also deletes the state directory (registry storage, fixtures, logs, ports.env).
#
# The main engine, its images and containers, and anything that was on the machine before up.sh
# are left alone. State: ${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}.
set -euo pipefail

STATE=${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHANGES=$STATE/changes
PACKAGES=0
PURGE=0

log() { printf '[testbed down] %s\n' "$*" >&2; }
die() {
  printf '[testbed down] ERROR: %s\n' "$*" >&2
  exit 1
}

for arg in "$@"; do
  case $arg in
    --packages) PACKAGES=1 ;;
    --purge) PURGE=1 ;;
    *) die "usage: $0 [--packages] [--purge]" ;;
  esac
done
[[ $(id -u) == 0 ]] || die "run as root: it stops daemons and edits files under /etc and /root"
[[ -d $STATE ]] || die "no test bed state in $STATE (set ARCHSMOKE_TESTBED_DIR?)"

changes() { sed -n "s/^$1 //p" "$CHANGES" 2>/dev/null; }

# Stops the process in a pid file when it is still the program we started.
stop_pidfile() { # pidfile comm-prefix
  local pid i
  pid=$(cat "$1" 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == $2* ]] || return 0
  log "stopping $2 (pid $pid, $1)"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
  [[ ! -e /proc/$pid ]] || { log "pid $pid did not stop in 15 s; killing it"; kill -9 "$pid" 2>/dev/null || true; }
  rm -f "$1"
}

# --- processes -----------------------------------------------------------------------------

[[ -x $REPO_ROOT/tests/testbed/arm64-engine.sh && -d $STATE/arm64-vm ]] &&
  { "$REPO_ROOT/tests/testbed/arm64-engine.sh" down || log "arm64-engine.sh down failed; going on"; }
for pidfile in "$STATE"/registry/registry-*.pid; do
  [[ -f $pidfile ]] && stop_pidfile "$pidfile" docker-regist
done
stop_pidfile "$STATE/engines/dockerd2/dockerd.pid" dockerd
stop_pidfile "$STATE/engines/ssh/sshd.pid" sshd
stop_pidfile "$STATE/engines/podman/podman.pid" podman
stop_pidfile "$STATE/rootless/podman.pid" podman
# The main engine only when up.sh started it (no engine answered then).
while read -r pidfile; do stop_pidfile "$pidfile" dockerd; done < <(changes process)

# --- the rootless Podman user (tests/testbed/rootless.sh) ---------------------------------------

while read -r user; do
  [[ -n $user ]] && id "$user" >/dev/null 2>&1 || continue
  # Its podman's pause process (the service itself was stopped above), by its pid file.
  pause=$(cat "/run/user/$(id -u "$user")/libpod/tmp/pause.pid" 2>/dev/null || true)
  [[ -n $pause && $(stat -c %U "/proc/$pause" 2>/dev/null) == "$user" ]] && kill "$pause" 2>/dev/null || true
  sleep 0.5
  log "removing user $user (and its subordinate ids)"
  userdel "$user" || log "userdel $user failed; going on"
done < <(changes user)
while read -r dir; do
  [[ $dir == /run/user/* && -d $dir ]] || continue
  log "removing $dir"
  umount -R "$dir" 2>/dev/null || true
  rm -rf "$dir" || log "cannot remove $dir; going on"
done < <(changes dir)

# --- engine2's network and run directories ---------------------------------------------------

# Only a state directory that brought up the extra engines owns these machine-wide names (the
# demo's does not, and must not take them from a full test bed running beside it).
ENGINES_OURS=0
[[ -d $STATE/engines ]] && ENGINES_OURS=1
if ((ENGINES_OURS)) && ip link show asmk-br2 >/dev/null 2>&1; then
  log "removing bridge asmk-br2"
  ip link delete asmk-br2 || log "cannot delete asmk-br2; going on"
fi
for d in /run/asmk-d2 /run/asmk-podman; do
  ((ENGINES_OURS)) && [[ -d $d ]] || continue
  log "removing $d"
  umount -R "$d" 2>/dev/null || true
  rm -rf "$d" || log "cannot remove $d; going on"
done

# --- files outside the state directory --------------------------------------------------------

include="Include $STATE/engines/ssh/config"
if grep -qxF "$include" /root/.ssh/config 2>/dev/null; then
  log "removing '$include' from /root/.ssh/config"
  grep -vxF "$include" /root/.ssh/config >/root/.ssh/config.new || true
  mv /root/.ssh/config.new /root/.ssh/config
  chmod 600 /root/.ssh/config
fi
if [[ -f $STATE/engines/ssh/client_ed25519.pub ]]; then
  pub=$(cat "$STATE/engines/ssh/client_ed25519.pub")
  if grep -qxF "$pub" /root/.ssh/authorized_keys 2>/dev/null; then
    log "removing the test bed's key from /root/.ssh/authorized_keys"
    grep -vxF "$pub" /root/.ssh/authorized_keys >/root/.ssh/authorized_keys.new || true
    mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
  fi
fi
for f in /etc/containers/registries.conf.d/50-archsmoke-testbed.conf \
  /etc/containers/containers.conf.d/50-archsmoke-testbed.conf; do
  ((ENGINES_OURS)) && [[ -f $f ]] || continue
  log "removing $f"
  rm -f "$f"
done

# --- binfmt_misc and Python ---------------------------------------------------------------------

while read -r entry; do
  [[ -n $entry && -e /proc/sys/fs/binfmt_misc/$entry ]] || continue
  log "unregistering binfmt_misc entry $entry (registered by up.sh)"
  echo -1 >"/proc/sys/fs/binfmt_misc/$entry" || log "cannot unregister $entry; going on"
done < <(changes binfmt)
if [[ -n $(changes pip) ]]; then
  log "pip uninstall $(changes pip | tr '\n' ' ')"
  # shellcheck disable=SC2046
  python3 -m pip uninstall -y -q $(changes pip) || log "pip uninstall failed; going on"
fi

# --- packages -----------------------------------------------------------------------------------

if ((PACKAGES)); then
  mapfile -t pkgs < <(changes package)
  if ((${#pkgs[@]})); then
    log "apt-get purge ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}" >&2 || log "apt-get purge failed; going on"
  fi
  while read -r arch; do
    [[ -n $arch ]] || continue
    log "dpkg --remove-architecture $arch"
    dpkg --remove-architecture "$arch" || log "cannot remove architecture $arch (packages of it remain?)"
  done < <(changes architecture)
  while read -r target; do
    [[ -n $target ]] || continue
    log "rustup target remove $target"
    rustup target remove "$target" || log "rustup target remove $target failed; going on"
  done < <(changes rustup-target)
fi

if ((PURGE)); then
  log "deleting $STATE"
  rm -rf "$STATE"
else
  # What was undone is no longer a change; what remains (packages without --packages) is.
  if [[ -f $CHANGES ]]; then
    grep -E '^(package|architecture|rustup-target) ' "$CHANGES" >"$CHANGES.new" || true
    ((PACKAGES)) && : >"$CHANGES.new"
    mv "$CHANGES.new" "$CHANGES"
  fi
  rm -f "$STATE/ports.env"
fi
log "done"
