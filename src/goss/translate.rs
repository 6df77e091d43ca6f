//! A rendered goss file (and its `goss_wait.yaml`) → archsmoke's TOML spec, resource by
//! resource, with every problem found as a positioned error (not only the first).
//!
//! The image always runs as a `[service]` with its own ENTRYPOINT and CMD, as under dgoss; the
//! wait file becomes `[service.ready]`. Where each goss resource is read from:
//! `file`, `user`, `group`, `package`: the image's layers (`[[file]]`; users and groups as
//! patterns over `/etc/passwd` and `/etc/group`; packages as `[[package]]`, from the dpkg, apk
//! or rpm database), except
//! a file's `owner`/`group` by a name other than root and a user's `groups`, which need the
//! image's own `stat`/`id` (an exec); `process`: the engine's process list; `port`, `http`,
//! `addr`: probes from the service's network namespace; `command`, `kernel-param`: execs in the
//! service container (`command` through `sh -c`, as goss runs it).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use marked_yaml::Node;

use super::matcher::{self, Pos, Problem, Stream, pos};
use crate::spec::SpecError;
use crate::spec::quote::key;
/// A TOML string value (the translators' `s`, short because it is everywhere).
pub(super) use crate::spec::quote::value as s;

/// What dgoss's knobs decide beyond the goss file itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// `GOSS_WAIT_OPTS -r`: how long the wait file is retried (dgoss: 30 s).
    pub wait_retry: Duration,
    /// `GOSS_WAIT_OPTS -s`: the sleep between tries (dgoss: 1 s).
    pub wait_sleep: Duration,
    /// goss's `--package` (from `GOSS_OPTS`): which package database `package` reads; `None`
    /// reads whichever the image has.
    pub package: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait_retry: Duration::from_secs(30),
            wait_sleep: Duration::from_secs(1),
            package: None,
        }
    }
}

/// A source file being translated: its path and rendered text, for positions.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

pub struct Translation {
    pub toml: String,
    pub errors: Vec<SpecError>,
}

pub(super) fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| s(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The check that the image has the shell goss runs commands with.
pub const SHELL_CHECK: &str = "Command shell: /bin/sh";

/// goss's report names: `Type: id`, as `goss validate` prints them.
const KINDS: [(&str, &str); 16] = [
    ("file", "File"),
    ("process", "Process"),
    ("port", "Port"),
    ("http", "HTTP"),
    ("command", "Command"),
    ("user", "User"),
    ("group", "Group"),
    ("package", "Package"),
    ("addr", "Addr"),
    ("kernel-param", "KernelParam"),
    ("dns", "DNS"),
    ("mount", "Mount"),
    ("interface", "Interface"),
    ("service", "Service"),
    ("matching", "Matching"),
    ("gossfile", "Gossfile"),
];

/// Every top-level key a goss file may have.
pub fn is_resource(key: &str) -> bool {
    KINDS.iter().any(|(k, _)| *k == key)
}

#[derive(Default)]
pub(super) struct Out {
    pub tests: String,
    pub files: String,
    pub probes: String,
    pub processes: String,
    /// `[meta."<result>"]` tables: each resource's `meta`, for every result it gives.
    pub meta: String,
    /// Some check runs through `sh -c`, as goss runs commands.
    pub needs_shell: bool,
    names: std::collections::BTreeSet<String>,
}

impl Out {
    /// Where each part ends now, to find what a resource added.
    fn lengths(&self) -> [usize; 4] {
        [
            self.tests.len(),
            self.files.len(),
            self.probes.len(),
            self.processes.len(),
        ]
    }
}

pub(super) struct Translator<'a> {
    pub src: &'a Source<'a>,
    pub opts: &'a Options,
    pub out: Out,
    errors: Vec<SpecError>,
}

