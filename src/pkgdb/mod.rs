//! Package databases read as bytes: which packages an image has installed, without its package
//! manager and without a shell. Each reader takes a database file's bytes and returns the
//! packages it records ([`Installed`]); finding the file in the image's layers is the audit's
//! (`crate::audit`), judging a `[[package]]` against what was read is `crate::check::package`'s.
//!
//! The databases and the tools whose answers are reproduced (goss asks them, `system/package_*.go`):
//! - dpkg's `/var/lib/dpkg/status` (text), as `dpkg-query -W -f '${Status} ${Version}'`;
//! - apk's `/lib/apk/db/installed` (text), as `apk version`;
//! - rpm's database, as `rpm -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}'`, in any of
//!   its three formats: sqlite (`rpmdb.sqlite`, rpm ≥ 4.16), Berkeley DB hash (`Packages`,
//!   RHEL/CentOS 7–8, UBI 8) and ndb (`Packages.db`, SUSE); each holds one rpm header blob per
//!   installed package ([`rpm::header`]).
//!
//! Everything here reads hostile bytes: every offset is checked, nothing is allocated from a
//! length the bytes give without a cap, and nothing panics.

mod bdb;
mod ndb;
pub mod rpm;
mod sqlite;
mod text;

/// The largest database file read (a Fedora workstation's `rpmdb.sqlite` is ~150 MB).
pub const MAX_DATABASE: u64 = 256 << 20;
/// The most packages one database may list.
pub const MAX_PACKAGES: usize = 200_000;

/// A package manager whose database archsmoke reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Manager {
    Dpkg,
    Apk,
    Rpm,
}

impl Manager {
    /// The manager a spec's `manager` or goss's `--package` names (`deb` is goss's word for
    /// dpkg); `None` for any other name.
    pub fn from_name(name: &str) -> Option<Manager> {
        match name {
            "dpkg" | "deb" => Some(Manager::Dpkg),
            "apk" => Some(Manager::Apk),
            "rpm" => Some(Manager::Rpm),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Dpkg => "dpkg",
            Manager::Apk => "apk",
            Manager::Rpm => "rpm",
        }
    }
}

impl std::fmt::Display for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    DpkgStatus,
    ApkInstalled,
    RpmSqlite,
    RpmNdb,
    RpmBerkeleyDb,
}

impl Format {
    pub fn manager(self) -> Manager {
        match self {
            Format::DpkgStatus => Manager::Dpkg,
            Format::ApkInstalled => Manager::Apk,
            Format::RpmSqlite | Format::RpmNdb | Format::RpmBerkeleyDb => Manager::Rpm,
        }
    }

    /// How reports name it: `rpm (sqlite)`.
    pub fn describe(self) -> &'static str {
        match self {
            Format::DpkgStatus => "dpkg",
            Format::ApkInstalled => "apk",
            Format::RpmSqlite => "rpm (sqlite)",
            Format::RpmNdb => "rpm (ndb)",
            Format::RpmBerkeleyDb => "rpm (Berkeley DB)",
        }
    }
}

/// Where each database lives, in the order `manager = "auto"` looks for them. rpm's newest
/// format first: an image upgraded in place may keep the older file beside the live one.
/// Fedora's `/var/lib/rpm` is a symlink to `../../usr/lib/sysimage/rpm`: the audit looks paths up
/// through symlinks, and both spellings are listed for images that have only one of them.
pub const LOCATIONS: &[(&str, Format)] = &[
    ("/var/lib/dpkg/status", Format::DpkgStatus),
    ("/lib/apk/db/installed", Format::ApkInstalled),
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", Format::RpmSqlite),
    ("/var/lib/rpm/rpmdb.sqlite", Format::RpmSqlite),
    ("/usr/lib/sysimage/rpm/Packages.db", Format::RpmNdb),
    ("/var/lib/rpm/Packages.db", Format::RpmNdb),
    ("/var/lib/rpm/Packages", Format::RpmBerkeleyDb),
    ("/usr/lib/sysimage/rpm/Packages", Format::RpmBerkeleyDb),
];

/// The locations of one manager's databases (all of them for `None`, auto).
pub fn locations(manager: Option<Manager>) -> impl Iterator<Item = (&'static str, Format)> {
    LOCATIONS
        .iter()
        .copied()
        .filter(move |(_, f)| manager.is_none_or(|m| f.manager() == m))
}

