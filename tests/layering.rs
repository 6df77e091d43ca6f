//! The architecture's import rules (ARCHITECTURE.md), checked on the crate's real import graph.
//!
//! Every production file under `src/` is read as Rust text: comments, strings and `#[cfg(test)]`
//! modules (inline or in files of their own) are blanked, then every path that starts at
//! `crate::`, `super::` or an external crate is resolved to the module it names, grouped imports
//! (`use crate::{a, b::c}`) included. Each rule below is one "never" of ARCHITECTURE.md, and
//! `every_rule_fails_on_a_tree_that_breaks_it` shows each one failing on a small source tree
//! made to break it, so no rule can pass by reading nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One production file: its module path (`["run", "exec"]`) and every path it names.
struct Source {
    file: String,
    module: Vec<String>,
    refs: Vec<Ref>,
}

/// A path named in code: `crate`-relative segments (`["engine", "endpoint", "X"]`), or an
/// external crate's (`["::bollard", "Docker"]`).
struct Ref {
    line: usize,
    path: Vec<String>,
}

/// Every production source under `root` (a crate's `src`), read.
fn read_tree(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for entry in fs::read_dir(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) {
                stack.push(entry.expect("directory entry").path());
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    assert!(
        !files.is_empty(),
        "{}: no sources; was it moved?",
        root.display()
    );
    let texts: BTreeMap<PathBuf, String> = files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, blank(&text))
        })
        .collect();
    let tests = test_files(&texts);
    texts
        .iter()
        .filter(|(f, _)| !tests.contains(*f))
        .filter_map(|(f, code)| {
            let module = module_of(root, f)?;
            let code = drop_test_modules(code);
            Some(Source {
                file: f.display().to_string(),
                refs: references(&code, &module),
                module,
            })
        })
        .collect()
}

/// The module a file defines (`src/run/exec.rs` → `run::exec`, `src/run/mod.rs` → `run`);
/// `None` for the crate root and the binary.
fn module_of(root: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(root).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    (!parts.is_empty() && parts != ["lib"] && parts != ["main"]).then_some(parts)
}

/// The files that `#[cfg(test)] mod x;` (with or without `#[path]`) brings in: test code,
/// which may reach anything.
fn test_files(texts: &BTreeMap<PathBuf, String>) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for (file, code) in texts {
        let dir = file.parent().expect("a file has a folder");
        let stem = file
            .file_stem()
            .expect("a file has a name")
            .to_string_lossy();
        // A non-`mod.rs` file's children live in the folder of its name.
        let children = if stem == "mod" || stem == "lib" || stem == "main" {
            dir.to_path_buf()
        } else {
            dir.join(&*stem)
        };
        let original = fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = code.lines().collect();
        let originals: Vec<&str> = original.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() != "#[cfg(test)]" {
                continue;
            }
            let mut j = i + 1;
            let mut path_attr = None;
            // `#[path = "x.rs"]`: the string was blanked, so it is read from the original.
            while let Some(next) = lines.get(j)
                && next.trim_start().starts_with("#[")
            {
                let o = originals.get(j).copied().unwrap_or_default();
                if let Some(rest) = o.trim().strip_prefix("#[path = \"") {
                    path_attr = rest.split('"').next().map(str::to_owned);
                }
                j += 1;
            }
            let Some(decl) = lines.get(j).map(|l| l.trim()) else {
                continue;
            };
            let Some(name) = decl
                .strip_prefix("mod ")
                .or_else(|| decl.strip_prefix("pub mod "))
                .and_then(|d| d.strip_suffix(';'))
            else {
                continue;
            };
            match path_attr {
                // `#[path]` on a module declared in a non-`mod.rs` file is relative to the
                // file's own folder.
                Some(p) => {
                    out.insert(dir.join(p));
                }
                None => {
                    out.insert(children.join(format!("{name}.rs")));
                    out.insert(children.join(name).join("mod.rs"));
                }
            }
        }
    }
    out
}