/// Translate a goss file and its optional wait file.
pub fn translate(main: &Source<'_>, wait: Option<&Source<'_>>, opts: &Options) -> Translation {
    let mut errors = Vec::new();
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Converted from {} (goss) by `archsmoke convert`.",
        main.path.display()
    );
    toml.push_str(
        "# dgoss takes the image on its command line: set `image = \"...\"` here or pass --image.\n\
         # Every check runs on every platform of the image.\n\n",
    );
    let mut wait_processes = String::new();
    let ready = wait.map(|w| {
        let mut t = Translator {
            src: w,
            opts,
            out: Out::default(),
            errors: Vec::new(),
        };
        let r = t.wait();
        errors.append(&mut t.errors);
        wait_processes = t.out.processes;
        r
    });
    toml.push_str("# The image runs as it ships (its own ENTRYPOINT and CMD), as under dgoss.\n");
    toml.push_str("[service]\n");
    // dgoss's `docker run` options have no place in a goss file: `-e` and a CMD argument are
    // `env` and `command` here, in the converted spec; `-p` is never needed.
    toml.push_str("[service.ready]\n");
    match ready {
        Some(r) => toml.push_str(&r),
        None => toml.push_str(
            "# No goss_wait.yaml: ready once started and still running (dgoss's check).\n",
        ),
    }
    toml.push_str(&format!(
        "timeout = {}\n\n",
        s(&humantime::format_duration(opts.wait_retry).to_string())
    ));
    let mut t = Translator {
        src: main,
        opts,
        out: Out::default(),
        errors: Vec::new(),
    };
    t.resources();
    errors.append(&mut t.errors);
    if t.out.needs_shell {
        // Said once, by name, where it fails: every command test then fails with exit 126.
        let _ = writeln!(
            t.out.files,
            "[[file]]\nname = {}\n# goss runs commands with `sh -c`: without a shell every \
             command test fails.\npath = \"/bin/sh\"\n",
            s(SHELL_CHECK)
        );
    }
    for part in [
        t.out.tests,
        t.out.files,
        t.out.probes,
        t.out.processes,
        wait_processes,
        t.out.meta,
    ] {
        toml.push_str(&part);
    }
    Translation { toml, errors }
}

/// The resources of a goss file: (type, id, attributes, whole entry).
fn entries(root: &Node) -> Vec<(&str, &str, &Node, Pos)> {
    let mut out = Vec::new();
    let Some(top) = root.as_mapping() else {
        return out;
    };
    for (kind, ids) in top.iter() {
        let Some(ids) = ids.as_mapping() else {
            continue;
        };
        for (id, attrs) in ids.iter() {
            out.push((kind.as_str(), id.as_str(), attrs, pos(id.span())));
        }
    }
    out
}

