# Port choice for the test bed, sourced by up.sh, engines.sh and arm64-engine.sh (not run alone).
#
# No port of the test bed is fixed: another program (a CI service, a developer's own registry, a
# second copy of the test bed) may hold any of them. Each listening service asks `choose_port`
# once per state directory, which keeps the port recorded in $STATE/ports.env while it is ours or
# free, else prefers the documented port, else takes one the kernel hands out. The tests, the demo
# and later runs read the choice back from ports.env (and fixtures.json / engines.json).
#
# Needs $STATE and the functions `log` and `die` of the script that sources it.

PORTS_FILE=$STATE/ports.env

# True when something accepts connections on 127.0.0.1:PORT (or on every address, which
# includes loopback). bash's /dev/tcp needs no package; the subshell closes the socket.
port_in_use() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

recorded_port() { # name
  # No file yet (a fresh machine, the arm64 tier before up.sh): nothing recorded.
  [[ -f $PORTS_FILE ]] || return 0
  sed -n "s/^$1=//p" "$PORTS_FILE" 2>/dev/null | tail -1
}

record_port() { # name port
  local name=$1 port=$2
  mkdir -p "$STATE"
  { grep -v "^$name=" "$PORTS_FILE" 2>/dev/null || true; echo "$name=$port"; } >"$PORTS_FILE.new"
  mv "$PORTS_FILE.new" "$PORTS_FILE"
}

# Sets the shell variable NAME to the port the service should listen on and records it.
# OURS is a command that succeeds when, given a port, our own running service already holds it
# (then it is reused as is, so a running test bed keeps its ports).
choose_port() { # name preferred ours
  local name=$1 preferred=$2 ours=$3 p
  for p in $(recorded_port "$name") "$preferred"; do
    if "$ours" "$p" || ! port_in_use "$p"; then
      record_port "$name" "$p"
      printf -v "$name" '%s' "$p"
      return 0
    fi
    log "ports: 127.0.0.1:$p ($name) is held by another program; not using it"
  done
  p=$(free_port) || die "cannot find a free port on 127.0.0.1 for $name (python3 failed)"
  log "ports: $name is 127.0.0.1:$p, a free port (recorded in $PORTS_FILE)"
  record_port "$name" "$p"
  printf -v "$name" '%s' "$p"
}

# A port chosen earlier, for scripts that only talk to a running service (`engines.sh engine2`,
# `arm64-engine.sh status`): the recorded one, else the documented one.
known_port() { # name preferred
  local p
  p=$(recorded_port "$1")
  printf -v "$1" '%s' "${p:-$2}"
}

# A listener that died at once usually could not bind: say so with its own words.
explain_exit() { # what log
  local why
  why=$(grep -iE 'address already in use|bind|permission denied|cannot|failed' "$2" 2>/dev/null | tail -3)
  die "$1 exited right after it started${why:+: $why}; see $2"
}
