# Sourced by tests/testbed/up.sh: the "real" fixture images (issue 24), root filesystems made of
# Debian bookworm packages for amd64 and arm64, pushed to $REGISTRY/archsmoke/real and recorded
# under "real" in fixtures.json.
#
# No maintainer script runs and nothing runs under QEMU: each package is fetched with
# `apt-get download` (cached in $STATE/real/debs) and unpacked with `dpkg-deb -x`, so building
# every image takes seconds. What maintainer scripts would do and the tests need is done here:
# the usr-merge symlinks (/bin, /sbin, /lib* -> usr/...), the BLAS/LAPACK alternatives, nginx's
# enabled site, and a minimal dpkg database (status entries from each package's control file,
# info/<package>.list from what was unpacked) so that the audit can group findings by package.
#
# This file makes one layer per image part ($STATE/real/layers/<part>-<arch>.tar.gz and its
# .diff_id; GNU tar, sorted, fixed mtime and owners, so the digests are reproducible);
# `cargo run --example testbed-fixtures -- --real-images DIR` turns them into images (see
# tests/testbed/real.rs), pushes them and adds them to fixtures.json.
#
# Measured cold cost on this (2-core, shared) machine: download ~75 MB in ~100 s, unpack and
# compress ~60 s, push ~20 s; a second up.sh run checks the stamp and the registry in a second.

REAL_REPOSITORY=archsmoke/real
REAL_ARCHES=(amd64 arm64)

# The rpm images' layers (rpm_build_layers).
# shellcheck source=tests/testbed/rpm-images.sh
source "$REPO_ROOT/tests/testbed/rpm-images.sh"

# Architecture-independent packages are downloaded without an architecture suffix.
real_arch_all() {
  case $1 in
    nginx-common | libc6-arm64-cross | golang-1.19-src | qemu-system-data | python3-minimal-all) return 0 ;;
    *) return 1 ;;
  esac
}

# The packages of one image part for one architecture.
real_packages() { # part arch
  local base=(libc6 libgcc-s1 dash)
  case $1 in
    python)
      echo "${base[@]}" python3 python3-minimal python3.11 python3.11-minimal libpython3.11-minimal \
        libpython3.11-stdlib libpython3-stdlib zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 \
        libsqlite3-0 libuuid1 libcrypt1 libtinfo6 libncursesw6 libreadline8 libstdc++6 \
        python3-numpy libblas3 liblapack3 libgfortran5
      [[ $2 == amd64 ]] && echo libquadmath0
      ;;
    nginx) echo "${base[@]}" nginx nginx-common libcrypt1 libpcre2-8-0 libssl3 zlib1g ;;
    kitchen)
      echo "${base[@]}"
      case $2 in
        amd64) echo libc6-i386 libc6-x32 libc6-arm64-cross valgrind golang-1.19-src qemu-system-data ;;
        arm64) echo libc6:armhf libgcc-s1:armhf ;;
      esac
      ;;
  esac
}

# From packages that are large and only carry the content the audit must not cry wolf on, the
# files kept (globs relative to the package root); every other package is kept whole.
real_pick() { # package
  case $1 in
    valgrind) echo './usr/libexec/valgrind/memcheck-x86-linux ./usr/libexec/valgrind/none-x86-linux ./usr/libexec/valgrind/getoff-x86-linux ./usr/libexec/valgrind/vgpreload_core-x86-linux.so ./usr/libexec/valgrind/vgpreload_memcheck-x86-linux.so ./usr/libexec/valgrind/getoff-amd64-linux' ;;
    golang-1.19-src) echo './usr/share/go-1.19/src/debug/elf/testdata/* ./usr/share/go-1.19/src/runtime/race/race_linux_*.syso ./usr/share/go-1.19/src/runtime/race/race_freebsd_amd64.syso ./usr/share/go-1.19/src/cmd/link/testdata/pe-llvm/*.syso' ;;
    qemu-system-data) echo './usr/share/qemu/openbios-ppc ./usr/share/qemu/openbios-sparc64 ./usr/share/qemu/s390-ccw.img ./usr/share/qemu/s390-netboot.img ./usr/share/qemu/palcode-clipper' ;;
  esac
}