/// `text` with comments, string and character literals replaced by spaces (line breaks kept,
/// so line numbers hold).
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && !prev_ident
            && matches!(c.get(i + 1), Some('"' | '#'))
            && c[i + 1..].iter().find(|&&x| x != '#') == Some(&'"')
        {
            // A raw string: r"…", r#"…"#.
            let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
            out.push(' ');
            i += 2 + hashes;
            out.extend(std::iter::repeat_n(' ', hashes + 1));
            while i < c.len() {
                if c[i] == '"'
                    && c[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&x| x == '#')
                        .count()
                        == hashes
                {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += 1 + hashes;
                    break;
                }
                out.push(keep(c[i]));
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(keep(c[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && !prev_ident {
            // A character literal ('x', '\n', '\u{..}'), else a lifetime or label.
            let end = if c.get(i + 1) == Some(&'\\') {
                c[i + 3..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map(|p| i + 3 + p)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.extend(std::iter::repeat_n(' ', e - i + 1));
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `code` without its inline `#[cfg(test)] mod x { … }` blocks (line breaks kept).
fn drop_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut lines = code.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        if line.trim() != "#[cfg(test)]" {
            continue;
        }
        let opens = lines.peek().is_some_and(|l| {
            let t = l.trim();
            (t.starts_with("mod ") || t.starts_with("pub mod ")) && t.ends_with('{')
        });
        if !opens {
            continue;
        }
        let mut depth = 0i64;
        for l in lines.by_ref() {
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            out.push('\n');
            if depth <= 0 {
                break;
            }
        }
    }
    out
}

/// Tokens of blanked code, with their line: identifiers, `::`, and single characters.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let c: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < c.len() {
            if c[i].is_alphanumeric() || c[i] == '_' {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push((n + 1, c[start..i].iter().collect()));
            } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
                out.push((n + 1, "::".into()));
                i += 2;
            } else if c[i].is_whitespace() {
                i += 1;
            } else {
                out.push((n + 1, c[i].to_string()));
                i += 1;
            }
        }
    }
    out
}

/// The external crates whose use the rules restrict.
const EXTERNAL: &[&str] = &["bollard", "oci_client", "reqwest", "tokio", "std"];

/// Every path `code` names from the crate root, a parent module or a restricted external crate,
/// resolved for a file of `module`.
fn references(code: &str, module: &[String]) -> Vec<Ref> {
    let t = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let after_path = i > 0 && t[i - 1].1 == "::";
        let word = t[i].1.as_str();
        let next_is_path = t.get(i + 1).is_some_and(|x| x.1 == "::");
        if after_path || !next_is_path {
            i += 1;
            continue;
        }
        let base: Option<Vec<String>> = match word {
            "crate" => Some(Vec::new()),
            "super" => {
                let mut base = module.to_vec();
                let mut j = i;
                while t.get(j).is_some_and(|x| x.1 == "super")
                    && t.get(j + 1).is_some_and(|x| x.1 == "::")
                {
                    base.pop();
                    j += 2;
                }
                i = j - 2;
                Some(base)
            }
            w if EXTERNAL.contains(&w) => Some(vec![format!("::{w}")]),
            _ => None,
        };
        let Some(base) = base else {
            i += 1;
            continue;
        };
        let line = t[i].0;
        let mut paths = Vec::new();
        let end = tree(&t, i + 2, base, &mut paths);
        out.extend(paths.into_iter().map(|path| Ref { line, path }));
        i = end.max(i + 1);
    }
    out
}

/// Reads a path tree from token `i` (after a `::`) onto `prefix`: `a::b`, `{a, b::{c, d}}`;
/// pushes every full path and returns the index after it.
fn tree(
    t: &[(usize, String)],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match t.get(i).map(|x| x.1.as_str()) {
            Some("{") => {
                i += 1;
                loop {
                    match t.get(i).map(|x| x.1.as_str()) {
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        None => return i,
                        Some(_) => i = tree(t, i, prefix.clone(), out),
                    }
                }
            }
            Some(w) if w.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                if w != "self" {
                    prefix.push(w.to_owned());
                }
                if t.get(i + 1).is_some_and(|x| x.1 == "::") {
                    i += 2;
                } else {
                    out.push(prefix);
                    return i + 1;
                }
            }
            // `*` or anything else ends the path.
            _ => {
                out.push(prefix);
                return i + 1;
            }
        }
    }
}

/// Whether `path` is `prefix` or under it, segment by segment (`engine` is not `engines`);
/// an external crate's prefix starts with `::`.
fn under(path: &[String], prefix: &str) -> bool {
    let mut segments: Vec<String> = Vec::new();
    let (external, rest) = match prefix.strip_prefix("::") {
        Some(rest) => (true, rest),
        None => (false, prefix),
    };
    for (n, s) in rest.split("::").filter(|s| !s.is_empty()).enumerate() {
        segments.push(if external && n == 0 {
            format!("::{s}")
        } else {
            s.to_owned()
        });
    }
    path.len() >= segments.len() && path.iter().zip(&segments).all(|(a, b)| a == b)
}

/// One rule: code in modules under any of `from` never names a path under any of `never`,
/// except under `unless`.
struct Rule {
    name: &'static str,
    from: &'static [&'static str],
    /// Modules the rule spares although they are under `from`.
    except_from: &'static [&'static str],
    never: &'static [&'static str],
    /// Paths under `never` that stay allowed.
    unless: &'static [&'static str],
}

