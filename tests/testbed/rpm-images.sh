# Sourced by tests/testbed/real-images.sh: the rpm fixture layers, images whose rpm database
# was written by the real rpm (Debian's `rpm` 4.18, built with the sqlite backend only) and by
# Berkeley DB's own library (`db5.3_load`), for `[[package]]` and goss's `package` on rpm.
#
# Per architecture (amd64, arm64), one root filesystem with a static busybox (so that a goss
# file's service has a CMD that stays up: `sleep`) and an rpm database holding:
#   archsmoke-hello   2:1.2.3-4   noarch              (Epoch, as `rpm -q` prints it: 2:1.2.3-4)
#   archsmoke-kernel  6.1.0-1 and 6.1.0-2, the arch's  (two instances, as kernels are)
#   archsmoke-arm64   1.0-1       aarch64, arm64 only  (a package only one platform has)
# in two layouts, one layer part each:
#   rpm-sqlite  Fedora's: /usr/lib/sysimage/rpm/rpmdb.sqlite, /var/lib/rpm -> ../../usr/lib/sysimage/rpm
#   rpm-bdb     RHEL 7's: /var/lib/rpm/Packages, a Berkeley DB hash keyed by header number
# No ndb: Debian's rpm is built without it (`rpm --define '_db_backend ndb' --initdb` falls
# back to a dummy database), so `Packages.db` is read by unit tests only (src/pkgdb/ndb.rs).
#
# rpm records the install time in each header, so a database is made once and cached in
# $STATE/real/rpm/<arch>: the layers (and their digests) stay the same from one run to the next.
# Cost: rpmbuild and rpm --justdb of five tiny packages per architecture, ~5 s cold; cached, 0.

RPM_ARCHES=(amd64 arm64)

rpm_machine() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; esac }

# A package with one file named after its version (so that two versions install side by side).
# Its architecture is rpmbuild's --target (a BuildArch other than noarch cannot be built here).
rpm_spec() { # name version release epoch buildarch
  cat <<SPEC
Name: $1
Version: $2
Release: $3
${4:+Epoch: $4}
Summary: archsmoke rpm fixture
License: Apache-2.0
$([[ $5 == noarch ]] && echo "BuildArch: noarch")
%description
A fixture of archsmoke's test bed.
%install
mkdir -p %{buildroot}/usr/share/$1/%{version}-%{release}
echo fixture > %{buildroot}/usr/share/$1/%{version}-%{release}/README
%files
/usr/share/$1/%{version}-%{release}/README
SPEC
}

# $STATE/real/rpm/<arch>/rpmdb.sqlite and Packages: the arch's database in both formats.
rpm_databases() { # arch
  local arch=$1 machine dir top root spec
  machine=$(rpm_machine "$arch")
  dir=$STATE/real/rpm/$arch
  [[ -s $dir/rpmdb.sqlite && -s $dir/Packages ]] && return 0
  command -v rpmbuild >/dev/null && command -v db5.3_load >/dev/null ||
    die "rpm fixtures need Debian's rpm and db5.3-util (apt-get install rpm db5.3-util)"
  rm -rf "$dir" && mkdir -p "$dir"
  top=$(mktemp -d)
  local -a packages=(
    "archsmoke-hello 1.2.3 4 2 noarch"
    "archsmoke-kernel 6.1.0 1 - $machine"
    "archsmoke-kernel 6.1.0 2 - $machine"
  )
  [[ $arch == arm64 ]] && packages+=("archsmoke-arm64 1.0 1 - aarch64")
  local p name version release epoch buildarch
  for p in "${packages[@]}"; do
    read -r name version release epoch buildarch <<<"$p"
    [[ $epoch == - ]] && epoch=
    spec=$top/$name-$version-$release.spec
    rpm_spec "$name" "$version" "$release" "$epoch" "$buildarch" >"$spec"
    rpmbuild --quiet --define "_topdir $top" --target "$buildarch-linux" -bb "$spec" \
      >>"$dir/rpmbuild.log" 2>&1 || die "rpmbuild $name failed; see $dir/rpmbuild.log"
  done
  root=$top/root
  mkdir -p "$root"
  rpm --root "$root" --dbpath /usr/lib/sysimage/rpm --initdb
  # One at a time, in order: two instances of archsmoke-kernel, as `rpm -i` leaves kernels.
  local f
  while read -r f; do
    rpm --root "$root" --dbpath /usr/lib/sysimage/rpm -i --justdb --nodeps --noscripts \
      --ignorearch --ignoreos "$f" >>"$dir/rpm.log" 2>&1 || die "rpm -i $f failed; see $dir/rpm.log"
  done < <(find "$top/RPMS" -name '*.rpm' | LC_ALL=C sort)
  cp "$root/usr/lib/sysimage/rpm/rpmdb.sqlite" "$dir/rpmdb.sqlite"
  # The same header blobs in a Berkeley DB hash, as rpm ≤ 4.16 kept them: keyed by header
  # number (4 bytes, the machine's order: little-endian on both), and key 0 holding the next.
  local next
  next=$(sqlite3 "$dir/rpmdb.sqlite" 'SELECT max(hnum) + 1 FROM Packages')
  {
    printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n'
    printf ' 00000000\n %08x\n' "$next" | rpm_le32
    sqlite3 -separator $'\n' "$dir/rpmdb.sqlite" \
      "SELECT printf(' %08x', hnum), ' ' || lower(hex(blob)) FROM Packages ORDER BY hnum" | rpm_le32
    printf 'DATA=END\n'
  } >"$dir/Packages.dump"
  db5.3_load -f "$dir/Packages.dump" "$dir/Packages" || die "db5.3_load failed on $dir/Packages.dump"
  rm -rf "$top"
}

# Rewrites each ` XXXXXXXX` line of exactly 8 hex digits (a key) in little-endian byte order.
rpm_le32() {
  sed -E 's/^ ([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/ \4\3\2\1/'
}

# The rpm-sqlite and rpm-bdb layers of every architecture, into OUT (real_tar's form).
rpm_build_layers() { # out
  local out=$1 arch root layout
  for arch in "${RPM_ARCHES[@]}"; do
    rpm_databases "$arch"
    for layout in sqlite bdb; do
      root=$STATE/real/root/rpm-$layout-$arch
      rm -rf "$root"
      mkdir -p "$root"/{bin,etc,tmp}
      cp "$STATE/busybox/$arch/busybox" "$root/bin/busybox"
      ln -s busybox "$root/bin/sh"
      ln -s busybox "$root/bin/sleep"
      printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
      printf 'root:x:0:\n' >"$root/etc/group"
      case $layout in
        sqlite)
          mkdir -p "$root/usr/lib/sysimage/rpm" "$root/var/lib"
          cp "$STATE/real/rpm/$arch/rpmdb.sqlite" "$root/usr/lib/sysimage/rpm/"
          ln -s ../../usr/lib/sysimage/rpm "$root/var/lib/rpm"
          ;;
        bdb)
          mkdir -p "$root/var/lib/rpm"
          cp "$STATE/real/rpm/$arch/Packages" "$root/var/lib/rpm/"
          ;;
      esac
      real_tar "$root" "$out/rpm-$layout-$arch"
      rm -rf "$root"
    done
  done
}
