//! A parsed cst config → archsmoke's TOML spec, with a comment for everything that could not be
//! expressed, and every problem found (not only the first) as positioned errors.
//!
//! The semantics carried over (read from cst's `pkg/types/v2` and `pkg/drivers/docker_driver.go`):
//! regexes are searched unanchored in the whole text with `$` at its very end (each pattern gets
//! `(?-m)`, since archsmoke's own regexes are multi-line); the exit code is always compared
//! (default 0); command tests run with the entrypoint cleared; `globalEnvVars` are expanded
//! against the image's environment (`env_expand`) and `$VAR` in commands too (`expand_command`);
//! file existence checks look at the entry itself, a symlink not followed (`follow = false`),
//! with `permissions` in Go's `FileMode.String()` form; metadata lists are "each of these",
//! never "exactly these".

use std::fmt::Write as _;
use std::path::Path;

use marked_yaml::Spanned;
use regex::RegexBuilder;

use super::raw::{
    RawCommand, RawCommandTest, RawConfig, RawEnvVar, RawFileContent, RawFileExistence,
    RawMetadata, RawRunOptions,
};
use crate::diagnostic::{printable, unprintable, unprintable_kind};
use crate::spec::quote::{grouped_table, key, value as s};
use crate::spec::{SpecError, did_you_mean, valid_permissions};

/// cst's hard-coded exemption and forbidden words of its Debian licence check.
const LICENSE_SKIPPED_PACKAGE: &str = "libgnutls30";

/// Paths the engine adds to every container, which cst (reading a created container) sees and
/// archsmoke (reading the image's layers) does not.
const CONTAINER_ONLY_PATHS: [&str; 7] = [
    "/.dockerenv",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
    "/dev",
];

pub struct Translation {
    pub toml: String,
    pub errors: Vec<SpecError>,
    /// Where `privileged: true` was asked for, for the `--allow-privileged` refusal.
    pub privileged_at: Option<SpecError>,
}

pub struct Translator<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    out: String,
    errors: Vec<SpecError>,
    privileged_at: Option<SpecError>,
    /// The last number given to each repeated name.
    names: std::collections::HashMap<String, usize>,
    /// Every name given so far, numbered ones included.
    used: std::collections::HashSet<String>,
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| s(i)).collect();
    format!("[{}]", quoted.join(", "))
}

fn table(pairs: &[(String, String)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), s(v)))
        .collect();
    format!("{{ {} }}", inner.join(", "))
}

/// A later variable replaces an earlier one of the same name, as in the container.
fn last_wins(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<(String, String)> = pairs
        .into_iter()
        .rev()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    out.reverse();
    out
}

/// A cst regex as archsmoke writes it: `$` and `^` at the ends of the whole text, as in Go, and
/// RE2's ASCII-only `\d`, `\w`, `\s` and `\b` (archsmoke's own regexes are Unicode-aware).
fn go_regex(pattern: &str) -> String {
    format!("(?-m){}", crate::re2::ascii_classes(pattern))
}