# The cached .deb of a package (name or name:arch) for an architecture.
real_deb() { # package arch
  local name=${1%%:*} arch=$2
  [[ $1 == *:* ]] && arch=${1#*:}
  local debs=("$STATE/real/debs/${name}_"*"_$arch.deb" "$STATE/real/debs/${name}_"*"_all.deb")
  local d
  for d in "${debs[@]}"; do
    [[ -f $d ]] && {
      echo "$d"
      return 0
    }
  done
  return 1
}

# Every package:arch of every image, downloaded once into the cache.
real_download() {
  local wanted=() part arch pkg
  for part in python nginx kitchen; do
    for arch in "${REAL_ARCHES[@]}"; do
      for pkg in $(real_packages "$part" "$arch"); do
        real_deb "$pkg" "$arch" >/dev/null && continue
        if real_arch_all "$pkg"; then
          wanted+=("$pkg")
        elif [[ $pkg == *:* ]]; then
          wanted+=("$pkg")
        else
          wanted+=("$pkg:$arch")
        fi
      done
    done
  done
  # python3.11-minimal:amd64 is also the arm64 defect image's planted foreign interpreter.
  real_deb python3.11-minimal amd64 >/dev/null || wanted+=(python3.11-minimal:amd64)
  mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u | sed '/^$/d')
  ((${#wanted[@]})) || return 0
  log "real: apt-get download ${#wanted[@]} packages into $STATE/real/debs"
  mkdir -p "$STATE/real/debs"
  (cd "$STATE/real/debs" && apt-get download -q -o APT::Sandbox::User=root "${wanted[@]}" \
    >"$STATE/real/apt-download.log" 2>&1) ||
    die "apt-get download failed; see $STATE/real/apt-download.log (run apt-get update if the versions moved)"
}

# Unpack one package into ROOT (picked files only for real_pick packages) and record it in the
# dpkg database under ROOT/var/lib/dpkg, with the paths the package itself names (/lib/..., as
# dpkg lists them on a merged-/usr system too).
real_unpack() { # deb root
  local deb=$1 root=$2 stage pkg arch ma list
  stage=$(mktemp -d)
  dpkg-deb -x "$deb" "$stage"
  pkg=$(dpkg-deb -f "$deb" Package)
  arch=$(dpkg-deb -f "$deb" Architecture)
  ma=$(dpkg-deb -f "$deb" Multi-Arch)
  local picks
  picks=$(real_pick "$pkg")
  if [[ -n $picks ]]; then
    local keep
    keep=$(mktemp -d)
    (cd "$stage" && for g in $picks; do
      for f in $g; do [[ -e $f ]] && cp -a --parents "$f" "$keep/"; done
    done)
    rm -rf "$stage"
    stage=$keep
  fi
  list=$pkg
  [[ $ma == same ]] && list=$pkg:$arch
  mkdir -p "$root/var/lib/dpkg/info"
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\.||') |
    { echo /.; cat; } >"$root/var/lib/dpkg/info/$list.list"
  {
    dpkg-deb -f "$deb" | sed '/^Status:/d' | awk -v s="Status: install ok installed" \
      'NR == 1 { print; print s; next } { print }'
    echo
  } >>"$root/var/lib/dpkg/status"
  # --keep-directory-symlink: /lib in the package lands in usr/lib through the merge symlink.
  tar -C "$stage" -cf - . | tar -C "$root" -xf - --keep-directory-symlink
  rm -rf "$stage"
}

# A root filesystem skeleton: merged /usr, /etc/passwd and group (www-data for nginx), /tmp.
real_skeleton() { # root arch
  local root=$1 d
  mkdir -p "$root"/usr/{bin,sbin,lib} "$root"/{etc,tmp,root,run,var/lib/dpkg,var/log}
  chmod 1777 "$root/tmp"
  for d in bin sbin lib; do ln -s "usr/$d" "$root/$d"; done
  case $2 in
    amd64)
      mkdir -p "$root"/usr/{lib64,lib32,libx32}
      for d in lib64 lib32 libx32; do ln -s "usr/$d" "$root/$d"; done
      ;;
  esac
  printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$root/etc/group"
  : >"$root/var/lib/dpkg/status"
}

# What maintainer scripts would have done that the images need.
real_postinst() { # part arch root
  local part=$1 arch=$2 root=$3 triplet
  ln -sf dash "$root/usr/bin/sh"
  case $arch in
    amd64) triplet=x86_64-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu ;;
  esac
  case $part in
    python)
      local lib=$root/usr/lib/$triplet
      ln -sf blas/libblas.so.3 "$lib/libblas.so.3"
      ln -sf blas/libcblas.so.3 "$lib/libcblas.so.3" 2>/dev/null || true
      ln -sf lapack/liblapack.so.3 "$lib/liblapack.so.3"
      ;;
    nginx)
      mkdir -p "$root/etc/nginx/sites-enabled" "$root/var/www/html" "$root/var/lib/nginx" "$root/var/log/nginx"
      ln -sf /etc/nginx/sites-available/default "$root/etc/nginx/sites-enabled/default"
      cp "$root/usr/share/nginx/html/index.html" "$root/var/www/html/index.nginx-debian.html"
      ;;
  esac
}

