#!/usr/bin/env bash
# The opt-in slow tier of archsmoke's test bed (issue 13): a real arm64 Docker engine on this
# amd64 machine, a Debian bookworm arm64 system booted under qemu-system-aarch64 (full system
# emulation, TCG), its engine on tcp://127.0.0.1:$ARM64_PORT. `tests/arm64_engine.rs` (ignored
# by default) runs archsmoke against it: native arm64 next to QEMU user emulation on the main
# engine. Not part of up.sh, tests/run or .ci/run: building it costs ~30 min and ~1.8 GB.
#
# It is also the Mac's topology (issue 31): an arm64 engine with amd64 emulated inside its own
# kernel. The guest has Debian's arm64 qemu-user-static, whose /usr/lib/binfmt.d entries
# (qemu-x86_64, qemu-i386, ... with the F flag) systemd-binfmt registers at boot, before dockerd
# starts; `up` checks them on the guest's console.
#
#   tests/testbed/arm64-engine.sh up       build the guest once (cached), boot it, wait for the engine
#   tests/testbed/arm64-engine.sh down     stop the VM (a hard stop: ext4's journal recovers the kept
#                                          disk at the next boot; delete vm.img for a fresh one, 4 s)
#   tests/testbed/arm64-engine.sh status   say what exists and whether the engine answers
#
# Root, no sudo. State in $STATE/arm64-vm (STATE: ARCHSMOKE_TESTBED_DIR, default
# /var/tmp/archsmoke-testbed):
#   rootfs/            mmdebstrap's arm64 tree (linux-image-arm64, docker.io, systemd,
#                      qemu-user-static), built once into rootfs.new and renamed when complete;
#                      rebuilt when a package of PACKAGES is missing from it; delete it to rebuild
#   vm.img             ext4 image made from rootfs/ by `mke2fs -d` (seconds); remade when the
#                      guest configuration below changes (vm.img.stamp), which drops the
#                      guest's image store
#   console.log        the guest's serial console; rootfs-build.log, qemu.log: the builds
#   qemu.pid
#
# The guest: dockerd listens on tcp://0.0.0.0:2375 inside (plain TCP, reachable only through
# QEMU's host forward on 127.0.0.1); eth0 has a static address on QEMU's user network started
# with restrict=on, so the guest reaches nothing (no route, no DNS, no DHCP) and only the
# forwarded port reaches it. Images get there through the API (`docker load`), as archsmoke
# streams `oci-archive:` sources. `apparmor=0` on the kernel command line: without it every
# `docker run` fails with "apparmor_parser not found".
set -euo pipefail

STATE=${ARCHSMOKE_TESTBED_DIR:-/var/tmp/archsmoke-testbed}
DIR=$STATE/arm64-vm
ARM64_PORT=23764
BOOT_TIMEOUT=${ARM64_BOOT_TIMEOUT:-900}
SUITE=bookworm
# procps: dockerd runs the guest's `ps` for `docker top`, which shows archsmoke the emulator in
# front of a process (Docker Desktop's VM has one; a minimal Debian tree does not).
PACKAGES=linux-image-arm64,docker.io,systemd-sysv,ifupdown,isc-dhcp-client,iproute2,ca-certificates,qemu-user-static,procps
# The binfmt_misc entries the guest must have registered at boot, with the F flag (the kernel
# opens the interpreter then, so containers use it without having it): amd64 and 386 are the
# Mac topology's point; the others are the six-platform fixture's remaining architectures.
GUEST_BINFMT=(qemu-x86_64 qemu-i386 qemu-ppc64le qemu-s390x)
HOST_PACKAGES=(qemu-system-arm mmdebstrap arch-test curl e2fsprogs)
DISK_SIZE=6G
VM_CPUS=2
VM_MEM=3072
START_TIME=$SECONDS

log() { printf '[arm64-engine %4ds] %s\n' "$((SECONDS - START_TIME))" "$*" >&2; }
die() {
  printf '[arm64-engine] ERROR: %s\n' "$*" >&2
  exit 1
}
# shellcheck source=tests/testbed/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
# The VM forwards PORT: choose_port's "ours".
vm_ours() { # port
  local pid
  pid=$(vm_pid) && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "hostfwd=tcp:127.0.0.1:$1-"
}
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

host_packages() {
  local missing=() pkg
  for pkg in "${HOST_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  apt-get update -q -o DPkg::Lock::Timeout=300 >"$DIR/apt-update.log" 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" >"$DIR/apt-install.log" 2>&1 ||
    die "apt-get install ${missing[*]} failed; see $DIR/apt-install.log"
}

