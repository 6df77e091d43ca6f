//! The text databases: dpkg's `status` and apk's `installed`, both stanzas of `Key: value`
//! (apk: `K:value`) lines separated by blank lines.

use super::{Installed, MAX_PACKAGES};

/// The stanzas of a text database, each as its lines (continuation lines included).
fn stanzas(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.split("\n\n")
        .map(|s| s.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
}

fn too_many() -> String {
    format!("more than {MAX_PACKAGES} packages")
}

/// dpkg's status file: the instances `dpkg-query -W` reports as installed. goss counts a line
/// whose status begins `install ok installed` or `hold ok installed` (system/package_deb.go);
/// the version is `Version:` as stored, epoch included.
pub fn dpkg(bytes: &[u8]) -> Result<Vec<Installed>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let text = text.replace("\r\n", "\n");
    let mut out = Vec::new();
    for stanza in stanzas(&text) {
        let field = |key: &str| {
            stanza.iter().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        let (Some(name), Some(status)) = (field("Package"), field("Status")) else {
            continue;
        };
        if !(status.starts_with("install ok installed") || status.starts_with("hold ok installed"))
        {
            continue;
        }
        if out.len() == MAX_PACKAGES {
            return Err(too_many());
        }
        out.push(Installed {
            name: name.to_owned(),
            version: field("Version").unwrap_or_default().to_owned(),
            arch: field("Architecture").map(str::to_owned),
        });
    }
    Ok(out)
}

/// apk's installed database: `P:` name, `V:` version (what `apk version` prints after the
/// name), `A:` architecture. Every stanza is an installed package.
pub fn apk(bytes: &[u8]) -> Result<Vec<Installed>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let mut out = Vec::new();
    for stanza in stanzas(text) {
        let field = |key: &str| stanza.iter().find_map(|l| l.strip_prefix(key));
        let Some(name) = field("P:") else { continue };
        if out.len() == MAX_PACKAGES {
            return Err(too_many());
        }
        out.push(Installed {
            name: name.to_owned(),
            version: field("V:").unwrap_or_default().to_owned(),
            arch: field("A:").map(str::to_owned),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stanzas as Debian bookworm's dpkg writes them (a description's continuation lines, a
    /// package removed but not purged, an epoch).
    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nPriority: optional\n\
Architecture: amd64\nMulti-Arch: same\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n \
Contains the standard libraries.\n .\n More.\n\nPackage: libc6\nStatus: install ok installed\n\
Architecture: i386\nVersion: 2.36-9+deb12u4\n\nPackage: gone\nStatus: deinstall ok config-files\n\
Architecture: amd64\nVersion: 1.0-1\n\nPackage: perl-base\nStatus: hold ok installed\n\
Architecture: amd64\nVersion: 5.36.0-7+deb12u1\n\nPackage: adduser\nStatus: install ok installed\n\
Architecture: all\nVersion: 1:3.134\n";

    #[test]
    fn dpkg_lists_installed_and_held_instances_with_their_epoch() {
        let got = dpkg(STATUS.as_bytes()).expect("parses");
        let names: Vec<(&str, &str, Option<&str>)> = got
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("libc6", "2.36-9+deb12u4", Some("amd64")),
                ("libc6", "2.36-9+deb12u4", Some("i386")),
                ("perl-base", "5.36.0-7+deb12u1", Some("amd64")),
                ("adduser", "1:3.134", Some("all")),
            ]
        );
    }

    #[test]
    fn apk_reads_name_version_and_arch() {
        let db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:aarch64\nS:383152\n\nC:Q1def=\nP:busybox\n\
V:1.36.1-r15\nA:aarch64\n";
        let got = apk(db.as_bytes()).expect("parses");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].name.as_str(), got[0].version.as_str()),
            ("musl", "1.2.4-r2")
        );
        assert_eq!(got[1].arch.as_deref(), Some("aarch64"));
    }

    #[test]
    fn binary_bytes_are_not_a_text_database() {
        assert!(dpkg(b"\xff\xfe").expect_err("an error").contains("UTF-8"));
        assert!(apk(b"P:x\xff").is_err());
    }
}
