//! The package database a platform's `[[package]]` checks read: found in the merged layers at
//! the places its manager keeps it (`crate::pkgdb::LOCATIONS`, symlinks followed: Fedora's
//! `/var/lib/rpm` leads to `/usr/lib/sysimage/rpm`), read once per file, parsed on a
//! blocking thread (an rpm database can be a hundred megabytes of SQLite).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;

use crate::check::fs::{EntryKind, Lookup, MergedFs};
use crate::check::package::Database;
use crate::pkgdb::{self, Manager};

/// A platform's databases: each file read once, whether `auto` or a check naming its manager
/// found it.
#[derive(Default)]
pub struct Databases(HashMap<Found, Result<Database, String>>);

/// What looking for a manager's database gave: the first of its locations that exists, or none.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Found {
    At(&'static str, pkgdb::Format),
    Nothing(Option<Manager>),
}

impl Databases {
    /// The database for `manager` (`None`: auto); `read` gives a file's bytes (symlinks
    /// followed).
    pub async fn get<F, Fut>(
        &mut self,
        manager: Option<Manager>,
        read: F,
        fs: &MergedFs,
    ) -> &Result<Database, String>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<Vec<u8>>, String>>,
    {
        let found = pkgdb::locations(manager)
            .find(|(path, _)| matches!(fs.lookup(path, true), Lookup::Found { .. }))
            .map_or(Found::Nothing(manager), |(path, format)| {
                Found::At(path, format)
            });
        match self.0.entry(found) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(load(found, read, fs).await),
        }
    }
}

/// The database `found` names, read and parsed; or what was looked for when there is none.
async fn load<F, Fut>(found: Found, read: F, fs: &MergedFs) -> Result<Database, String>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Vec<u8>>, String>>,
{
    let (path, format) = match found {
        Found::At(path, format) => (path, format),
        Found::Nothing(manager) => {
            let looked: Vec<&str> = pkgdb::locations(manager).map(|(p, _)| p).collect();
            return Err(format!(
                "no {}database: none of {} exists",
                manager.map_or(String::new(), |m| format!("{m} ")),
                looked.join(", ")
            ));
        }
    };
    let what = format!("{} database {path}", format.describe());
    if let Lookup::Found { entry, .. } = fs.lookup(path, true)
        && !matches!(entry.kind, EntryKind::File | EntryKind::Hardlink(_))
    {
        return Err(format!("{what} is not a regular file"));
    }
    let bytes = read(path.to_owned())
        .await
        .map_err(|e| format!("{what}: {e}"))?
        .ok_or_else(|| format!("{what} could not be read"))?;
    let packages = tokio::task::spawn_blocking(move || pkgdb::read(format, &bytes))
        .await
        .map_err(|e| format!("{what}: the reader stopped: {e}"))?
        .map_err(|e| format!("{what} is unreadable: {e}"))?;
    Ok(Database {
        format,
        path: path.to_owned(),
        packages,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::check::fs::{Entry, Layer};

    fn fs(entries: Vec<Entry>) -> MergedFs {
        MergedFs::new(&[Arc::new(Layer { entries })])
    }

    fn file(path: &str, bytes: &[u8]) -> Entry {
        Entry {
            size: bytes.len() as u64,
            content: Some(bytes.to_vec()),
            ..Entry::new(path, EntryKind::File)
        }
    }

    /// What the audit's reader does with the first pass's bytes.
    async fn read(fs: &MergedFs, path: String) -> Result<Option<Vec<u8>>, String> {
        Ok(match fs.lookup(&path, true) {
            Lookup::Found { entry, .. } => entry.content.clone(),
            _ => None,
        })
    }

    #[tokio::test]
    async fn fedoras_symlinked_rpm_directory_is_followed_to_its_database() {
        let image = fs(vec![
            Entry::new("/usr/lib/sysimage/rpm", EntryKind::Directory),
            file(
                "/usr/lib/sysimage/rpm/rpmdb.sqlite",
                include_bytes!("../pkgdb/testdata/rpmdb.sqlite"),
            ),
            Entry::new(
                "/var/lib/rpm",
                EntryKind::Symlink("../../usr/lib/sysimage/rpm".into()),
            ),
        ]);
        let mut dbs = Databases::default();
        let db = dbs
            .get(Some(Manager::Rpm), |p| read(&image, p), &image)
            .await
            .as_ref()
            .expect("found");
        assert_eq!(db.path, "/usr/lib/sysimage/rpm/rpmdb.sqlite");
        assert_eq!(db.packages[0].version, "2:1.2.3-4");
    }

    /// `auto` and a check naming rpm find the same file: it is read and parsed once.
    #[tokio::test]
    async fn one_file_is_read_once_whichever_manager_found_it() {
        let image = fs(vec![file(
            "/var/lib/rpm/rpmdb.sqlite",
            include_bytes!("../pkgdb/testdata/rpmdb.sqlite"),
        )]);
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let counted = |p: String| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            read(&image, p)
        };
        let mut dbs = Databases::default();
        for manager in [None, Some(Manager::Rpm), None] {
            let db = dbs.get(manager, counted, &image).await;
            assert_eq!(db.as_ref().expect("found").packages.len(), 1);
        }
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn auto_takes_the_database_the_image_has_and_says_what_it_looked_for_without_one() {
        let image = fs(vec![file(
            "/lib/apk/db/installed",
            b"P:musl\nV:1.2.4-r2\nA:x86_64\n",
        )]);
        let mut dbs = Databases::default();
        let db = dbs.get(None, |p| read(&image, p), &image).await;
        assert_eq!(
            db.as_ref().expect("apk").format,
            crate::pkgdb::Format::ApkInstalled
        );
        let none = dbs
            .get(Some(Manager::Dpkg), |p| read(&image, p), &image)
            .await;
        assert_eq!(
            none.as_ref().expect_err("no dpkg"),
            "no dpkg database: none of /var/lib/dpkg/status exists"
        );
        let broken = fs(vec![file("/var/lib/rpm/Packages", b"\0\0\0\0 not libdb")]);
        let e = Databases::default()
            .get(None, |p| read(&broken, p), &broken)
            .await
            .clone()
            .expect_err("broken");
        assert!(
            e.starts_with("rpm (Berkeley DB) database /var/lib/rpm/Packages is unreadable: "),
            "{e}"
        );
    }
}