# One layer, reproducible (sorted names, numeric owner 0, one mtime, gzip without a name or
# time): OUT.tar.gz and OUT.diff_id (the digest of the uncompressed tar). Compressed here, with
# gzip, because the fixture builder's debug build compresses 300 MB in minutes.
real_tar() { # dir out
  tar -C "$1" --sort=name --mtime=@1704067200 --owner=0 --group=0 --numeric-owner \
    --format=gnu -cf "$2.tar" .
  echo "sha256:$(sha256sum <"$2.tar" | cut -d' ' -f1)" >"$2.diff_id"
  gzip -n -1 -f "$2.tar"
}

real_build_layers() {
  local out=$STATE/real/layers part arch pkg deb root
  rm -rf "$out" "$STATE/real/root"
  mkdir -p "$out"
  for part in python nginx kitchen; do
    for arch in "${REAL_ARCHES[@]}"; do
      root=$STATE/real/root/$part-$arch
      real_skeleton "$root" "$arch"
      for pkg in $(real_packages "$part" "$arch"); do
        deb=$(real_deb "$pkg" "$arch") || die "no cached deb for $pkg ($arch) in $STATE/real/debs"
        real_unpack "$deb" "$root"
      done
      real_postinst "$part" "$arch" "$root"
      real_tar "$root" "$out/$part-$arch"
    done
  done
  # The planted defects, one layer over the arm64 kitchen: a static amd64 busybox on PATH and
  # the amd64 python3.11 (its loader, /lib64/ld-linux-x86-64.so.2, is not in the image).
  root=$STATE/real/root/defects-arm64
  mkdir -p "$root/usr/local/bin"
  cp "$STATE/busybox/amd64/busybox" "$root/usr/local/bin/busybox"
  local stage
  stage=$(mktemp -d)
  dpkg-deb -x "$(real_deb python3.11-minimal amd64)" "$stage"
  cp "$stage/usr/bin/python3.11" "$root/usr/local/bin/python3.11"
  rm -rf "$stage"
  real_tar "$root" "$out/defects-arm64"
  rpm_build_layers "$out"
  rm -rf "$STATE/real/root"
}

real_stamp() {
  {
    sha256sum "$REPO_ROOT/tests/testbed/real-images.sh" "$REPO_ROOT/tests/testbed/rpm-images.sh" \
      "$REPO_ROOT"/tests/testbed/*.rs
    ls "$STATE/real/debs"
    echo "$REGISTRY $REAL_REPOSITORY"
  } | sha256sum | cut -d' ' -f1
}

# True when fixtures.json has the real images and the registry serves each recorded digest.
real_in_registry() {
  local tags tag digest served
  tags=$(python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))
for tag, t in sorted(f["real"]["tags"].items()):
    print(tag, t["digest"])' "$STATE/fixtures.json" 2>/dev/null) && [[ -n $tags ]] || return 1
  local accept='application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json'
  while read -r tag digest; do
    served=$(curl -fsS --max-time 5 -I -H "Accept: $accept" \
      "http://$REGISTRY/v2/$REAL_REPOSITORY/manifests/$tag" 2>/dev/null |
      tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p') || return 1
    [[ $served == "$digest" ]] || return 1
  done <<<"$tags"
}

ensure_real_images() {
  real_download
  local stamp
  stamp=$(real_stamp)
  if [[ $(cat "$STATE/real/stamp" 2>/dev/null) == "$stamp" ]] && real_in_registry; then
    log "real: images up to date ($REGISTRY/$REAL_REPOSITORY)"
    return 0
  fi
  rm -f "$STATE/real/stamp"
  log "real: unpacking Debian packages into layers ($STATE/real/layers)"
  real_build_layers
  log "real: building and pushing $REGISTRY/$REAL_REPOSITORY (cargo run --example testbed-fixtures -- --real-images)"
  (cd "$REPO_ROOT" && cargo run --quiet --example testbed-fixtures -- \
    --registry "$REGISTRY" --real-images "$STATE/real/layers" --out "$STATE") ||
    die "testbed-fixtures --real-images failed"
  real_in_registry || die "the registry does not serve what testbed-fixtures recorded for $REAL_REPOSITORY"
  echo "$stamp" >"$STATE/real/stamp"
}
