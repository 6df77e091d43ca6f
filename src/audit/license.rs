//! Licence checks as container-structure-test's `licenseTests` make them: with `debian`, every
//! package directory directly under `/usr/share/doc` (but `libgnutls30`, which cst exempts)
//! needs a `copyright` file; that file and every file of `files` must not mention a forbidden
//! licence (`AGPL`, `WTFPL`, compared in upper case).

use std::future::Future;

use crate::check::fs::{EntryKind, Lookup, MergedFs};
use crate::outcome::Mismatch;
use crate::spec::LicenseCheck;

const DOC_ROOT: &str = "/usr/share/doc";
const EXEMPT: &str = "libgnutls30";
const FORBIDDEN: [&str; 2] = ["AGPL", "WTFPL"];

/// The licence check's mismatches; `read` gives a file's bytes (symlinks followed), `None` when
/// there is no regular file there.
pub async fn check<F, Fut>(
    license: &LicenseCheck,
    fs: &MergedFs,
    read: F,
) -> Result<Vec<Mismatch>, String>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Vec<u8>>, String>>,
{
    let mut out = Vec::new();
    let mut files: Vec<String> = Vec::new();
    if license.debian {
        match fs.lookup(DOC_ROOT, true) {
            Lookup::Found { entry, .. } if entry.kind == EntryKind::Directory => {}
            _ => out.push(Mismatch::new(
                DOC_ROOT,
                "a directory of package documentation",
                "missing",
            )),
        }
        let prefix = format!("{DOC_ROOT}/");
        let packages: Vec<String> = fs
            .entries()
            .filter(|(_, e)| e.kind == EntryKind::Directory)
            .filter_map(|(_, e)| e.path.strip_prefix(&prefix).map(str::to_owned))
            .filter(|p| !p.is_empty() && !p.contains('/') && p != EXEMPT)
            .collect();
        for p in packages {
            let path = format!("{prefix}{p}/copyright");
            if matches!(fs.lookup(&path, false), Lookup::Found { .. }) {
                files.push(path);
            } else {
                out.push(Mismatch::new(
                    format!("copyright of {p}"),
                    "present",
                    "missing",
                ));
            }
        }
    }
    files.extend(license.files.iter().cloned());
    for path in files {
        match read(path.clone()).await? {
            None => out.push(Mismatch::new(
                format!("licence file {path}"),
                "a readable file",
                "missing or not a regular file",
            )),
            Some(bytes) => {
                let upper = String::from_utf8_lossy(&bytes).to_uppercase();
                for word in FORBIDDEN {
                    if upper.contains(word) {
                        out.push(Mismatch::new(
                            format!("licence of {path}"),
                            "no forbidden licence (AGPL, WTFPL)",
                            format!("mentions {word}"),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}
