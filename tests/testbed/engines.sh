#!/usr/bin/env bash
# The extra engines of archsmoke's test bed (issue 13), sourced by up.sh after the main engine
# and the registries are up. Everything here is of its own: it never touches the main engine
# (/var/run/docker.sock), its docker0 bridge, /etc/docker/daemon.json or root's Docker config.
#
#   engine2   a second dockerd: data-root, exec-root, pidfile, socket and --config-file of its
#             own, its own bridge (created first: a dockerd with `--bridge none` deletes docker0
#             for everyone), iptables untouched; unix socket $ENGINES/dockerd2/docker.sock and
#             tcp://127.0.0.1:$ENGINE2_TLS_PORT with --tlsverify (CA, server and client
#             certificates generated here with openssl, plus a "rogue" CA and client for the
#             bad-certificate tests).
#   context   Docker context `archsmoke-tls` for engine2 in a Docker config directory of its own
#             ($ENGINES/docker-config; tests set DOCKER_CONFIG to it).
#   sshd      on 127.0.0.1:$SSHD_PORT with its own host key; a client key in root's
#             authorized_keys; ssh config aliases `archsmoke-ssh` (known_hosts holding the host
#             key, StrictHostKeyChecking yes) and `archsmoke-ssh-unknown` (an empty known_hosts),
#             included from root's ~/.ssh/config. `ssh://archsmoke-ssh` reaches the main engine
#             through `docker system dial-stdio`, as the docker CLI does.
#   podman    `podman system service` on $ENGINES/podman/podman.sock (storage under $ENGINES),
#             with the loopback registries marked insecure in registries.conf.d and lower
#             default ulimits in containers.conf.d (design.md §10: podman 4.3 cannot start a
#             container here without them).
#
# Idempotent: each step checks whether its work is done; a second run takes about a second.

ENGINES=$STATE/engines
# The documented ports; ensure_engines chooses the ones in use (ports.sh) and engines.json
# records them.
ENGINE2_TLS_PORT=23760
SSHD_PORT=22220
ENGINE2_BRIDGE=asmk-br2
ENGINE2_BRIDGE_CIDR=10.231.0.1/24
# exec-root holds containerd's sockets: a short path keeps them under the 108-byte limit.
ENGINE2_EXEC_ROOT=/run/asmk-d2
PODMAN_RUNROOT=/run/asmk-podman
ENGINE_PACKAGES=(openssh-server openssh-client podman openssl)

engines_packages() {
  local missing=() pkg
  for pkg in "${ENGINE_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  apt_update
  require_candidates "${missing[@]}"
  log "engines: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" \
    >"$STATE/apt-install-engines.log" 2>&1 || die "apt-get install ${missing[*]} failed; see $STATE/apt-install-engines.log"
}

# --- certificates ------------------------------------------------------------------------

