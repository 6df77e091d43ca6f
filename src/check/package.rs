//! `[[package]]` judged against the package database the audit read from a platform's layers
//! (`crate::pkgdb` reads the bytes; `crate::audit` finds the file). goss's semantics
//! (resource/package.go `Validate`): `installed` first; `versions`, when it holds, is a list
//! matcher (ContainElements: every expected version matched by an installed instance of its own,
//! in any order, others allowed), and is not judged when the package is missing.

use crate::outcome::Mismatch;
use crate::pkgdb::{self, Format, Installed};
use crate::spec::PackageCheck;

/// The database a platform's package checks read: where it was found and what it lists.
#[derive(Debug, Clone)]
pub struct Database {
    pub format: Format,
    /// Its path in the image, as looked up.
    pub path: String,
    pub packages: Vec<Installed>,
}

impl Database {
    fn describe(&self) -> String {
        format!(
            "{} database {} lists {} package{}",
            self.format.describe(),
            self.path,
            self.packages.len(),
            if self.packages.len() == 1 { "" } else { "s" }
        )
    }
}

/// Check one `[[package]]`; `database` is the platform's database for the check's manager, or
/// why there is none to read (what was looked for, or what is wrong with the file).
pub fn package(check: &PackageCheck, database: &Result<Database, String>) -> Vec<Mismatch> {
    let db = match database {
        Ok(db) => db,
        Err(why) => {
            let expected = match check.manager {
                Some(m) => format!("a readable {m} database"),
                None => "a readable dpkg, apk or rpm database".to_owned(),
            };
            return vec![Mismatch::new("package database", expected, why.clone())];
        }
    };
    let installed = pkgdb::versions(&db.packages, db.format.manager(), &check.name);
    let mut out = Vec::new();
    match (check.installed, installed.is_empty()) {
        (true, true) => {
            out.push(Mismatch::new(
                "installed",
                "installed",
                format!("not installed ({})", db.describe()),
            ));
            return out;
        }
        (false, false) => out.push(Mismatch::new(
            "installed",
            "not installed",
            format!("installed: {} ({})", installed.join(", "), db.describe()),
        )),
        _ => {}
    }
    if let Some(want) = &check.versions
        && !contains_elements(&installed, want)
    {
        out.push(Mismatch::new(
            "version",
            format!("installed versions include {}", want.join(", ")),
            installed.join(", "),
        ));
    }
    out
}

/// gomega's ContainElements over plain values: each expected element is matched by a distinct
/// actual one (`[1.0, 1.0]` needs two instances of 1.0).
fn contains_elements(actual: &[String], expected: &[String]) -> bool {
    let mut left: Vec<&String> = actual.iter().collect();
    expected
        .iter()
        .all(|want| match left.iter().position(|a| *a == want) {
            Some(i) => {
                left.swap_remove(i);
                true
            }
            None => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgdb::Manager;

    fn check(name: &str, installed: bool, versions: Option<&[&str]>) -> PackageCheck {
        PackageCheck {
            name: name.into(),
            installed,
            versions: versions.map(|v| v.iter().map(|s| s.to_string()).collect()),
            manager: None,
            platforms: None,
            title: None,
        }
    }

    fn rpm_db(packages: &[(&str, &str)]) -> Result<Database, String> {
        Ok(Database {
            format: Format::RpmBerkeleyDb,
            path: "/var/lib/rpm/Packages".into(),
            packages: packages
                .iter()
                .map(|(n, v)| Installed {
                    name: n.to_string(),
                    version: v.to_string(),
                    arch: Some("x86_64".into()),
                })
                .collect(),
        })
    }

    #[test]
    fn installed_absent_and_the_version_list_as_goss_judges_them() {
        let db = rpm_db(&[
            ("kernel", "5.14.0-1.el9"),
            ("kernel", "5.14.0-2.el9"),
            ("bash", "5.1.8-9.el9"),
        ]);
        assert!(package(&check("bash", true, None), &db).is_empty());
        assert!(package(&check("bash", true, Some(&["5.1.8-9.el9"])), &db).is_empty());
        // Two kernels installed: either version, or both, is among them.
        assert!(package(&check("kernel", true, Some(&["5.14.0-2.el9"])), &db).is_empty());
        assert!(
            package(
                &check("kernel", true, Some(&["5.14.0-2.el9", "5.14.0-1.el9"])),
                &db
            )
            .is_empty()
        );
        // One instance cannot match the same version twice.
        let twice = package(
            &check("bash", true, Some(&["5.1.8-9.el9", "5.1.8-9.el9"])),
            &db,
        );
        assert_eq!(twice[0].check, "version");
        let wrong = package(&check("bash", true, Some(&["5.2.15-2"])), &db);
        assert_eq!(
            (wrong[0].expected.as_str(), wrong[0].actual.as_str()),
            ("installed versions include 5.2.15-2", "5.1.8-9.el9")
        );
        let missing = package(&check("zsh", true, Some(&["5.9"])), &db);
        assert_eq!(missing.len(), 1, "no version judged when not installed");
        assert_eq!(
            missing[0].actual,
            "not installed (rpm (Berkeley DB) database /var/lib/rpm/Packages lists 3 packages)"
        );
        assert!(package(&check("zsh", false, None), &db).is_empty());
        let present = package(&check("kernel", false, None), &db);
        assert!(
            present[0]
                .actual
                .starts_with("installed: 5.14.0-1.el9, 5.14.0-2.el9")
        );
    }

    #[test]
    fn no_database_is_a_failure_that_says_what_was_looked_for() {
        let mut c = check("bash", false, None);
        c.manager = Some(Manager::Rpm);
        let m = package(&c, &Err("none of /var/lib/rpm/Packages exists".into()));
        assert_eq!(m[0].check, "package database");
        assert_eq!(m[0].expected, "a readable rpm database");
    }
}
