//! The README and the user guide (guide/, mdBook) cannot drift from the tool: the README stays a
//! front page (size, sections, its first screen), every spec the docs show is validated by
//! `archsmoke validate`, and every link between the README, SUMMARY.md and the chapters resolves.
//!
//! A ```` ```toml ```` block is a spec and must validate. A block that is TOML but not a whole
//! spec (an `[[engine]]` table alone, a fragment of a longer example) is marked
//! ```` ```toml,fragment ```` (mdBook highlights it as TOML all the same) and must still parse.

mod common;

use std::path::{Path, PathBuf};

use common::repo_root;

/// One fenced block of a Markdown file: its info string, its first line's number, its text.
struct Block {
    file: PathBuf,
    line: usize,
    info: String,
    text: String,
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    file: file.to_path_buf(),
                    line: i + 2,
                    info: info.trim().to_owned(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(
        open.is_none(),
        "{}: a code block is never closed",
        file.display()
    );
    out
}

fn guide_chapters() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("guide/src"))
        .expect("guide/src")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo_root().join("README.md")];
    files.extend(guide_chapters());
    files
}

fn where_(b: &Block) -> String {
    format!(
        "{}:{}",
        b.file
            .strip_prefix(repo_root())
            .unwrap_or(&b.file)
            .display(),
        b.line
    )
}

#[test]
fn every_spec_in_the_readme_and_the_guide_validates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut specs = Vec::new();
    let mut fragments = 0;
    for b in documents().iter().flat_map(|f| blocks(f)) {
        match b.info.as_str() {
            "toml" => specs.push(b),
            "toml,fragment" => {
                fragments += 1;
                if let Err(e) = b.text.parse::<toml::Table>() {
                    panic!("{}: a toml,fragment block is not TOML: {e}", where_(&b));
                }
            }
            other if other.starts_with("toml") => {
                panic!("{}: unknown TOML block kind ```{other}", where_(&b))
            }
            _ => {}
        }
    }
    assert!(specs.len() >= 5, "only {} spec blocks found", specs.len());
    let mut failures = Vec::new();
    for (i, b) in specs.iter().enumerate() {
        // One file per block, validated one by one, so a failure names the block.
        let path = dir.path().join(format!("block-{i}.toml"));
        std::fs::write(&path, &b.text).expect("write block");
        let r = common::run(&["validate", path.to_str().expect("utf-8")]);
        if r.code != 0 {
            failures.push(format!("{} (exit {}):\n{}", where_(b), r.code, r.stderr));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} spec blocks do not validate (mark a block that is not a whole spec \
         ```toml,fragment):\n{}",
        failures.len(),
        specs.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} spec blocks validate, {fragments} fragments parse",
        specs.len()
    );
}

/// The targets of inline Markdown links `[text](target)` in a file, outside code blocks.
fn links(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).expect("read");
    let mut out = Vec::new();
    let mut fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push((i + 1, tail[..end].to_owned()));
            rest = &tail[end..];
        }
    }
    out
}

/// Relative links to files must name a file that exists (anchors are not checked).
fn broken_links(file: &Path) -> Vec<String> {
    let base = file.parent().expect("parent");
    links(file)
        .into_iter()
        .filter(|(_, t)| !t.contains("://") && !t.starts_with('#') && !t.starts_with("mailto:"))
        .filter(|(_, t)| {
            let path = t.split('#').next().unwrap_or(t);
            !base.join(path).exists()
        })
        .map(|(line, t)| format!("{}:{line}: {t}", file.display()))
        .collect()
}

#[test]
fn the_summary_lists_every_chapter_and_every_link_resolves() {
    let summary = repo_root().join("guide/src/SUMMARY.md");
    let listed: Vec<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    assert!(!listed.is_empty(), "SUMMARY.md lists no chapter");
    for chapter in guide_chapters() {
        let name = chapter.file_name().and_then(|n| n.to_str()).expect("name");
        if name != "SUMMARY.md" {
            assert!(
                listed.iter().any(|l| l == name),
                "guide/src/{name} is not in SUMMARY.md: mdBook would not build it"
            );
        }
    }
    let broken: Vec<String> = documents().iter().flat_map(|f| broken_links(f)).collect();
    assert!(
        broken.is_empty(),
        "links to missing files:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_is_a_front_page_with_the_first_steps_on_its_first_screen() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() <= 400,
        "README.md has {} lines; move reference material into the guide (guide/src/)",
        lines.len()
    );
    let first_screen = lines[..lines.len().min(30)].join("\n");
    for must in ["tests/demo", "tests/run", "guide"] {
        assert!(
            first_screen.contains(must),
            "the README's first screen does not mention {must}"
        );
    }
    let headings: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("## "))
        .collect();
    for (want, why) in [
        ("## Quick start", "the two commands for a fresh clone"),
        ("## Install", "how to install"),
        (
            "## Your first spec",
            "`init` then a first spec with its output",
        ),
        ("## In CI", "the CI recipe"),
        ("## The user guide", "links into the guide"),
    ] {
        assert!(
            headings.iter().any(|h| h.starts_with(want)),
            "README.md has no `{want}` section ({why}); its sections: {headings:?}"
        );
    }
    // One install section, not "Install" and "Installing".
    assert_eq!(
        headings
            .iter()
            .filter(|h| h.starts_with("## Install"))
            .count(),
        1,
        "{headings:?}"
    );
    let init = text
        .find("archsmoke init")
        .expect("README shows `archsmoke init`");
    let run = text
        .find("archsmoke run")
        .expect("README shows `archsmoke run`");
    assert!(init < run, "`init` must come before the first `run`");
    for command in ["init", "completions", "man", "validate"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("archsmoke {command}"))),
            "the README's command list lacks `archsmoke {command}`"
        );
    }
}

/// The guide builds with the pinned mdBook (`scripts/guide.sh` installs it once when missing;
/// `tests/run` builds the guide before the tests), and every chapter of SUMMARY.md becomes a page.
#[test]
fn the_guide_builds_with_mdbook_into_a_page_per_chapter() {
    let dest = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(repo_root().join("scripts/guide.sh"))
        .arg("build")
        .arg(dest.path())
        .output()
        .expect("scripts/guide.sh runs");
    assert!(
        out.status.success(),
        "scripts/guide.sh build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for chapter in guide_chapters() {
        let name = chapter.file_stem().and_then(|n| n.to_str()).expect("name");
        if name != "SUMMARY" {
            let page = dest.path().join(format!("{name}.html"));
            assert!(page.exists(), "{} was not built", page.display());
        }
    }
}

/// The README's matrices are pasted output: each carries the footnote the terminal prints now
/// (it changed with issue 24's TIME and SLOW; an old paste would tell a newcomer the old story).
#[test]
fn the_readmes_matrices_show_the_footnote_the_terminal_prints() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let matrices = text.matches("PLATFORM  ").count();
    assert!(
        matrices >= 2,
        "the README shows the demo's and a first spec's output"
    );
    assert_eq!(
        text.matches(archsmoke::report::terminal::MATRIX_FOOTNOTE)
            .count(),
        matrices,
        "every matrix in README.md is followed by the footnote as printed:\n{}",
        archsmoke::report::terminal::MATRIX_FOOTNOTE
    );
}