binfmt_aarch64() {
  # mmdebstrap runs the arm64 maintainer scripts through the kernel's QEMU entry (up.sh
  # registers it).
  [[ $(head -1 /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null) == enabled ]] ||
    die "no binfmt_misc entry for aarch64: run tests/testbed/up.sh first"
}

# --- the guest's root filesystem -----------------------------------------------------------

# The packages of PACKAGES that the built tree lacks (all of them when there is no tree).
rootfs_missing() {
  local pkg
  for pkg in ${PACKAGES//,/ }; do
    [[ $(dpkg-query --admindir="$DIR/rootfs/var/lib/dpkg" -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] ||
      echo "$pkg"
  done
}

build_rootfs() {
  local missing
  missing=$(rootfs_missing | tr '\n' ' ')
  if [[ -z $missing ]] && [[ -x $DIR/rootfs/usr/sbin/dockerd ]] &&
    compgen -G "$DIR/rootfs/boot/vmlinuz-*" >/dev/null; then
    return 0
  fi
  binfmt_aarch64
  if [[ -n $missing ]] && [[ -x $DIR/rootfs/usr/sbin/dockerd ]] &&
    compgen -G "$DIR/rootfs/boot/vmlinuz-*" >/dev/null; then
    add_packages $missing && return 0
    log "adding ${missing% } failed (see $DIR/rootfs-add.log): building the tree again"
  fi
  [[ -d $DIR/rootfs ]] && log "the root filesystem lacks ${missing% }: building it again"
  log "building the arm64 root filesystem with mmdebstrap (about 20 min: mkinitramfs runs under qemu-user; log: $DIR/rootfs-build.log)"
  local t0=$SECONDS
  rm -rf "$DIR/rootfs.new"
  nice -n 15 mmdebstrap --mode=root --architectures=arm64 --variant=apt \
    --include="$PACKAGES" "$SUITE" "$DIR/rootfs.new" >"$DIR/rootfs-build.log" 2>&1 ||
    die "mmdebstrap failed after $((SECONDS - t0)) s; see $DIR/rootfs-build.log"
  rm -rf "$DIR/rootfs"
  mv "$DIR/rootfs.new" "$DIR/rootfs"
  log "root filesystem built in $((SECONDS - t0)) s ($(du -sh "$DIR/rootfs" | cut -f1))"
}

# Packages added to PACKAGES after the tree was built go into it with its own apt (under QEMU,
# a minute) instead of a 20-minute rebuild. The host's resolver for the download, then the
# tree's own file back: the guest has no network.
add_packages() { # package...
  local r=$DIR/rootfs t0=$SECONDS rc=0
  log "adding $* to the root filesystem (apt inside it; log: $DIR/rootfs-add.log)"
  cp -a "$r/etc/resolv.conf" "$DIR/resolv.conf.guest" 2>/dev/null || true
  rm -f "$r/etc/resolv.conf"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  mount -t proc proc "$r/proc"
  mount --bind /dev "$r/dev"
  {
    chroot "$r" apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -q --no-install-recommends "$@" &&
      chroot "$r" apt-get clean
  } >"$DIR/rootfs-add.log" 2>&1 || rc=$?
  umount "$r/dev" "$r/proc"
  rm -f "$r/etc/resolv.conf"
  if [[ -e $DIR/resolv.conf.guest || -L $DIR/resolv.conf.guest ]]; then
    mv "$DIR/resolv.conf.guest" "$r/etc/resolv.conf"
  fi
  ((rc == 0)) || return "$rc"
  [[ -z $(rootfs_missing) ]] || return 1
  log "added $* in $((SECONDS - t0)) s"
}

# What this script writes into the guest; its definition is vm.img's stamp.
configure_rootfs() {
  local r=$DIR/rootfs unit
  # Debian's docker.service: ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS, with
  # EnvironmentFile=-/etc/default/docker; docker.socket keeps /var/run/docker.sock.
  grep -q 'DOCKER_OPTS' "$r/lib/systemd/system/docker.service" ||
    die "the guest's docker.service does not read DOCKER_OPTS; see $r/lib/systemd/system/docker.service"
  cat >"$r/etc/default/docker" <<'EOF'
# archsmoke test bed (tests/testbed/arm64-engine.sh)
DOCKER_OPTS="-H tcp://0.0.0.0:2375"
EOF
  # QEMU's user network with restrict=on: no DHCP, no route; only the host forward reaches us.
  cat >"$r/etc/network/interfaces" <<'EOF'
# archsmoke test bed (tests/testbed/arm64-engine.sh)
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address 10.0.2.15/24
EOF
  echo archsmoke-arm64 >"$r/etc/hostname"
  echo '/dev/vda / ext4 defaults 0 1' >"$r/etc/fstab"
  # No timers that reach for the network or churn the disk.
  for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
    ln -sfn /dev/null "$r/etc/systemd/system/$unit"
  done
  # The guest's binfmt_misc entries on the console (console.log), once systemd-binfmt has
  # registered them and before dockerd starts: `up` checks them there, having no shell inside.
  cat >"$r/usr/local/sbin/archsmoke-binfmt-console" <<'EOF'
#!/bin/sh
# archsmoke test bed (tests/testbed/arm64-engine.sh)
cd /proc/sys/fs/binfmt_misc || { echo "archsmoke-binfmt: binfmt_misc is not mounted"; exit 0; }
for e in *; do
  case $e in register | status) continue ;; esac
  echo "archsmoke-binfmt: $e $(head -1 "$e") flags=$(sed -n 's/^flags: //p' "$e") $(sed -n 's/^interpreter //p' "$e")"
done
echo "archsmoke-binfmt: done"
EOF
  chmod 755 "$r/usr/local/sbin/archsmoke-binfmt-console"
  cat >"$r/etc/systemd/system/archsmoke-binfmt-console.service" <<'EOF'
# archsmoke test bed (tests/testbed/arm64-engine.sh)
[Unit]
Description=archsmoke test bed: the binfmt_misc entries, on the console
After=systemd-binfmt.service
Before=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/archsmoke-binfmt-console
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
  mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
  ln -sfn /etc/systemd/system/archsmoke-binfmt-console.service \
    "$r/etc/systemd/system/multi-user.target.wants/archsmoke-binfmt-console.service"
}

stamp() { { declare -f configure_rootfs; echo "$PACKAGES $DISK_SIZE"; } | sha256sum | cut -d' ' -f1; }

build_image() {
  configure_rootfs
  local want
  want=$(stamp)
  [[ -f $DIR/vm.img && $(cat "$DIR/vm.img.stamp" 2>/dev/null) == "$want" ]] && return 0
  vm_stop
  log "making $DIR/vm.img ($DISK_SIZE ext4) from the root filesystem"
  local t0=$SECONDS
  rm -f "$DIR/vm.img" "$DIR/vm.img.stamp"
  nice -n 15 mke2fs -q -t ext4 -L archsmoke-arm64 -d "$DIR/rootfs" "$DIR/vm.img" "$DISK_SIZE" \
    >"$DIR/mke2fs.log" 2>&1 || die "mke2fs failed; see $DIR/mke2fs.log"
  echo "$want" >"$DIR/vm.img.stamp"
  log "disk image made in $((SECONDS - t0)) s"
}

# --- the VM --------------------------------------------------------------------------------

vm_pid() {
  local pid
  pid=$(cat "$DIR/qemu.pid" 2>/dev/null || true)
  # /proc/PID/comm holds the first 15 characters of the name.
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system-aar* ]] && echo "$pid"
}