impl<'a> Translator<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Translator {
            path,
            text,
            out: String::new(),
            errors: Vec::new(),
            privileged_at: None,
            names: std::collections::HashMap::new(),
            used: std::collections::HashSet::new(),
        }
    }

    /// An error at a span's start (line and column from the YAML loader, both 1-based).
    pub fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> SpecError {
        match spanned.span().start() {
            Some(m) => {
                crate::spec::SpecError::at_line(self.path, self.text, m.line(), m.column(), message)
            }
            None => SpecError::file(self.path, message),
        }
    }

    fn push(&mut self, e: SpecError) {
        self.errors.push(e);
    }

    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "# {}", text.as_ref());
    }

    pub fn translate(mut self, raw: &RawConfig) -> Translation {
        let version = raw.schema_version.as_str();
        let v1 = version == "1.0.0";
        let _ = writeln!(
            self.out,
            "# Converted from {} (container-structure-test schema {version}) by `archsmoke convert`.",
            self.path.display()
        );
        self.note(
            "cst takes the image on its command line: set `image = \"...\"` here or pass --image.",
        );
        self.note("Every test below runs on every platform of the image; add `platforms` or");
        self.note("[test.per_platform.\"linux/arm64\"] tables where expectations differ.");
        self.line("");
        if v1 {
            if let Some(m) = &raw.metadata_test {
                let e = self.at(m, "`metadataTest` is not part of schema 1.0.0");
                self.push(e.with_hint("use schemaVersion: 2.0.0 (cst rejects it in 1.0.0 too)"));
            }
            if let Some(o) = &raw.container_run_options {
                let e = self.at(o, "`containerRunOptions` is not part of schema 1.0.0");
                self.push(e.with_hint("use schemaVersion: 2.0.0 (cst rejects it in 1.0.0 too)"));
            }
        }
        let global = self.env_pairs(
            raw.global_env_vars.as_deref().unwrap_or_default(),
            "globalEnvVars",
        );
        let run_options = raw
            .container_run_options
            .as_ref()
            .map(|o| self.run_options(o))
            .unwrap_or_default();
        for test in raw.command_tests.iter().flatten() {
            self.command_test(test, v1, &global, &run_options);
        }
        for test in raw.file_existence_tests.iter().flatten() {
            self.file_existence(test, v1);
        }
        for test in raw.file_content_tests.iter().flatten() {
            self.file_content(test);
        }
        if let Some(m) = &raw.metadata_test {
            self.metadata(m);
        }
        for l in raw.license_tests.iter().flatten() {
            self.license(l);
        }
        let checks_something = self
            .out
            .lines()
            .any(|l| matches!(l, "[[test]]" | "[[file]]" | "[metadata]" | "[[license]]"));
        if self.errors.is_empty() && !checks_something {
            let e = self.at(&raw.schema_version, "the config has no tests");
            self.push(e.with_hint(
                "add commandTests, fileExistenceTests, fileContentTests, metadataTest or \
                 licenseTests (cst fails a config without tests too)",
            ));
        }
        Translation {
            toml: self.out,
            errors: self.errors,
            privileged_at: self.privileged_at,
        }
    }

    /// `{key, value}` pairs of an environment list; cst refuses empty keys and values.
    fn env_pairs(&mut self, vars: &[RawEnvVar], what: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for v in vars {
            match (&v.key, &v.value) {
                // The engine passes `NAME=value` as a C string: the spec refuses what it cannot
                // carry, so it is the user's error, positioned here.
                (Some(k), Some(val)) if k.contains(['=', '\0']) || val.contains('\0') => {
                    let (at, why) = if k.contains(['=', '\0']) {
                        (k, "a variable name cannot hold `=` or NUL")
                    } else {
                        (val, "a value cannot hold NUL")
                    };
                    let e = self.at(at, format!("`{what}` entry `{}`: {why}", k.escape_debug()));
                    self.push(e.with_hint("remove the character (NUL is \\u0000)"));
                }
                (Some(k), Some(val)) if !k.is_empty() && !val.is_empty() => {
                    out.push((k.to_string(), val.to_string()));
                }
                (Some(k), _) => {
                    let e = self.at(
                        k,
                        format!("`{what}` entry `{}` has an empty key or value", k.as_str()),
                    );
                    self.push(e.with_hint(
                        "give every entry a non-empty `key` and `value`, as cst requires",
                    ));
                }
                (None, Some(val)) => {
                    let e = self.at(val, format!("`{what}` entry has no `key`"));
                    self.push(e.with_hint("write entries as `- key: NAME` / `  value: VALUE`"));
                }
                (None, None) => self.push(
                    SpecError::file(
                        self.path,
                        format!("a `{what}` entry has neither `key` nor `value`"),
                    )
                    .with_hint("write entries as `- key: NAME` / `  value: VALUE`"),
                ),
            }
        }
        out
    }

    fn regexes(&mut self, patterns: Option<&Vec<Spanned<String>>>) -> Vec<String> {
        let mut out = Vec::new();
        for p in patterns.into_iter().flatten() {
            let rewritten = go_regex(p.as_str());
            match RegexBuilder::new(&rewritten).size_limit(1 << 20).build() {
                Ok(_) => out.push(rewritten),
                Err(e) => {
                    let err = self.at(p, format!("bad regex `{}`: {e}", p.as_str()));
                    self.push(err.with_hint(
                        "cst's patterns are Go RE2; archsmoke compiles them with Rust's regex, \
                         which lacks a few RE2 forms (\\Q...\\E, \\C); rewrite the pattern",
                    ));
                }
            }
        }
        out
    }

    fn name(
        &mut self,
        name: Option<&Spanned<String>>,
        at: &Spanned<impl Sized>,
        kind: &str,
    ) -> String {
        match name {
            Some(n) if self.unprintable("the test name", n) => String::new(),
            Some(n) if !n.trim().is_empty() => self.unique(format!("{kind}: {}", n.as_str())),
            _ => {
                let e = self.at(at, format!("a {} has no `name`", kind.to_lowercase()));
                self.push(e.with_hint("give every test a `name`; cst fails a test without one"));
                String::new()
            }
        }
    }

    /// Whether `text` (a name or path that reports print) holds a character the spec loader
    /// refuses there (control, bidirectional override, invisible): then it is the user's error,
    /// positioned in the config, not a translation that cannot load.
    fn unprintable(&mut self, what: &str, text: &Spanned<String>) -> bool {
        let Some(c) = text.chars().find(|&c| unprintable(c)) else {
            return false;
        };
        let e = self.at(
            text,
            format!(
                "{what} contains the character {c:?} ({})",
                unprintable_kind(c)
            ),
        );
        self.push(e.with_hint("names and paths are one line of printable text"));
        true
    }

    /// A NUL in a command test's process: the engine passes arguments as C strings, which end
    /// at NUL, and the spec refuses one; the user's error, positioned here.
    fn nul_in_process(&self, t: &RawCommandTest) -> Option<SpecError> {
        let nul = |argv: &[String]| argv.iter().any(|a| a.contains('\0'));
        let hint = "a process argument cannot hold NUL (\\u0000); remove it";
        if let Some(c) = &t.command
            && match &**c {
                RawCommand::Line(l) => l.contains('\0'),
                RawCommand::Argv(a) => nul(a),
            }
        {
            return Some(self.at(c, "`command` contains a NUL byte").with_hint(hint));
        }
        if let Some(a) = &t.args
            && nul(a)
        {
            return Some(self.at(a, "`args` contains a NUL byte").with_hint(hint));
        }
        if let Some(s) = &t.setup
            && s.iter().any(|c| nul(c))
        {
            return Some(
                self.at(s, "a `setup` command contains a NUL byte")
                    .with_hint(hint),
            );
        }
        None
    }

    /// `name`, or `name #2`, `#3`, ... when an earlier test has it: cst runs tests of the same
    /// name, archsmoke's reports tell results apart by name. Names compare as the spec loader
    /// compares them (trimmed), and a numbered name skips any that a test already has (`a`,
    /// `a`, `a #2` become `a`, `a #2`, `a #2 #2`).
    fn unique(&mut self, name: String) -> String {
        let base = name.trim().to_owned();
        if self.used.insert(base.clone()) {
            return name;
        }
        let count = self.names.entry(base.clone()).or_insert(1);
        loop {
            *count += 1;
            let candidate = format!("{base} #{count}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    fn command_test(
        &mut self,
        spanned: &Spanned<RawCommandTest>,
        v1: bool,
        global: &[(String, String)],
        run_options: &RunOptions,
    ) {
        let t: &RawCommandTest = spanned;
        let name = self.name(t.name.as_ref(), spanned, "Command Test");
        let mut argv: Vec<String> = match (&t.command, v1) {
            (Some(c), false) => match &**c {
                RawCommand::Line(line) if !line.is_empty() => vec![line.clone()],
                RawCommand::Line(_) => Vec::new(),
                RawCommand::Argv(_) => {
                    let e = self.at(
                        c,
                        "in schema 2.0.0 `command` is a string, with its arguments in `args`",
                    );
                    self.push(e.with_hint("write `command: sh` and `args: [\"-c\", \"...\"]`, or use schemaVersion: 1.0.0"));
                    return;
                }
            },
            (Some(c), true) => match &**c {
                RawCommand::Argv(argv) => argv.clone(),
                RawCommand::Line(_) => {
                    let e = self.at(c, "in schema 1.0.0 `command` is a list (argv)");
                    self.push(e.with_hint("write `command: [\"sh\", \"-c\", \"...\"]`, or use schemaVersion: 2.0.0 with `args`"));
                    return;
                }
            },
            (None, _) => Vec::new(),
        };
        if argv.is_empty() {
            let e = self.at(spanned, format!("command test `{name}` has no `command`"));
            self.push(e.with_hint("cst needs a command for every command test"));
            return;
        }
        if let Some(args) = &t.args {
            if v1 {
                let e = self.at(args, "`args` is not part of schema 1.0.0");
                self.push(e.with_hint("put the arguments in the `command` list"));
            }
            argv.extend(args.iter().cloned());
        }
        if let Some(e) = self.nul_in_process(t) {
            self.push(e);
            return;
        }
        let setup = t.setup.as_ref().map(|s| (**s).clone()).unwrap_or_default();
        if let Some(s) = &t.setup
            && s.iter().any(Vec::is_empty)
        {
            let e = self.at(s, "a `setup` command is empty");
            self.push(e.with_hint("remove empty setup commands, as cst requires"));
        }
        let env = self.env_pairs(t.env_vars.as_deref().unwrap_or_default(), "envVars");
        let expected_out = self.regexes(t.expected_output.as_ref());
        let excluded_out = self.regexes(t.excluded_output.as_ref());
        let expected_err = self.regexes(t.expected_error.as_ref());
        let excluded_err = self.regexes(t.excluded_error.as_ref());
        let exit_code = match &t.exit_code {
            Some(c) if !(0..=255).contains(&**c) => {
                let e = self.at(c, format!("exitCode {} can never happen", **c));
                self.push(e.with_hint("exit codes are 0 to 255"));
                0
            }
            Some(c) => **c,
            None => 0,
        };

        self.line("[[test]]");
        self.line(format!("name = {}", s(&name)));
        if let Some(t) = &t.teardown
            && !t.is_empty()
        {
            self.note("`teardown` dropped: cst's docker driver does not run it (each test gets a fresh container).");
        }
        self.note("cst clears the image's entrypoint for command tests.");
        self.line("entrypoint = []");
        self.line(format!("command = {}", list(&argv)));
        if argv.iter().any(|a| a.contains('$')) {
            self.note("cst replaces $VAR in the command from the image's environment before any shell sees it.");
            self.line("expand_command = true");
        }
        if !setup.is_empty() {
            self.line(format!(
                "setup = [{}]",
                setup.iter().map(|c| list(c)).collect::<Vec<_>>().join(", ")
            ));
        }
        // What cst commits into the image before the test (so both the container and the `$VAR`
        // expansion of the command see it, expanded against the image's environment): in schema
        // 2.0.0 the global variables always; in 1.0.0 they only reach `setup` containers, so
        // only a test with a setup sees them. A setup also commits the test's own variables.
        let mut committed: Vec<(String, String)> = Vec::new();
        if !v1 || !setup.is_empty() {
            committed.extend(global.iter().cloned());
        } else if !global.is_empty() {
            self.note("globalEnvVars dropped: in schema 1.0.0 cst gives them only to `setup` commands, and this test has none.");
        }
        let mut plain = Vec::new();
        if !setup.is_empty() {
            committed.extend(env);
        } else if run_options.set && !env.is_empty() {
            self.note("envVars dropped: cst replaces a test's environment with containerRunOptions' when those are set.");
        } else {
            plain.extend(env);
        }
        let plain: Vec<(String, String)> = last_wins(plain)
            .into_iter()
            .filter(|(k, _)| !run_options.env_from_host.contains(k))
            .collect();
        // A variable given to the container at run time hides the committed one.
        let committed: Vec<(String, String)> = last_wins(committed)
            .into_iter()
            .filter(|(k, _)| {
                !plain.iter().any(|(p, _)| p == k) && !run_options.env_from_host.contains(k)
            })
            .collect();
        if !committed.is_empty() {
            self.line(format!("env_expand = {}", table(&committed)));
        }
        if !plain.is_empty() {
            self.line(format!("env = {}", table(&plain)));
        }
        if !run_options.env_from_host.is_empty() {
            self.note("containerRunOptions.envVars: passed from archsmoke's environment when it runs, masked in every report.");
            self.line(format!(
                "env_from_host = {}",
                list(&run_options.env_from_host)
            ));
        }
        if run_options.privileged {
            self.line("privileged = true");
        }
        if !run_options.binds.is_empty() {
            self.line(format!("mounts = {}", list(&run_options.binds)));
        }
        if !run_options.cap_add.is_empty() {
            self.line(format!("cap_add = {}", list(&run_options.cap_add)));
        }
        if let Some(u) = &run_options.user {
            self.line(format!("user = {}", s(u)));
        }
        self.line(format!("exit_code = {exit_code}"));
        for (k, v) in [
            ("stdout_matches", expected_out),
            ("stdout_not_matches", excluded_out),
            ("stderr_matches", expected_err),
            ("stderr_not_matches", excluded_err),
        ] {
            if !v.is_empty() {
                self.line(format!("{k} = {}", list(&v)));
            }
        }
        self.line("");
    }

    fn path(
        &mut self,
        path: Option<&Spanned<String>>,
        at: &Spanned<impl Sized>,
        name: &str,
    ) -> Option<String> {
        match path {
            Some(p) if self.unprintable("the path", p) => None,
            Some(p) if p.starts_with('/') && !p.contains('$') => Some(p.to_string()),
            Some(p) if p.contains('$') => {
                let e = self.at(
                    p,
                    format!(
                        "`{}`: archsmoke does not expand $VAR in file paths",
                        p.as_str()
                    ),
                );
                self.push(e.with_hint("write the path the variable stands for"));
                None
            }
            Some(p) => {
                let e = self.at(p, format!("`{}` is not an absolute path", p.as_str()));
                self.push(
                    e.with_hint("write paths inside the image from its root, such as /bin/sh"),
                );
                None
            }
            None => {
                let e = self.at(at, format!("`{name}` has no `path`"));
                self.push(e.with_hint("cst needs a path for every file test"));
                None
            }
        }
    }

    /// The `[[file]]` table of a file test, opened with its name and path, after a note on a
    /// path that only a container has.
    fn file_table(&mut self, name: &str, path: &str) {
        if CONTAINER_ONLY_PATHS
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        {
            self.note(format!(
                "{path} is added by the engine to every container: cst sees it, archsmoke reads the image's layers and does not."
            ));
        }
        self.line("[[file]]");
        self.line(format!("name = {}", s(name)));
        self.line(format!("path = {}", s(path)));
    }

    fn file_existence(&mut self, spanned: &Spanned<RawFileExistence>, v1: bool) {
        let t: &RawFileExistence = spanned;
        let name = self.name(t.name.as_ref(), spanned, "File Existence Test");
        let path = self.path(t.path.as_ref(), spanned, &name);
        if v1 {
            for (field, present) in [
                ("uid", t.uid.as_ref().map(|u| u.span().start().copied())),
                ("gid", t.gid.as_ref().map(|g| g.span().start().copied())),
            ] {
                if present.is_some() {
                    let e = self.at(spanned, format!("`{field}` is not part of schema 1.0.0"));
                    self.push(e.with_hint("use schemaVersion: 2.0.0"));
                }
            }
        }
        if let Some(p) = &t.permissions
            && !valid_permissions(p)
        {
            let e = self.at(p, format!("bad permissions `{}`", p.as_str()));
            self.push(e.with_hint(
                "Go's FileMode.String() form: -rwxr-xr-x, drwxr-xr-x, Lrwxrwxrwx, dgrwxr-xr-x",
            ));
        }
        let executable_by = match &t.is_executable_by {
            Some(e) if ["any", "owner", "group", "other"].contains(&e.as_str()) => {
                Some(e.to_string())
            }
            Some(e) => {
                let err = self.at(
                    e,
                    format!("`isExecutableBy: {}` is not a valid option", e.as_str()),
                );
                let hint = match did_you_mean(e, ["any", "owner", "group", "other"]) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "use any, owner, group or other".to_owned(),
                };
                self.push(err.with_hint(hint));
                None
            }
            None => None,
        };
        let exists = t.should_exist.unwrap_or(true);
        let Some(path) = path else {
            return;
        };
        self.file_table(&name, &path);
        if path.len() > 1 && path.ends_with('/') {
            self.note("a trailing slash resolves a symlink to the directory it names, as the kernel (and cst) do.");
            self.line("follow = true");
        } else {
            self.note("cst looks at the entry itself: a symlink is not followed.");
            self.line("follow = false");
        }
        if !exists {
            self.line("exists = false");
            if t.permissions.is_some()
                || t.uid.is_some()
                || t.gid.is_some()
                || executable_by.is_some()
            {
                self.note("permissions, uid, gid and isExecutableBy dropped: cst ignores them when shouldExist is false.");
            }
            self.line("");
            return;
        }
        if let Some(p) = &t.permissions {
            self.line(format!("permissions = {}", s(p)));
        }
        // cst's "unset" is -1; a negative id can never match a file.
        for (field, id) in [("uid", &t.uid), ("gid", &t.gid)] {
            match id {
                Some(v) if **v >= 0 && **v <= i64::from(u32::MAX) => {
                    self.line(format!("{field} = {}", **v))
                }
                Some(v) if **v == -1 => {}
                Some(v) => {
                    let e = self.at(v, format!("`{field}: {}` can never match a file", **v));
                    self.push(e.with_hint("ids are 0 to 4294967295"));
                }
                None => {}
            }
        }
        if let Some(e) = executable_by {
            self.line(format!("executable_by = {}", s(&e)));
        }
        self.line("");
    }

    fn file_content(&mut self, spanned: &Spanned<RawFileContent>) {
        let t: &RawFileContent = spanned;
        let name = self.name(t.name.as_ref(), spanned, "File Content Test");
        let path = self.path(t.path.as_ref(), spanned, &name);
        let expected = self.regexes(t.expected_contents.as_ref());
        let excluded = self.regexes(t.excluded_contents.as_ref());
        let Some(path) = path else {
            return;
        };
        self.file_table(&name, &path);
        self.line("type = \"file\"");
        if !expected.is_empty() {
            self.line(format!("matches = {}", list(&expected)));
        }
        if !excluded.is_empty() {
            self.line(format!("not_matches = {}", list(&excluded)));
        }
        self.line("");
    }

    fn metadata(&mut self, spanned: &Spanned<RawMetadata>) {
        let m: &RawMetadata = spanned;
        let mut lines: Vec<String> = Vec::new();
        let mut env = Vec::new();
        let mut env_matches = Vec::new();
        // Exact values by key: cst checks every entry, so one key with two values can never
        // pass, and a repeated entry is the same check again.
        let mut seen_env: std::collections::BTreeMap<String, String> = Default::default();
        let mut seen_labels: std::collections::BTreeMap<String, String> = Default::default();
        if m.env.is_some() {
            self.note("metadataTest `env` is read as `envVars`, its later name.");
        }
        for (list_name, vars) in [
            ("envVars", &m.env_vars),
            ("env", &m.env),
            ("labels", &m.labels),
        ] {
            let mut exact = Vec::new();
            let mut regex = Vec::new();
            for v in vars.iter().flatten() {
                let Some(k) = &v.key else {
                    self.push(SpecError::file(
                        self.path,
                        format!("a metadataTest `{list_name}` entry has no `key`"),
                    ));
                    continue;
                };
                if k.is_empty() {
                    let e = self.at(k, format!("a metadataTest `{list_name}` key is empty"));
                    self.push(e.with_hint("cst refuses empty keys"));
                    continue;
                }
                let value = v.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                if v.is_regex.unwrap_or(false) {
                    let compiled = v
                        .value
                        .as_ref()
                        .map(|p| self.regexes(Some(&vec![p.clone()])));
                    match compiled {
                        Some(mut c) if !c.is_empty() => regex.push((k.to_string(), c.remove(0))),
                        Some(_) => {}
                        None => regex.push((k.to_string(), go_regex(""))),
                    }
                } else {
                    let seen = if list_name == "labels" {
                        &mut seen_labels
                    } else {
                        &mut seen_env
                    };
                    match seen.get(k.as_str()) {
                        Some(before) if *before != value => {
                            let e = self.at(
                                k,
                                format!(
                                    "metadataTest `{list_name}`: `{}` is listed again with \
                                     another value (`{}`, before `{}`)",
                                    printable(k.as_str()),
                                    printable(&value),
                                    printable(before)
                                ),
                            );
                            self.push(e.with_hint(
                                "an image has one value per key, so cst's metadata test can \
                                 never pass: keep one entry, or use `isRegex`",
                            ));
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(k.to_string(), value.clone());
                            exact.push((k.to_string(), value));
                        }
                    }
                }
            }
            if list_name == "labels" {
                if !exact.is_empty() {
                    lines.push(format!("labels = {}", table(&exact)));
                }
                if !regex.is_empty() {
                    lines.push(format!("labels_matches = {}", grouped_table(&regex)));
                }
            } else {
                env.extend(exact);
                env_matches.extend(regex);
            }
        }
        if !env.is_empty() {
            lines.insert(0, format!("env = {}", table(&env)));
        }
        if !env_matches.is_empty() {
            lines.insert(
                usize::from(!env.is_empty()),
                format!("env_matches = {}", grouped_table(&env_matches)),
            );
        }
        let unset: Vec<String> = m
            .unbound_env_vars
            .iter()
            .flatten()
            .filter_map(|v| v.key.as_ref().map(|k| k.to_string()))
            .collect();
        if !unset.is_empty() {
            lines.push(format!("env_unset = {}", list(&unset)));
        }
        for (k, ports) in [
            ("exposed_ports_include", &m.exposed_ports),
            ("unexposed_ports", &m.unexposed_ports),
        ] {
            let mut out = Vec::new();
            for p in ports.iter().flatten() {
                if p.is_empty() {
                    let e = self.at(p, "a port is empty");
                    self.push(e.with_hint("cst refuses empty ports"));
                } else if p.parse::<u16>().is_err() {
                    let e = self.at(p, format!("port `{}` can never match", p.as_str()));
                    self.push(e.with_hint(
                        "cst compares bare port numbers such as \"8080\", without a protocol",
                    ));
                } else {
                    out.push(p.to_string());
                }
            }
            if !out.is_empty() {
                lines.push(format!("{k} = {}", list(&out)));
            }
        }
        for (k, v) in [("entrypoint", &m.entrypoint), ("cmd", &m.cmd)] {
            if let Some(v) = v {
                lines.push(format!("{k} = {}", list(v)));
            }
        }
        for (k, v) in [("workdir", &m.workdir), ("user", &m.user)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                lines.push(format!("{k} = {}", s(v)));
            }
        }
        for (k, v) in [
            ("volumes_include", &m.volumes),
            ("unmounted_volumes", &m.unmounted_volumes),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                if v.iter().any(String::is_empty) {
                    let e = self.at(spanned, "a volume is empty");
                    self.push(e.with_hint("cst refuses empty volumes"));
                }
                lines.push(format!("{k} = {}", list(v)));
            }
        }
        if lines.is_empty() {
            self.note("metadataTest is empty: cst skips it.");
            return;
        }
        self.line("[metadata]");
        self.line("name = \"Metadata Test\"");
        for l in lines {
            self.line(l);
        }
        self.line("");
    }

    fn license(&mut self, spanned: &Spanned<super::raw::RawLicense>) {
        let l = &**spanned;
        if !l.debian.unwrap_or(false) && l.files.as_ref().is_none_or(Vec::is_empty) {
            self.note(
                "a licenseTests entry with neither `debian: true` nor `files` checks nothing.",
            );
            return;
        }
        if let Some(f) = l
            .files
            .iter()
            .flatten()
            .find(|f| f.chars().any(unprintable))
        {
            let c = f.chars().find(|&c| unprintable(c)).unwrap_or_default();
            let e = self.at(
                spanned,
                format!(
                    "licence file `{}` contains the character {c:?} ({})",
                    f.escape_debug(),
                    unprintable_kind(c)
                ),
            );
            self.push(e.with_hint("names and paths are one line of printable text"));
            return;
        }
        if let Some(f) = l.files.iter().flatten().find(|f| !f.starts_with('/')) {
            let e = self.at(
                spanned,
                format!("licence file `{f}` is not an absolute path"),
            );
            self.push(e.with_hint("write paths inside the image from its root"));
            return;
        }
        self.line("[[license]]");
        let name = self.unique("License Test".to_owned());
        self.line(format!("name = {}", s(&name)));
        if l.debian.unwrap_or(false) {
            let _ = writeln!(
                self.out,
                "# every /usr/share/doc/<package>/ (but {LICENSE_SKIPPED_PACKAGE}) needs a copyright file"
            );
            self.line("debian = true");
        }
        if let Some(files) = l.files.as_ref().filter(|f| !f.is_empty()) {
            self.line(format!("files = {}", list(files)));
        }
        self.line("");
    }

    fn run_options(&mut self, spanned: &Spanned<RawRunOptions>) -> RunOptions {
        let o: &RawRunOptions = spanned;
        let mut out = RunOptions::default();
        // Host mounts and capabilities weaken isolation like `privileged`: the same gate.
        let gate = |what: &str| {
            format!(
                "a {what} weakens isolation like privileged: pass --allow-privileged if you trust \
                 this config, or remove it"
            )
        };
        if let Some(b) = &o.bind_mounts
            && !b.is_empty()
        {
            out.set = true;
            if let Some((bind, why)) = b
                .iter()
                .find_map(|m| crate::limits::bind_problem(m).map(|why| (m, why)))
            {
                let e = self.at(
                    b,
                    format!(
                        "containerRunOptions.bindMounts: bad mount `{}`: {why}",
                        bind.escape_debug()
                    ),
                );
                self.push(e.with_hint("write HOST:CONTAINER or HOST:CONTAINER:ro, both absolute"));
            } else {
                out.binds = b.to_vec();
                let e = self.at(b, "the config mounts host paths into test containers");
                self.privileged_at
                    .get_or_insert(e.with_hint(gate("host mount")));
            }
        }
        if let Some(c) = &o.capabilities
            && !c.is_empty()
        {
            out.set = true;
            match c.iter().find(|n| crate::limits::capability(n).is_none()) {
                Some(bad) => {
                    let e = self.at(
                        c,
                        format!(
                            "containerRunOptions.capabilities: `{}` is not a capability",
                            bad.escape_debug()
                        ),
                    );
                    self.push(e.with_hint("write names such as sys_admin or NET_ADMIN"));
                }
                None => {
                    // As written: the spec reads `sys_admin` as Docker does.
                    out.cap_add = c.to_vec();
                    let e = self.at(c, "the config adds capabilities to test containers");
                    self.privileged_at
                        .get_or_insert(e.with_hint(gate("capability")));
                }
            }
        }
        if let Some(u) = o.user.as_ref().filter(|u| !u.is_empty()) {
            out.set = true;
            out.user = Some(u.to_string());
        }
        let unsupported = [
            (
                "allocateTty",
                o.allocate_tty.as_ref().filter(|t| ***t).map(|t| t.span()),
            ),
            (
                "envFile",
                o.env_file
                    .as_ref()
                    .filter(|f| !f.is_empty())
                    .map(|f| f.span()),
            ),
        ];
        for (field, span) in unsupported {
            if let Some(span) = span {
                let e = self.at(
                    &Spanned::new(*span, ()),
                    format!("containerRunOptions.{field} is not supported by archsmoke"),
                );
                self.push(e.with_hint(
                    "remove it, or keep this config for cst and write the test in archsmoke's TOML",
                ));
            }
        }
        if let Some(vars) = &o.env_vars {
            // Names of host variables (CI secrets, often): the values are read when the spec is
            // loaded, never written into the conversion.
            if let Some(bad) = vars
                .iter()
                .find(|n| n.is_empty() || n.contains(['=', '\0']))
            {
                let e = self.at(
                    vars,
                    format!(
                        "containerRunOptions.envVars: `{}` is not a variable name",
                        bad.escape_debug()
                    ),
                );
                self.push(e.with_hint("list names of this machine's environment variables"));
            } else {
                out.env_from_host.extend(vars.iter().cloned());
            }
            if !vars.is_empty() {
                out.set = true;
            }
        }
        if let Some(p) = &o.privileged
            && **p
        {
            out.set = true;
            out.privileged = true;
            // Named first: it is the widest of the gated options.
            self.privileged_at = Some(self.at(p, "the config asks for privileged containers").with_hint(
                "a privileged container can take over the host; pass --allow-privileged if you \
                 trust this config, or remove `privileged: true`",
            ));
        }
        out
    }
}

#[derive(Default)]
struct RunOptions {
    /// cst's `IsSet()`: some option is given, which replaces each test's environment.
    set: bool,
    privileged: bool,
    user: Option<String>,
    /// containerRunOptions.envVars: host variables passed through by name.
    env_from_host: Vec<String>,
    /// containerRunOptions.bindMounts and capabilities (gated like `privileged`).
    binds: Vec<String>,
    cap_add: Vec<String>,
}