/// The import rules ARCHITECTURE.md states; `""` in `from` is every module.
const RULES: &[Rule] = &[
    Rule {
        name: "the contract (outcome, event, mode) is plain data over platform",
        from: &["outcome", "event", "mode"],
        except_from: &[],
        never: &[
            "engine",
            "image",
            "emulation",
            "run",
            "backend",
            "plan",
            "pipeline",
            "profile",
            "audit",
            "check",
            "report",
            "spec",
            "service",
            "cli",
            "::bollard",
            "::oci_client",
            "::tokio",
        ],
        unless: &[],
    },
    Rule {
        name: "reporters read the contract and never touch the engine, the image or the run",
        from: &["report"],
        except_from: &[],
        never: &[
            "engine",
            "image",
            "emulation",
            "run",
            "backend",
            "plan",
            "pipeline",
            "profile",
            "audit",
            "probe",
            "spec",
            "service",
            "cli",
            "::bollard",
            "::oci_client",
            "::reqwest",
        ],
        unless: &[],
    },
    Rule {
        name: "checks are pure: no I/O, no engine or image types, and the audit feeds them",
        from: &["check"],
        except_from: &[],
        never: &[
            "engine",
            "image",
            "audit",
            "backend",
            "run",
            "service",
            "pipeline",
            "::bollard",
            "::oci_client",
            "::tokio",
            "::std::fs",
            "::std::net",
            "::std::process",
        ],
        unless: &[],
    },
    Rule {
        name: "package database readers are pure: bytes in, packages out",
        from: &["pkgdb"],
        except_from: &[],
        never: &[
            "audit",
            "check",
            "image",
            "engine",
            "spec",
            "::tokio",
            "::std::fs",
            "::std::net",
            "::std::process",
        ],
        unless: &[],
    },
    Rule {
        name: "the plan and the router are pure: no I/O, no engine",
        from: &["plan", "route"],
        except_from: &[],
        never: &[
            "engine",
            "backend",
            "run",
            "service",
            "pipeline",
            "report",
            "::bollard",
            "::oci_client",
            "::tokio",
            "::std::fs",
            "::std::net",
        ],
        unless: &[],
    },
    Rule {
        name: "the runner never formats output",
        from: &["run", "backend", "service"],
        except_from: &[],
        never: &["report", "pipeline", "cli"],
        unless: &[],
    },
    Rule {
        name: "services are called by the runner and never call it",
        from: &["service"],
        except_from: &[],
        never: &["run"],
        unless: &[],
    },
    Rule {
        name: "the pipeline renders nothing",
        from: &["pipeline"],
        except_from: &[],
        never: &["report", "cli"],
        unless: &[],
    },
    Rule {
        name: "the spec is pure data",
        from: &["spec"],
        except_from: &[],
        never: &[
            "engine",
            "image",
            "run",
            "backend",
            "plan",
            "pipeline",
            "service",
            "report",
            "audit",
            "::bollard",
            "::oci_client",
            "::tokio",
        ],
        unless: &[],
    },
    Rule {
        name: "verify and the statement, envelope and policy of attestations are pure",
        from: &[
            "verify",
            "attest::statement",
            "attest::dsse",
            "attest::policy",
        ],
        except_from: &[],
        never: &[
            "engine",
            "image::registry",
            "backend",
            "run",
            "pipeline",
            "::bollard",
            "::oci_client",
            "::reqwest",
            "::tokio",
            "::std::fs",
            "::std::net",
        ],
        unless: &[],
    },
    Rule {
        name: "only the engine module speaks to Docker",
        from: &[""],
        except_from: &["engine"],
        never: &["::bollard"],
        unless: &[],
    },
    Rule {
        name: "only image::registry speaks to registries",
        from: &[""],
        except_from: &["image::registry"],
        never: &["::oci_client", "::reqwest"],
        // The reference grammar is oci-client's parser, not its client.
        unless: &["::oci_client::Reference", "::oci_client::ParseError"],
    },
    Rule {
        name: "the library never reaches into the command line",
        from: &[""],
        except_from: &["cli"],
        never: &["cli"],
        unless: &[],
    },
];

/// `file:line: path` for every reference that breaks `rule` in `sources`.
fn broken(rule: &Rule, sources: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for s in sources {
        let in_from = rule
            .from
            .iter()
            .any(|f| f.is_empty() || under(&s.module, f));
        if !in_from || rule.except_from.iter().any(|f| under(&s.module, f)) {
            continue;
        }
        for r in &s.refs {
            let names = rule.never.iter().any(|n| under(&r.path, n));
            let spared = rule.unless.iter().any(|n| under(&r.path, n));
            if names && !spared {
                found.push(format!("{}:{}: {}", s.file, r.line, r.path.join("::")));
            }
        }
    }
    found
}

