//! A fresh clone must pass its own tests: no tracked file may reach outside the repository.
//!
//! Every relative path that starts with `../` in a tracked text file is resolved twice, against
//! the file's own directory (scripts, `include_str!`) and against the repository root (tests
//! that join onto `CARGO_MANIFEST_DIR`). A path that climbs above the root both ways would read
//! something a clone does not have, such as a `shared/` directory that happens to sit beside this
//! checkout. A line that means a path inside an image, not on the host, says so with the marker
//! `self-contained: image path` on that line or the one before.

use std::path::{Component, Path};
use std::process::Command;

const MARKER: &str = "self-contained: image path";

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files: {listed:?}");
    let mut escapes = Vec::new();
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name == "tests/self_contained.rs" {
            continue; // its own unit test feeds the checker such paths on purpose
        }
        let Ok(text) = std::fs::read_to_string(root.join(&name)) else {
            continue; // binary files hold no paths a tool would follow
        };
        let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
        let mut previous = "";
        for (n, line) in text.lines().enumerate() {
            let marked = line.contains(MARKER) || previous.contains(MARKER);
            previous = line;
            if marked {
                continue;
            }
            for path in relative_parent_paths(line) {
                if climbs_out(&dir.join(&path)) && climbs_out(Path::new(&path)) {
                    escapes.push(format!("{name}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(
        escapes.is_empty(),
        "tracked files refer to paths outside the repository (a fresh clone has none of them; \
         vendor what they need into the repository):\n  {}",
        escapes.join("\n  ")
    );
}

#[test]
fn the_checker_sees_a_sibling_directory_and_lets_inner_paths_pass() {
    // Joined at run time, so that no grep for such paths trips over this file.
    let sibling = ["..", "shared", "junit", "junit-10.xsd"].join("/");
    assert_eq!(
        relative_parent_paths(&format!(r#"let x = root.join("{sibling}");"#)),
        [sibling.as_str()]
    );
    assert!(climbs_out(Path::new(&sibling)));
    assert!(!climbs_out(
        &Path::new("src/emulation").join("../../qemu/binfmt.toml")
    ));
    // An absolute path with `..` inside is not relative to anything of ours.
    assert!(relative_parent_paths(r#""/a/../../etc""#).is_empty());
    assert_eq!(relative_parent_paths("cd ../..; ls"), ["../.."]);
}

/// The runs of text in `line` that start with `../` where a relative path can start (not in
/// the middle of another path or word).
fn relative_parent_paths(line: &str) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = line[i..].find("../").map(|p| p + i) {
        let starts_path = at == 0
            || !matches!(bytes[at - 1], b'.' | b'/' | b'_' | b'-' | b'~' | b'$')
                && !bytes[at - 1].is_ascii_alphanumeric();
        let end = line[at..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | ';' | ',' | ':')
            })
            .map_or(line.len(), |e| at + e);
        if starts_path {
            found.push(line[at..end].trim_end_matches('/').to_owned());
        }
        i = end.max(at + 3);
    }
    found
}

/// Whether `path`, relative to the repository root, climbs above it.
fn climbs_out(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}