impl Translator<'_> {
    pub(super) fn error(&mut self, at: Pos, message: impl Into<String>, hint: impl Into<String>) {
        let message = message.into();
        let e = match at {
            Some((line, column)) => {
                crate::spec::SpecError::at_line(self.src.path, self.src.text, line, column, message)
            }
            None => SpecError::file(self.src.path, message),
        };
        let hint = hint.into();
        self.errors.push(if hint.is_empty() {
            e
        } else {
            e.with_hint(hint)
        });
    }

    pub(super) fn problem(&mut self, p: Problem) {
        self.error(p.span, p.message, p.hint);
    }

    pub(super) fn root(&mut self) -> Option<Node> {
        // Quoted scalars are marked: `gt: "5"` is a string to goss, which no number passes.
        let options = crate::yaml::Options {
            prevent_coercion: true,
            ..crate::yaml::Options::default()
        };
        match crate::yaml::parse(self.src.text, options) {
            Ok(n) => Some(n),
            Err(e) => {
                let message = format!("malformed YAML: {e}");
                let (line, column) = match &e {
                    marked_yaml::LoadError::ScanError(m, _)
                    | marked_yaml::LoadError::TopLevelMustBeMapping(m)
                    | marked_yaml::LoadError::UnexpectedAnchor(m)
                    | marked_yaml::LoadError::UnexpectedTag(m)
                    | marked_yaml::LoadError::MappingKeyMustBeScalar(m) => (m.line(), m.column()),
                    _ => (0, 0),
                };
                let err = if line == 0 {
                    SpecError::file(self.src.path, message)
                } else {
                    crate::spec::SpecError::at_line(
                        self.src.path,
                        self.src.text,
                        line,
                        column,
                        message,
                    )
                };
                self.errors.push(err.with_hint(
                    "goss files are YAML mappings of resource types (file, port, http, ...); \
                     tags (`!!str`) are not supported",
                ));
                None
            }
        }
    }

    /// Check the top level: resource types only, each a mapping of ids.
    fn top_level(&mut self, root: &Node) -> bool {
        let Some(top) = root.as_mapping() else {
            self.error(
                pos(root.span()),
                "a goss file is a mapping of resource types",
                "",
            );
            return false;
        };
        for (kind, ids) in top.iter() {
            if !is_resource(kind.as_str()) {
                let names = KINDS.iter().map(|(k, _)| *k);
                let hint = match crate::spec::did_you_mean(kind.as_str(), names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "goss's resource types are file, package, addr, port, service, \
                             user, group, command, dns, process, kernel-param, mount, \
                             interface, http, matching and gossfile"
                        .into(),
                };
                self.error(
                    pos(kind.span()),
                    format!("unknown resource type `{}`", kind.as_str()),
                    hint,
                );
            } else if ids.as_mapping().is_none()
                && !ids.as_scalar().is_some_and(|s| s.as_str().is_empty())
            {
                self.error(
                    pos(ids.span()),
                    format!("`{}` is a mapping of resources by id", kind.as_str()),
                    "",
                );
            }
        }
        true
    }

    fn resources(&mut self) {
        let Some(root) = self.root() else { return };
        if !self.top_level(&root) {
            return;
        }
        for (kind, id, attrs, at) in entries(&root) {
            if !is_resource(kind) {
                continue; // reported by `top_level`
            }
            let Some(map) = attrs.as_mapping() else {
                self.error(
                    pos(attrs.span()),
                    format!("{kind} `{id}`: its attributes are a mapping"),
                    "",
                );
                continue;
            };
            let get = |k: &str| map.get_node(k);
            if get("skip").is_some_and(|n| matcher::boolean(n, "skip").unwrap_or(false)) {
                self.note_skip(kind, id);
                continue;
            }
            let title = get("title")
                .and_then(|t| t.as_scalar())
                .map(|t| t.to_string());
            let label = KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(kind, |(_, l)| *l);
            let name = title.unwrap_or_else(|| format!("{label}: {id}"));
            // The name becomes every result's test name, which reports print on one line: a
            // control character is the user's to fix here, not a translation that cannot load.
            if let Some(c) = name.chars().find(|&c| crate::diagnostic::unprintable(c)) {
                let at = match get("title") {
                    Some(t) if t.as_scalar().is_some_and(|t| t.as_str().contains(c)) => {
                        pos(t.span())
                    }
                    _ => at,
                };
                self.error(
                    at,
                    format!("{kind} `{}` names a result with the character {c:?}", id.escape_debug()),
                    "a result's name (its title, or the resource's key) is one line of printable text",
                );
                continue;
            }
            let name = self.unique(name);
            let r = Resource { id, name, map, at };
            let before = self.out.lengths();
            let result = match kind {
                "file" => self.file(&r),
                "process" => self.process(&r),
                "port" => self.port(&r),
                "http" => self.http(&r),
                "command" => self.command(&r),
                "user" => self.user(&r),
                "group" => self.group(&r),
                "package" => self.package(&r),
                "addr" => self.addr(&r),
                "kernel-param" => self.kernel_param(&r),
                _ => Err(Problem {
                    span: at,
                    message: format!("{kind} `{id}` is not supported"),
                    hint: unsupported_hint(kind).into(),
                }),
            };
            match result {
                Err(p) => self.problem(p),
                Ok(()) => {
                    if let Some(meta) = get("meta") {
                        self.meta(meta, before);
                    }
                }
            }
        }
    }

    /// goss carries a resource's `meta` into its JSON output with each of its results: so
    /// does archsmoke's JSON report, through `[meta]` tables naming each result.
    fn meta(&mut self, meta: &Node, before: [usize; 4]) {
        let Some(table) = meta_value(meta).and_then(|v| match v {
            toml::Value::Table(t) => Some(t),
            _ => None,
        }) else {
            self.error(
                pos(meta.span()),
                "`meta` is a mapping",
                "write meta: {key: value, ...}",
            );
            return;
        };
        let mut names = Vec::new();
        let parts = [
            (&self.out.tests, ""),
            (&self.out.files, ""),
            (&self.out.probes, "probe "),
            (&self.out.processes, "process "),
        ];
        for ((part, prefix), from) in parts.into_iter().zip(before) {
            // A `[[package]]` is named by its `title` (its `name` is the package's).
            let mut in_package = false;
            for line in part[from..].lines() {
                if line.starts_with('[') {
                    in_package = line == "[[package]]";
                }
                let key = if in_package { "title = " } else { "name = " };
                let Some(value) = line.strip_prefix(key) else {
                    continue;
                };
                if let Ok(doc) = format!("name = {value}").parse::<toml::Table>()
                    && let Some(toml::Value::String(name)) = doc.get("name")
                {
                    names.push(format!("{prefix}{name}"));
                }
            }
        }
        for name in names {
            let _ = writeln!(self.out.meta, "[meta.{}]", key(&name));
            for (k, v) in &table {
                let _ = writeln!(self.out.meta, "{} = {v}", key(k));
            }
            self.out.meta.push('\n');
        }
    }

    fn note_skip(&mut self, kind: &str, id: &str) {
        let _ = writeln!(
            self.out.tests,
            "# {kind} `{}`: skip: true (not checked)\n",
            // A key is data: a line break in it would end the comment and start live TOML.
            crate::diagnostic::printable(id)
        );
    }

    /// Report names must be unique; goss allows the same title twice. Names compare as the
    /// spec loader compares them: trimmed.
    fn unique(&mut self, name: String) -> String {
        let name = name.trim().to_owned();
        let mut candidate = name.clone();
        let mut n = 2;
        while !self.out.names.insert(candidate.clone()) {
            candidate = format!("{name} ({n})");
            n += 1;
        }
        candidate
    }
}