/// The top-level modules' import graph: module → modules it names.
fn graph(sources: &[Source]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in sources {
        let from = s.module[0].clone();
        let edges = g.entry(from.clone()).or_default();
        for r in &s.refs {
            if let Some(to) = r.path.first()
                && !to.starts_with("::")
                && *to != from
            {
                edges
                    .entry(to.clone())
                    .or_insert_with(|| format!("{}:{}", s.file, r.line));
            }
        }
    }
    g
}

/// Every cycle of top-level modules, each as `a -> b -> a` with where each import is.
fn cycles(sources: &[Source]) -> Vec<String> {
    let g = graph(sources);
    let mut out = Vec::new();
    let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in g.keys() {
        // The shortest way back to `start`, breadth first.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        let mut found = None;
        while let Some(m) = queue.pop_front() {
            for to in g.get(&m).into_iter().flat_map(|e| e.keys()) {
                if to == start {
                    found = Some(m.clone());
                    break;
                }
                if !seen.contains_key(to) {
                    seen.insert(to.clone(), m.clone());
                    queue.push_back(to.clone());
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some(last) = found else { continue };
        let mut path = vec![last.clone()];
        while let Some(prev) = seen.get(path.last().expect("non-empty")) {
            if prev == start {
                break;
            }
            path.push(prev.clone());
        }
        path.push(start.clone());
        path.reverse();
        let members: BTreeSet<String> = path.iter().cloned().collect();
        if !reported.insert(members) {
            continue;
        }
        path.push(start.clone());
        let hops: Vec<String> = path
            .windows(2)
            .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        out.push(hops.join("; "));
    }
    out
}

fn crate_sources() -> Vec<Source> {
    read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn every_rule_of_the_architecture_holds() {
    let sources = crate_sources();
    let mut failures = Vec::new();
    for rule in RULES {
        let found = broken(rule, &sources);
        if !found.is_empty() {
            failures.push(format!("{}:\n  {}", rule.name, found.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let found = cycles(&crate_sources());
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_graph_sees_the_imports_the_crate_is_known_to_have() {
    // A reader that saw nothing would pass every rule: these edges exist on purpose.
    let g = graph(&crate_sources());
    for (from, to) in [
        ("pipeline", "run"),
        ("run", "plan"),
        ("run", "backend"),
        ("service", "backend"),
        ("audit", "check"),
        ("report", "outcome"),
        ("plan", "profile"),
    ] {
        assert!(
            g.get(from).is_some_and(|e| e.contains_key(to)),
            "{from} -> {to} not seen; the reader is broken"
        );
    }
}

/// A throwaway source tree: `files` as (path under src, text).
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let root =
            std::env::temp_dir().join(format!("archsmoke-layering-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().expect("parent")).expect("temp dir");
            fs::write(&p, text).expect("write");
        }
        Tree(root)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_rule_fails_on_a_tree_that_breaks_it() {
    // For each rule, a file in its `from` that names its first banned path: the rule must
    // report exactly that line.
    for (n, rule) in RULES.iter().enumerate() {
        let from = rule.from[0];
        let module = if from.is_empty() { "anywhere" } else { from };
        let file = format!("{}.rs", module.replace("::", "/"));
        let banned = rule.never[0];
        let (line, expect) = match banned.strip_prefix("::") {
            Some(ext) => (format!("use {ext}::Thing;\n"), format!("::{ext}::Thing")),
            None => (
                format!("use crate::{banned}::Thing;\n"),
                format!("{banned}::Thing"),
            ),
        };
        let text = format!("//! Names crate::{banned} in a comment only.\n{line}");
        let tree = Tree::new(&format!("rule{n}"), &[(&file, &text)]);
        let found = broken(rule, &read_tree(&tree.0));
        assert_eq!(found.len(), 1, "{}: {found:?}", rule.name);
        assert!(
            found[0].ends_with(&format!(":2: {expect}")),
            "{}: {found:?}",
            rule.name
        );
    }
}

#[test]
fn a_cycle_is_found_and_test_code_is_not_read() {
    let tree = Tree::new(
        "cycle",
        &[
            (
                "a.rs",
                "use crate::b::{self, X};\n#[cfg(test)]\nmod tests {\n    use crate::c::Y;\n}\n",
            ),
            ("b/mod.rs", "mod inner;\n#[cfg(test)]\nmod tests;\n"),
            (
                "b/inner.rs",
                "fn f() { super::super::a::g(); let s = \"crate::c::Z\"; }\n",
            ),
            ("b/tests.rs", "use crate::c::Y;\n"),
            ("c.rs", "use crate::{a::A, d::{D1, D2}};\n"),
        ],
    );
    let sources = read_tree(&tree.0);
    let g = graph(&sources);
    assert_eq!(g["a"].keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(g["b"].keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(g["c"].keys().collect::<Vec<_>>(), ["a", "d"]);
    let found = cycles(&sources);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("a -> b ("), "{found:?}");
}
