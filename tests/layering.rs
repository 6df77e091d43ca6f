//! The architecture's import rules (ARCHITECTURE.md), checked on the source text: the reports'
//! contract and the reporters never reach the engine or the image source, the checks are pure,
//! and only the engine module speaks to Docker. Comments are skipped, so documentation may
//! still name any module.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file at or under `path` (relative to the crate root).
fn sources(path: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for entry in fs::read_dir(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) {
                stack.push(entry.expect("directory entry").path());
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    assert!(!out.is_empty(), "{path}: no sources; was it moved?");
    out
}

/// `file:line: text` for each code line (not a comment) of `paths` that names one of `banned`.
fn violations(paths: &[&str], banned: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in paths.iter().flat_map(|p| sources(p)) {
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(name) = banned.iter().find(|b| names(code, b)) {
                found.push(format!("{}:{}: {name}: {}", file.display(), n + 1, code));
            }
        }
    }
    found
}

/// Whether `code` names the path `name` (`crate::engine`, not `crate::engines`).
fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(i, _)| {
        !code[i + name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn the_contract_is_plain_data_over_platform() {
    let found = violations(
        &["src/outcome.rs", "src/event.rs", "src/mode.rs"],
        &[
            "crate::engine",
            "crate::image",
            "crate::emulation",
            "crate::run",
            "crate::plan",
            "crate::pipeline",
            "crate::profile",
            "crate::audit",
            "crate::check",
            "crate::report",
            "crate::spec",
            "bollard",
            "oci_client",
        ],
    );
    assert!(
        found.is_empty(),
        "the contract imports:\n{}",
        found.join("\n")
    );
}

#[test]
fn reporters_read_only_the_contract() {
    let found = violations(
        &["src/report"],
        &[
            "crate::engine",
            "crate::image",
            "crate::emulation",
            "crate::run",
            "crate::plan",
            "crate::pipeline",
            "crate::profile",
            "crate::audit",
            "crate::probe",
            "crate::spec",
            "bollard",
            "oci_client",
        ],
    );
    assert!(found.is_empty(), "reporters import:\n{}", found.join("\n"));
}

#[test]
fn checks_never_touch_the_engine_or_the_image_source() {
    let found = violations(
        &["src/check"],
        &["crate::engine", "crate::image", "bollard", "oci_client"],
    );
    assert!(found.is_empty(), "checks import:\n{}", found.join("\n"));
}

#[test]
fn only_the_engine_module_speaks_to_docker() {
    let others: Vec<String> = violations(&["src"], &["bollard"])
        .into_iter()
        .filter(|v| !v.contains("/src/engine/"))
        .collect();
    assert!(
        others.is_empty(),
        "bollard outside src/engine:\n{}",
        others.join("\n")
    );
}

#[test]
fn the_scan_sees_an_import_and_skips_a_comment() {
    let dir = std::env::temp_dir().join(format!("archsmoke-layering-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("probe.rs");
    fs::write(
        &file,
        "//! Names [`crate::engine`] in a doc.\nuse crate::engines::X;\nuse crate::engine::Engine;\n",
    )
    .expect("write");
    let relative = file.to_str().expect("utf-8 path");
    // `sources` joins onto the crate root; an absolute path replaces it.
    let found = violations(&[relative], &["crate::engine"]);
    fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].ends_with("use crate::engine::Engine;"),
        "{found:?}"
    );
}