# One CA signs the server (SAN 127.0.0.1, localhost) and the client; a second, unrelated CA
# signs the rogue client. Client directories follow DOCKER_CERT_PATH's layout.
engines_certs() {
  local tls=$ENGINES/tls
  if [[ -f $tls/client/key.pem && -f $tls/rogue/key.pem && -f $tls/server-key.pem ]] &&
    openssl verify -CAfile "$tls/ca.pem" "$tls/server-cert.pem" "$tls/client/cert.pem" >/dev/null 2>&1; then
    return 0
  fi
  log "engines: generating a CA, server and client certificates in $tls"
  rm -rf "$tls"
  mkdir -p "$tls/client" "$tls/rogue"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=archsmoke test bed CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=archsmoke client" -keyout client/key.pem -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out client/cert.pem 2>/dev/null
    cp ca.pem client/ca.pem
    # The rogue set trusts only its own CA, so it also rejects the real server.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=rogue CA" \
      -keyout rogue-ca-key.pem -out rogue/ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=rogue client" -keyout rogue/key.pem -out rogue.csr 2>/dev/null
    openssl x509 -req -in rogue.csr -CA rogue/ca.pem -CAkey rogue-ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out rogue/cert.pem 2>/dev/null
    chmod 600 ./*key.pem client/key.pem rogue/key.pem
  ) || die "openssl failed to generate the test bed's certificates in $tls"
  # engine2 must restart to read new certificates.
  engine2_stop
}

# --- second dockerd ----------------------------------------------------------------------

engine2_sock() { echo "$ENGINES/dockerd2/docker.sock"; }

engine2_answers() {
  timeout 5 docker -H "unix://$(engine2_sock)" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

engine2_pid() {
  local pid
  pid=$(cat "$ENGINES/dockerd2/dockerd.pid" 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] && echo "$pid"
}

# engine2 (started by us) listens on PORT: choose_port's "ours".
engine2_ours() { # port
  local pid
  pid=$(engine2_pid) && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "tcp://127.0.0.1:$1 "
}

engine2_stop() {
  local pid i
  pid=$(engine2_pid) || return 0
  log "engines: stopping engine2 (pid $pid)"
  kill "$pid"
  for ((i = 0; i < 100; i++)); do [[ -e /proc/$pid ]] || return 0; sleep 0.1; done
}

engine2_config() {
  local driver
  driver=$(docker info --format '{{.Driver}}' 2>/dev/null || echo overlay2)
  # The main engine's storage driver is the one known to work on this kernel/filesystem.
  printf '{"storage-driver": "%s", "mtu": 1400, "iptables": false, "ip-forward": false, "ip-masq": false}\n' "$driver"
}

engine2_bridge() {
  ip link show "$ENGINE2_BRIDGE" >/dev/null 2>&1 && return 0
  log "engines: creating bridge $ENGINE2_BRIDGE ($ENGINE2_BRIDGE_CIDR) for engine2"
  ip link add "$ENGINE2_BRIDGE" type bridge
  ip addr add "$ENGINE2_BRIDGE_CIDR" dev "$ENGINE2_BRIDGE"
  ip link set "$ENGINE2_BRIDGE" up
}

engine2_tls_answers() {
  local c=$ENGINES/tls/client
  timeout 5 docker -H "tcp://127.0.0.1:$ENGINE2_TLS_PORT" --tlsverify --tlscacert "$c/ca.pem" \
    --tlscert "$c/cert.pem" --tlskey "$c/key.pem" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

ensure_engine2() {
  local dir=$ENGINES/dockerd2 tls=$ENGINES/tls wanted
  mkdir -p "$dir/data" "$ENGINE2_EXEC_ROOT"
  wanted=$(engine2_config)
  if [[ $(cat "$dir/daemon.json" 2>/dev/null) != "$wanted" ]]; then
    printf '%s\n' "$wanted" >"$dir/daemon.json"
    engine2_stop
  fi
  if engine2_pid >/dev/null && engine2_answers && engine2_tls_answers; then
    log "engines: engine2 answers on unix://$(engine2_sock) and tcp://127.0.0.1:$ENGINE2_TLS_PORT (TLS)"
    return 0
  fi
  engine2_bridge
  local pid
  if ! pid=$(engine2_pid); then
    log "engines: starting engine2 (log: $dir/dockerd.log)"
    setsid nohup dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
      --exec-root "$ENGINE2_EXEC_ROOT" --pidfile "$dir/dockerd.pid" -b "$ENGINE2_BRIDGE" \
      -H "unix://$(engine2_sock)" -H "tcp://127.0.0.1:$ENGINE2_TLS_PORT" \
      --tlsverify --tlscacert "$tls/ca.pem" --tlscert "$tls/server-cert.pem" --tlskey "$tls/server-key.pem" \
      >>"$dir/dockerd.log" 2>&1 </dev/null &
    pid=$!
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    if engine2_answers && engine2_tls_answers; then
      log "engines: engine2 answers (unix://$(engine2_sock), tcp://127.0.0.1:$ENGINE2_TLS_PORT with TLS)"
      return 0
    fi
    # A dockerd that could not bind (a port taken since it was chosen, say) exits at once:
    # waiting longer would only hide why.
    if [[ ! -e /proc/$pid ]]; then
      explain_exit "engine2's dockerd (tcp://127.0.0.1:$ENGINE2_TLS_PORT)" "$dir/dockerd.log"
    fi
    sleep 1
  done
  tail -5 "$dir/dockerd.log" >&2
  die "engine2 did not answer within 60 s; see $dir/dockerd.log"
}

ensure_context() {
  local cfg=$ENGINES/docker-config c=$ENGINES/tls/client host
  mkdir -p "$cfg"
  host=$(docker --config "$cfg" context inspect archsmoke-tls --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
  # Recreate when the certificates are newer than the context (the context store copies them).
  if [[ $host == "tcp://127.0.0.1:$ENGINE2_TLS_PORT" ]] &&
    [[ $(docker --config "$cfg" context inspect archsmoke-tls --format '{{.Storage.TLSPath}}' 2>/dev/null)/docker/ca.pem -nt $c/ca.pem ]]; then
    return 0
  fi
  docker --config "$cfg" context rm -f archsmoke-tls >/dev/null 2>&1 || true
  log "engines: docker context create archsmoke-tls (DOCKER_CONFIG=$cfg)"
  docker --config "$cfg" context create archsmoke-tls \
    --description "archsmoke test bed: engine2 over TCP with TLS" \
    --docker "host=tcp://127.0.0.1:$ENGINE2_TLS_PORT,ca=$c/ca.pem,cert=$c/cert.pem,key=$c/key.pem" \
    >/dev/null || die "docker context create archsmoke-tls failed"
  [[ -f $cfg/config.json ]] || echo '{}' >"$cfg/config.json"
}

# --- sshd --------------------------------------------------------------------------------

ssh_config_block() {
  local s=$ENGINES/ssh
  cat <<EOF
# Written by archsmoke's tests/testbed/engines.sh; rewritten on every run.
Host archsmoke-ssh
  HostName 127.0.0.1
  Port $SSHD_PORT
  User root
  IdentityFile $s/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
# The same sshd, but the remote `docker system dial-stdio` talks to engine2: one engine reached
# over its socket, TLS and ssh (benches/engines.py).
Host archsmoke-ssh-engine2
  HostName 127.0.0.1
  Port $SSHD_PORT
  User root
  IdentityFile $s/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  SetEnv DOCKER_HOST=unix://$(engine2_sock)
Host archsmoke-ssh-unknown
  HostName 127.0.0.1
  Port $SSHD_PORT
  User root
  IdentityFile $s/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts.empty
  StrictHostKeyChecking yes
  BatchMode yes
EOF
}

sshd_pid() {
  local pid
  pid=$(cat "$ENGINES/ssh/sshd.pid" 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]] && echo "$pid"
}

# Our sshd listens on PORT: choose_port's "ours".
sshd_ours() { # port
  local pid
  pid=$(sshd_pid) && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-p $1 "
}

ensure_sshd() {
  local s=$ENGINES/ssh
  mkdir -p "$s" /run/sshd /root/.ssh
  chmod 700 /root/.ssh
  [[ -f $s/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C 'archsmoke test bed host' -f "$s/host_ed25519"
  [[ -f $s/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C 'archsmoke test bed client' -f "$s/client_ed25519"
  local pub
  pub=$(cat "$s/client_ed25519.pub")
  grep -qxF "$pub" /root/.ssh/authorized_keys 2>/dev/null || {
    log "engines: adding the test bed's client key to /root/.ssh/authorized_keys"
    echo "$pub" >>/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
  }
  printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$s/host_ed25519.pub")" >"$s/known_hosts"
  : >"$s/known_hosts.empty"
  ssh_config_block >"$s/config"
  # ssh reads root's config from the passwd home, not $HOME: include ours from there. Include
  # must precede any Host block to apply everywhere, so it goes first.
  local include="Include $s/config"
  if ! grep -qxF "$include" /root/.ssh/config 2>/dev/null; then
    log "engines: including $s/config from /root/.ssh/config"
    { echo "$include"; cat /root/.ssh/config 2>/dev/null || true; } >/root/.ssh/config.new
    mv /root/.ssh/config.new /root/.ssh/config
    chmod 600 /root/.ssh/config
  fi
  local pid
  # Started by an older version of this script without AcceptEnv: restart it.
  if pid=$(sshd_pid) && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q AcceptEnv=DOCKER_HOST; then
    log "engines: restarting sshd (pid $pid) to accept DOCKER_HOST"
    kill "$pid"
    sleep 0.5
  fi
  if ! sshd_pid >/dev/null; then
    log "engines: starting sshd on 127.0.0.1:$SSHD_PORT (log: $s/sshd.log)"
    /usr/sbin/sshd -p "$SSHD_PORT" -o ListenAddress=127.0.0.1 -h "$s/host_ed25519" \
      -o PidFile="$s/sshd.pid" -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no \
      -o AcceptEnv=DOCKER_HOST \
      -E "$s/sshd.log" || die "sshd failed to start; see $s/sshd.log"
  fi
  local i
  for ((i = 0; i < 50; i++)); do
    if timeout 10 ssh archsmoke-ssh -- docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      log "engines: ssh://archsmoke-ssh (127.0.0.1:$SSHD_PORT) reaches the main engine"
      return 0
    fi
    sleep 0.2
  done
  die "ssh archsmoke-ssh docker version fails; see $s/sshd.log"
}

# --- podman ------------------------------------------------------------------------------

podman_sock() { echo "$ENGINES/podman/podman.sock"; }

podman_answers() {
  timeout 5 docker -H "unix://$(podman_sock)" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

podman_pid() {
  local pid
  pid=$(cat "$ENGINES/podman/podman.pid" 2>/dev/null || true)
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == podman ]] && echo "$pid"
}

ensure_podman() {
  local p=$ENGINES/podman restart=0
  mkdir -p "$p/storage" "$PODMAN_RUNROOT" /etc/containers/registries.conf.d /etc/containers/containers.conf.d
  local reg conf
  reg=$(printf '# archsmoke test bed: plain-HTTP loopback registries (Docker allows loopback by default)\n[[registry]]\nlocation = "%s"\ninsecure = true\n\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY" "$AUTH_REGISTRY")
  conf=$(printf '# archsmoke test bed: podman 4.3 cannot raise rlimits here (error setting rlimit type 6/7)\n[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n\n[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
  if [[ $(cat /etc/containers/registries.conf.d/50-archsmoke-testbed.conf 2>/dev/null) != "$reg" ]]; then
    printf '%s\n' "$reg" >/etc/containers/registries.conf.d/50-archsmoke-testbed.conf
    restart=1
  fi
  if [[ $(cat /etc/containers/containers.conf.d/50-archsmoke-testbed.conf 2>/dev/null) != "$conf" ]]; then
    printf '%s\n' "$conf" >/etc/containers/containers.conf.d/50-archsmoke-testbed.conf
    restart=1
  fi
  local pid
  if pid=$(podman_pid); then
    if ((restart == 0)) && podman_answers; then
      log "engines: podman answers on unix://$(podman_sock)"
      return 0
    fi
    log "engines: restarting podman (pid $pid): configuration changed or not answering"
    kill "$pid"
    sleep 1
  fi
  rm -f "$(podman_sock)"
  log "engines: starting podman system service (log: $p/podman.log)"
  setsid nohup podman --root "$p/storage" --runroot "$PODMAN_RUNROOT" system service --time=0 \
    "unix://$(podman_sock)" >>"$p/podman.log" 2>&1 </dev/null &
  echo $! >"$p/podman.pid"
  local i
  for ((i = 0; i < 60; i++)); do
    if podman_answers; then
      log "engines: podman answers on unix://$(podman_sock)"
      return 0
    fi
    sleep 0.5
  done
  tail -5 "$p/podman.log" >&2
  die "podman did not answer within 30 s; see $p/podman.log"
}

# Writes what the tests need to find these engines.
engines_json() {
  cat >"$ENGINES/engines.json.new" <<EOF
{
  "engine2_socket": "unix://$(engine2_sock)",
  "engine2_tls": "tcp://127.0.0.1:$ENGINE2_TLS_PORT",
  "cert_path": "$ENGINES/tls/client",
  "rogue_cert_path": "$ENGINES/tls/rogue",
  "docker_config": "$ENGINES/docker-config",
  "context": "archsmoke-tls",
  "ssh": "ssh://archsmoke-ssh",
  "ssh_port": $SSHD_PORT,
  "engine2_tls_port": $ENGINE2_TLS_PORT,
  "ssh_unknown_host": "ssh://archsmoke-ssh-unknown",
  "ssh_engine2": "ssh://archsmoke-ssh-engine2",
  "podman_socket": "unix://$(podman_sock)",
  "engine2_pidfile": "$ENGINES/dockerd2/dockerd.pid"
}
EOF
  mv "$ENGINES/engines.json.new" "$ENGINES/engines.json"
}

ensure_engines() {
  mkdir -p "$ENGINES"
  choose_port ENGINE2_TLS_PORT "$ENGINE2_TLS_PORT" engine2_ours
  choose_port SSHD_PORT "$SSHD_PORT" sshd_ours
  engines_packages
  engines_certs
  ensure_engine2
  ensure_context
  ensure_sshd
  ensure_podman
  engines_json
}

# Run directly (not sourced by up.sh): `engines.sh` brings up these engines alone, assuming the
# rest of the test bed is up; `engines.sh engine2` only (re)starts engine2, which
# tests/engines.rs stops to prove that losing an engine mid-run fails only its platforms.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  STATE=${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}
  ENGINES=$STATE/engines
  START_TIME=$SECONDS
  log() { printf '[testbed %3ds] %s\n' "$((SECONDS - START_TIME))" "$*" >&2; }
  die() {
    printf '[testbed] ERROR: %s\n' "$*" >&2
    exit 1
  }
  # shellcheck source=tests/testbed/ports.sh
  source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
  known_port REGISTRY_PORT 5000
  known_port AUTH_REGISTRY_PORT 5001
  REGISTRY=127.0.0.1:$REGISTRY_PORT
  AUTH_REGISTRY=127.0.0.1:$AUTH_REGISTRY_PORT
  installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }
  apt_update() { apt-get update -q -o DPkg::Lock::Timeout=300 >"$STATE/apt-update.log" 2>&1 || true; }
  require_candidates() { :; }
  case ${1:-all} in
  engine2)
    known_port ENGINE2_TLS_PORT "$ENGINE2_TLS_PORT"
    ensure_engine2
    ;;
  all) ensure_engines ;;
  *) die "usage: $0 [all|engine2]" ;;
  esac
fi
