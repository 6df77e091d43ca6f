//! Stamps the git commit into `archsmoke --version` (`ARCHSMOKE_LONG_VERSION`).
//!
//! The commit comes from `ARCHSMOKE_GIT_COMMIT` when set (a build from a tarball that knows its
//! commit), else from `git` when the sources are a checkout; without either the version is the
//! crate version alone. No build dependency: `git` is run as a process and may be missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ARCHSMOKE_GIT_COMMIT");
    let version = env!("CARGO_PKG_VERSION");
    let commit = match std::env::var("ARCHSMOKE_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => Some((commit.trim().to_owned(), None)),
        _ => from_git(),
    };
    let long = match commit {
        Some((commit, Some(date))) => format!("{version} (commit {commit} {date})"),
        Some((commit, None)) => format!("{version} (commit {commit})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=ARCHSMOKE_LONG_VERSION={long}");
}

/// The short commit and its date, and rerun-if-changed lines for the files that move with the
/// commit (HEAD, the branch's ref, packed-refs), so a new commit rebuilds and nothing else does.
fn from_git() -> Option<(String, Option<String>)> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Sources unpacked inside some other repository (a vendored crate) are not its commit.
    let top = git(&dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let git_dir = git(&dir, &["rev-parse", "--absolute-git-dir"])?;
    let common_dir = git(
        &dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .unwrap_or_else(|| git_dir.clone());
    let git_dir = Path::new(&git_dir);
    let common_dir = Path::new(&common_dir);
    rerun_if_changed(&git_dir.join("HEAD"));
    if let Some(head_ref) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        rerun_if_changed(&common_dir.join(head_ref));
    }
    rerun_if_changed(&common_dir.join("packed-refs"));
    let commit = git(&dir, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(
        &dir,
        &["log", "-1", "--format=%cd", "--date=format:%Y-%m-%d"],
    );
    Some((commit, date))
}

fn rerun_if_changed(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