vm_stop() {
  local pid i
  pid=$(vm_pid) || return 0
  log "stopping the VM (pid $pid)"
  kill "$pid"
  for ((i = 0; i < 100; i++)); do
    [[ -e /proc/$pid ]] || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

engine_ping() { [[ $(curl -s -m 5 "http://127.0.0.1:$ARM64_PORT/_ping" 2>/dev/null) == OK ]]; }

engine_docker() {
  timeout 20 env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
    docker -H "tcp://127.0.0.1:$ARM64_PORT" "$@" 2>/dev/null
}
engine_arch() { engine_docker info --format '{{.Architecture}}'; }
engine_version() { engine_docker version --format '{{.Server.Version}}'; }

vm_boot() {
  local kernel initrd
  kernel=$(compgen -G "$DIR/rootfs/boot/vmlinuz-*" | sort -V | tail -1)
  initrd=$(compgen -G "$DIR/rootfs/boot/initrd.img-*" | sort -V | tail -1)
  [[ -n $kernel && -n $initrd ]] || die "no kernel or initrd in $DIR/rootfs/boot"
  log "booting the VM (console: $DIR/console.log)"
  : >"$DIR/console.log"
  nice -n 15 qemu-system-aarch64 -M virt -cpu max -accel tcg,thread=multi \
    -smp "$VM_CPUS" -m "$VM_MEM" -kernel "$kernel" -initrd "$initrd" \
    -append "root=/dev/vda rw console=ttyAMA0 net.ifnames=0 apparmor=0" \
    -drive "file=$DIR/vm.img,format=raw,if=virtio" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$ARM64_PORT-:2375" \
    -device virtio-net-device,netdev=n0 \
    -display none -monitor none -serial "file:$DIR/console.log" \
    -daemonize -pidfile "$DIR/qemu.pid" >"$DIR/qemu.log" 2>&1 ||
    die "qemu-system-aarch64 failed to start; see $DIR/qemu.log"
}

wait_engine() {
  local t0=$SECONDS arch
  while ((SECONDS - t0 < BOOT_TIMEOUT)); do
    vm_pid >/dev/null || die "the VM exited while booting; see $DIR/console.log and $DIR/qemu.log"
    if engine_ping; then
      arch=$(engine_arch)
      [[ $arch == aarch64 ]] ||
        die "the engine on 127.0.0.1:$ARM64_PORT answers but says architecture '$arch', not aarch64"
      log "engine ready after $((SECONDS - t0)) s: Docker $(engine_version) aarch64 on tcp://127.0.0.1:$ARM64_PORT"
      return 0
    fi
    sleep 2
  done
  tail -5 "$DIR/console.log" >&2 || true
  die "the arm64 engine did not answer on 127.0.0.1:$ARM64_PORT within $BOOT_TIMEOUT s; see the console log $DIR/console.log"
}

# The guest's entries of GUEST_BINFMT, as its console showed them at boot: each enabled and
# with the F flag, or a failure naming what is wrong.
guest_binfmt() {
  local t0=$SECONDS e line
  # The lines are written before dockerd starts, so they are there once the engine answers;
  # the console file may lag a little behind.
  while ! grep -aq 'archsmoke-binfmt: done' "$DIR/console.log" 2>/dev/null; do
    ((SECONDS - t0 < 30)) ||
      die "the guest did not list its binfmt_misc entries on the console; see $DIR/console.log (archsmoke-binfmt-console.service)"
    sleep 1
  done
  for e in "${GUEST_BINFMT[@]}"; do
    line=$(grep -a "archsmoke-binfmt: $e " "$DIR/console.log" | tail -1 | tr -d '\r')
    [[ -n $line ]] ||
      die "the guest has no binfmt_misc entry $e (qemu-user-static's /usr/lib/binfmt.d/$e.conf, registered by systemd-binfmt); see $DIR/console.log"
    [[ $line == *" enabled "* ]] || die "the guest's binfmt_misc entry $e is not enabled: $line"
    [[ $line =~ flags=[A-Z]*F ]] ||
      die "the guest's binfmt_misc entry $e has no F flag, so containers cannot use it: $line"
  done
  log "guest binfmt_misc: ${GUEST_BINFMT[*]} registered with the F flag"
}

up() {
  mkdir -p "$DIR"
  if vm_pid >/dev/null && engine_ping && [[ $(engine_arch) == aarch64 ]] &&
    [[ -f $DIR/vm.img && $(cat "$DIR/vm.img.stamp" 2>/dev/null) == "$(stamp)" ]]; then
    log "the arm64 engine answers on tcp://127.0.0.1:$ARM64_PORT (VM pid $(vm_pid))"
    guest_binfmt
    return 0
  fi
  host_packages
  build_rootfs
  build_image
  vm_pid >/dev/null || { choose_port ARM64_PORT "$ARM64_PORT" vm_ours && vm_boot; }
  wait_engine
  guest_binfmt
  log "up in $((SECONDS - START_TIME)) s"
}

status() {
  local pid
  printf 'state:   %s\n' "$DIR"
  if [[ -x $DIR/rootfs/usr/sbin/dockerd ]]; then
    printf 'rootfs:  built (%s)\n' "$(du -sh "$DIR/rootfs" 2>/dev/null | cut -f1)"
  else
    printf 'rootfs:  missing\n'
  fi
  if [[ -f $DIR/vm.img ]]; then
    printf 'vm.img:  %s allocated\n' "$(du -h "$DIR/vm.img" | cut -f1)"
  else
    printf 'vm.img:  missing\n'
  fi
  if pid=$(vm_pid); then
    printf 'vm:      running (pid %s)\n' "$pid"
    # What the guest registered at this boot (its console); the interpreters are the guest's.
    grep -a 'archsmoke-binfmt: qemu-' "$DIR/console.log" 2>/dev/null | tr -d '\r' |
      sed 's/^.*archsmoke-binfmt: /binfmt:  /' || true
  else
    printf 'vm:      stopped\n'
  fi
  if engine_ping; then
    printf 'engine:  tcp://127.0.0.1:%s answers: Docker %s %s\n' "$ARM64_PORT" "$(engine_version)" "$(engine_arch)"
  else
    printf 'engine:  tcp://127.0.0.1:%s does not answer\n' "$ARM64_PORT"
    return 1
  fi
}

[[ $EUID -eq 0 ]] || die "run as root"
# The port recorded in $STATE/ports.env (tests/arm64_engine.rs reads it there too).
known_port ARM64_PORT "$ARM64_PORT"
case ${1:-} in
up) up ;;
down) vm_stop ;;
status) status ;;
*) die "usage: $0 up|down|status" ;;
esac