/// One installed package instance as its database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    /// As the manager's query tool prints it (see the module's documentation).
    pub version: String,
    /// dpkg's `Architecture` (for `name:arch` queries), rpm's `ARCH`; apk's `A`.
    pub arch: Option<String>,
}

/// The header blobs of an rpm database, gathered under the caps every format shares: at most
/// [`MAX_PACKAGES`], and no more bytes in all than the file holds (every blob is stored once;
/// items, slots or b-tree pages that lead to one blob again and again are a forged or corrupt
/// file, which would otherwise be copied once per item).
struct Blobs {
    file: usize,
    total: usize,
    blobs: Vec<Vec<u8>>,
}

impl Blobs {
    fn of_file(bytes: &[u8]) -> Blobs {
        Blobs {
            file: bytes.len(),
            total: 0,
            blobs: Vec::new(),
        }
    }

    /// `shared` says why, in the format's words, blobs could add up to more than the file.
    fn push(&mut self, blob: Vec<u8>, shared: &str) -> Result<(), String> {
        if self.blobs.len() == MAX_PACKAGES {
            return Err(format!("more than {MAX_PACKAGES} packages"));
        }
        self.total += blob.len();
        if self.total > self.file {
            return Err(format!("blobs that add up to more than the file: {shared}"));
        }
        self.blobs.push(blob);
        Ok(())
    }
}

/// The packages a database file records; an error says what is wrong with the bytes.
pub fn read(format: Format, bytes: &[u8]) -> Result<Vec<Installed>, String> {
    if bytes.len() as u64 > MAX_DATABASE {
        return Err(format!(
            "{} bytes, more than the {MAX_DATABASE} bytes archsmoke reads",
            bytes.len()
        ));
    }
    match format {
        Format::DpkgStatus => text::dpkg(bytes),
        Format::ApkInstalled => text::apk(bytes),
        Format::RpmSqlite => rpm::packages(sqlite::blobs(bytes)?),
        Format::RpmNdb => rpm::packages(ndb::blobs(bytes)?),
        Format::RpmBerkeleyDb => rpm::packages(bdb::blobs(bytes)?),
    }
}

/// The versions of `name` installed, one per instance, as the manager's tool lists them for
/// goss. dpkg's `name:arch` names one architecture's instance; a plain name, every
/// architecture's (`dpkg-query -W libc6` lists `libc6:amd64` and `libc6:i386`).
pub fn versions(packages: &[Installed], manager: Manager, name: &str) -> Vec<String> {
    let (name, arch) = match (manager, name.split_once(':')) {
        (Manager::Dpkg, Some((n, a))) => (n, Some(a)),
        _ => (name, None),
    };
    packages
        .iter()
        .filter(|p| p.name == name && arch.is_none_or(|a| p.arch.as_deref() == Some(a)))
        .map(|p| p.version.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, arch: &str) -> Installed {
        Installed {
            name: name.into(),
            version: version.into(),
            arch: Some(arch.into()),
        }
    }

    #[test]
    fn a_plain_dpkg_name_counts_every_architecture_and_name_arch_one() {
        let db = [
            pkg("libc6", "2.36-9", "amd64"),
            pkg("libc6", "2.36-9", "i386"),
            pkg("libc6-dev", "2.36-9", "amd64"),
        ];
        assert_eq!(versions(&db, Manager::Dpkg, "libc6").len(), 2);
        assert_eq!(versions(&db, Manager::Dpkg, "libc6:i386"), ["2.36-9"]);
        assert!(versions(&db, Manager::Dpkg, "libc6:arm64").is_empty());
        // rpm names hold no architecture suffix: `kernel:x` is a name like any other.
        assert!(versions(&db, Manager::Rpm, "libc6:i386").is_empty());
    }

    #[test]
    fn auto_looks_for_every_database_and_a_manager_for_its_own() {
        assert_eq!(locations(None).count(), LOCATIONS.len());
        assert!(locations(Some(Manager::Rpm)).all(|(_, f)| f.manager() == Manager::Rpm));
        assert_eq!(
            locations(Some(Manager::Dpkg)).collect::<Vec<_>>(),
            [("/var/lib/dpkg/status", Format::DpkgStatus)]
        );
    }
}