/// A YAML value as TOML: mappings and lists as they are, a scalar as a boolean or integer when
/// it reads as one (as goss's JSON output types them), else as its text.
fn meta_value(node: &Node) -> Option<toml::Value> {
    Some(match node {
        Node::Scalar(s) => {
            let text = s.as_str();
            match text {
                "true" => toml::Value::Boolean(true),
                "false" => toml::Value::Boolean(false),
                _ => text.parse::<i64>().map_or_else(
                    |_| toml::Value::String(text.to_owned()),
                    toml::Value::Integer,
                ),
            }
        }
        Node::Sequence(items) => {
            toml::Value::Array(items.iter().map(meta_value).collect::<Option<_>>()?)
        }
        Node::Mapping(map) => toml::Value::Table(
            map.iter()
                .map(|(k, v)| Some((k.as_str().to_owned(), meta_value(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

fn unsupported_hint(kind: &str) -> &'static str {
    match kind {
        "service" => "a container has no init system to ask; check the process with `process`",
        "dns" | "interface" | "mount" => {
            "it describes the host's network and mounts, which archsmoke does not model; \
             remove it or add `skip: true`"
        }
        "gossfile" => "inline the included file's resources into this one",
        "matching" => "`matching` compares values written in the file itself; remove it",
        _ => "remove it or add `skip: true`",
    }
}

/// One goss resource being translated.
pub(super) struct Resource<'a> {
    pub id: &'a str,
    pub name: String,
    pub map: &'a marked_yaml::types::MarkedMappingNode,
    pub at: Pos,
}

impl Resource<'_> {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.map.get_node(key)
    }

    /// The attributes not in `known` (besides the common ones).
    pub fn unknown(&self, known: &[&str]) -> Option<(&str, Pos)> {
        self.map
            .iter()
            .map(|(k, _)| k)
            .find(|k| {
                !known.contains(&k.as_str()) && !["skip", "title", "meta"].contains(&k.as_str())
            })
            .map(|k| (k.as_str(), pos(k.span())))
    }

    pub fn required(&self, key: &str) -> Result<&Node, Problem> {
        self.get(key).ok_or_else(|| Problem {
            span: self.at,
            message: format!("`{}` has no `{key}`", self.id),
            hint: format!("goss requires `{key}` here"),
        })
    }
}

/// `stdout_contains = [...]` lines of a stream under `prefix`.
pub(super) fn stream_keys(prefix: &str, st: &Stream, exact_key: Option<&str>) -> String {
    let mut out = String::new();
    if let (Some(e), Some(k)) = (&st.exact, exact_key) {
        let _ = writeln!(out, "{k} = {}", s(e));
    }
    for (suffix, v) in [
        ("contains", &st.contains),
        ("excludes", &st.excludes),
        ("matches", &st.matches),
        ("not_matches", &st.not_matches),
    ] {
        if !v.is_empty() {
            let _ = writeln!(out, "{prefix}{suffix} = {}", list(v));
        }
    }
    out
}
