//! Test specs: TOML in, a validated [`Spec`] out.
//!
//! Loading happens in two stages, like ripgrep's flags: `raw` mirrors the file with spans and
//! rejects unknown keys; `load` then validates every value (durations, platforms, regexes, names)
//! and reports the first problem with file, line, column and a hint. Once a [`Spec`] exists,
//! nothing downstream can fail because of what the user wrote: a bad regex is a spec error, never
//! a silently failing test.

mod audit;
mod engines;
pub mod error;
pub mod expand;
mod hardening;
mod hints;
mod host_env;
pub mod number;
pub mod quote;
mod raw;
mod recover;
mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use toml::Spanned;

pub use audit::{
    AuditSettings, ElfLevel, ExecutableBy, FileCheck, FileKind, LicenseCheck, MetadataCheck,
    PackageCheck, normalize_path, valid_permissions,
};
pub use engines::{EngineSpec, EngineTarget};
pub use error::{SpecError, did_you_mean};
use raw::{OneOrMany, RawExpect, RawSpec, RawTest};
use recover::{blank_line, blank_table, table_range};
pub use service::{
    HttpExpect, HttpRequest, LogsSpec, MAX_REDIRECTS, ProbeKind, ProbeSpec, ProcessSpec, Ready,
    ServiceSpec, SocketTable, TlsOptions, TlsVerify, applies as service_applies, valid_http_header,
};

use crate::emulation::Policy;
use crate::platform::{MatchMode, Platform};
use crate::range::IntRange;

/// Default per-test timeout on a native platform.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default multiplier applied to timeouts under emulation (process start is ~10× slower in QEMU).
pub const DEFAULT_EMULATED_TIMEOUT_FACTOR: f64 = 10.0;
/// Default multiplier for a service's readiness deadline under emulation. A service starts once
/// and then mostly waits, so the slowdown that counts is its start-up, measured at 2 to 3× under
/// QEMU (issue 28), not the ~10× of many short processes: a wrong port then fails in a minute or
/// two, not in five. Never more than the spec's `emulated_timeout_factor`.
pub const DEFAULT_EMULATED_READY_FACTOR: f64 = 3.0;
/// The largest `output_limit` accepted: every test keeps this much per stream in memory.
pub const MAX_OUTPUT_LIMIT: usize = 256 << 20;
/// The longest timeout accepted, before the emulation factor.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Secrets shorter than this would redact ordinary text everywhere they occur.
const MIN_SECRET_LEN: usize = 4;
/// Compiled regexes are capped so that a hostile pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A validated spec file.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    /// The file stem: the suite name in reports (`<name>.<platform>` in JUnit).
    pub name: String,
    pub image: Option<String>,
    /// Platforms to test; `None` means every runnable platform of the image.
    pub platforms: Option<Vec<Platform>>,
    pub settings: Settings,
    pub tests: Vec<TestSpec>,
    /// Checks read from the image itself, without a container.
    pub files: Vec<FileCheck>,
    pub metadata: Option<MetadataCheck>,
    /// `[[license]]` checks, read from the image like files.
    pub licenses: Vec<LicenseCheck>,
    /// `[[package]]` checks, read from the package database in the image's layers.
    pub packages: Vec<PackageCheck>,
    pub audit: AuditSettings,
    /// `[service]` with its `[[probe]]`, `[[process]]` and `[logs]` checks.
    pub service: Option<ServiceSpec>,
    /// `[[engine]]` tables: engines besides the default one.
    pub engines: Vec<EngineSpec>,
    /// `[settings] compare_emulation`: platforms to run natively and emulated side by side.
    pub compare_emulation: Vec<Platform>,
    /// Where the spec asks for a privileged container, as the error to give unless the command
    /// line allows it.
    privileged: Option<SpecError>,
    /// The spec line that declares each result (a test, file or license check, by its report
    /// name), for annotations that point at it. Empty for a translated cst config.
    pub lines: BTreeMap<String, usize>,
    /// `[meta."<result>"]`: data the JSON report carries with a result (goss's `meta`), by
    /// report name, each a JSON object.
    pub meta: BTreeMap<String, serde_json::Value>,
}

impl Spec {
    /// Refuse a spec that asks for privileged containers unless `allowed` (`--allow-privileged`):
    /// a spec is often written by someone other than whoever runs it in CI.
    pub fn check_privileged(&self, allowed: bool) -> Result<(), SpecError> {
        match &self.privileged {
            Some(e) if !allowed => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// Point the privileged refusal at `at` (where a translated config asked for it) instead of
    /// the generated text.
    pub fn locate_privileged(&mut self, at: Option<SpecError>) {
        if let (Some(at), Some(_)) = (at, &self.privileged) {
            self.privileged = Some(at);
        }
    }

    /// Every `secret_env` value, to be redacted from everything archsmoke writes.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.tests
            .iter()
            .flat_map(|t| t.secret_env.values().map(String::as_str))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub timeout: Duration,
    pub emulated_timeout_factor: f64,
    /// `emulated_ready_factor` as written; see [`Settings::ready_factor`].
    pub emulated_ready_factor: Option<f64>,
    /// Containers at once over all platforms; `None` picks the default.
    pub jobs: Option<usize>,
    pub network: String,
    pub variant_match: MatchMode,
    /// Bytes of output kept per stream (the tail); `None` leaves it to the command line.
    pub output_limit: Option<usize>,
    /// Every test runs privileged (only with `--allow-privileged`).
    pub privileged: bool,
    /// Processes and memory of each test container (`pids_limit`, `memory`).
    pub limits: crate::limits::Limits,
    /// Whether platforms may run emulated; `--emulation` overrides it.
    pub emulation: Policy,
    /// A fresh container per test, or one per platform with each test an exec in it.
    pub isolation: Isolation,
    /// The long-running command of the per-platform container under exec isolation.
    pub exec_keepalive: Option<Vec<String>>,
}

/// How tests are isolated from each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// One fresh container per test: nothing is shared between tests (the default).
    #[default]
    Container,
    /// One container per platform, started with `exec_keepalive`; each test is an exec in it,
    /// in spec order, sharing its filesystem and processes. Much faster, above all under QEMU.
    Exec,
}

impl Settings {
    /// The multiplier of a service's readiness deadline under emulation: `emulated_ready_factor`
    /// when the spec sets it, else [`DEFAULT_EMULATED_READY_FACTOR`] capped by
    /// `emulated_timeout_factor` (a spec that lowered that one wants no longer wait here).
    pub fn ready_factor(&self) -> f64 {
        self.emulated_ready_factor
            .unwrap_or(DEFAULT_EMULATED_READY_FACTOR.min(self.emulated_timeout_factor))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: DEFAULT_TIMEOUT,
            emulated_timeout_factor: DEFAULT_EMULATED_TIMEOUT_FACTOR,
            emulated_ready_factor: None,
            jobs: None,
            network: "none".to_owned(),
            variant_match: MatchMode::Strict,
            emulation: Policy::Allow,
            isolation: Isolation::Container,
            exec_keepalive: None,
            output_limit: None,
            privileged: false,
            limits: crate::limits::Limits::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestSpec {
    pub name: String,
    /// Replaces the image's CMD; `None` keeps it.
    pub command: Option<Vec<String>>,
    /// Replaces the image's ENTRYPOINT; `None` keeps it.
    pub entrypoint: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// Passed like `env`; the values are redacted from output, reports and logs.
    pub secret_env: BTreeMap<String, String>,
    /// Run privileged (only with `--allow-privileged`).
    pub privileged: bool,
    /// Bind mounts and added capabilities (only with `--allow-privileged`).
    pub host: crate::limits::HostAccess,
    pub timeout: Option<Duration>,
    /// Processes and memory of the test's container: its own, else the settings'.
    pub limits: crate::limits::Limits,
    /// Run only on these platforms; `None` means all.
    pub platforms: Option<Vec<Platform>>,
    /// stdout must be identical on every platform the test runs on.
    pub same_output: bool,
    /// Set before `env`, each value expanded against the image's environment.
    pub env_expand: BTreeMap<String, String>,
    /// `$VAR` in `command`/`entrypoint` is replaced from the image's environment.
    pub expand_command: bool,
    /// Commands whose containers are committed, one on top of the other, before the test runs.
    pub setup: Vec<Vec<String>>,
    /// Replaces the image's USER.
    pub user: Option<String>,
    expect: ExpectLayer,
    per_platform: Vec<(Platform, ExpectLayer)>,
}

impl TestSpec {
    /// The expectations in force on `platform`: the test's own, with that platform's overrides
    /// replacing whole keys (`stdout` replaces `stdout`, `stdout_contains` is left alone).
    pub fn expect_for(&self, platform: &Platform) -> Expect {
        let mut layer = self.expect.clone();
        let mut set: Option<Vec<&'static str>> = None;
        for (p, over) in &self.per_platform {
            if p == platform {
                layer.overlay(over);
                set.get_or_insert_with(Vec::new).extend(over.keys());
            }
        }
        let mut expect = layer.resolve();
        expect.overridden = set.map(|keys| Overridden {
            platform: platform.to_string(),
            keys,
        });
        expect
    }

    pub fn runs_on(&self, platform: &Platform) -> bool {
        service::applies(&self.platforms, platform)
    }
}

/// What a test expects of one run, fully resolved for one platform.
#[derive(Debug, Clone)]
pub struct Expect {
    pub exit_code: IntRange,
    pub stdout: StreamExpect,
    pub stderr: StreamExpect,
    /// A per-platform override applies here: the keys it sets. Every other key of the test is
    /// still in force, which a failure of one of them says.
    pub overridden: Option<Overridden>,
}

/// The `[test.per_platform."P"]` table that applies to a platform, as its keys.
#[derive(Debug, Clone)]
pub struct Overridden {
    pub platform: String,
    pub keys: Vec<&'static str>,
}

impl Overridden {
    /// What a mismatch of the test's own key `key` says when the override leaves it in force:
    /// `None` when the override set `key` itself.
    pub fn note(&self, key: &str) -> Option<String> {
        if self.keys.contains(&key) {
            return None;
        }
        let set: Vec<String> = self.keys.iter().map(|k| format!("`{k}`")).collect();
        Some(format!(
            "`{key}` is the test's own: [test.per_platform.\"{}\"] sets only {}, and a key it does \
             not set still applies there (override `{key}` too, or move it into the other \
             platforms' tables)",
            self.platform,
            set.join(", ")
        ))
    }
}

#[derive(Debug, Clone, Default)]
pub struct StreamExpect {
    pub exact: Option<String>,
    pub contains: Vec<String>,
    pub matches: Vec<Regex>,
    pub excludes: Vec<String>,
    /// Regexes none of which may match.
    pub not_matches: Vec<Regex>,
}

impl StreamExpect {
    /// Nothing is expected of this stream: it need not be kept whole to be checked.
    pub fn is_empty(&self) -> bool {
        self.exact.is_none()
            && self.contains.is_empty()
            && self.matches.is_empty()
            && self.excludes.is_empty()
            && self.not_matches.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
struct ExpectLayer {
    exit_code: Option<IntRange>,
    stdout: StreamLayer,
    stderr: StreamLayer,
}

#[derive(Debug, Clone, Default)]
struct StreamLayer {
    exact: Option<String>,
    contains: Option<Vec<String>>,
    matches: Option<Vec<Regex>>,
    excludes: Option<Vec<String>>,
    not_matches: Option<Vec<Regex>>,
}

impl ExpectLayer {
    fn overlay(&mut self, over: &ExpectLayer) {
        if over.exit_code.is_some() {
            self.exit_code = over.exit_code;
        }
        self.stdout.overlay(&over.stdout);
        self.stderr.overlay(&over.stderr);
    }

    fn resolve(self) -> Expect {
        Expect {
            exit_code: self.exit_code.unwrap_or(IntRange::exactly(0)),
            stdout: self.stdout.resolve(),
            stderr: self.stderr.resolve(),
            overridden: None,
        }
    }

    /// The keys this layer sets, as a spec writes them (`stdout_contains`).
    fn keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.exit_code.is_some() {
            keys.push("exit_code");
        }
        keys.extend(self.stdout.keys([
            "stdout",
            "stdout_contains",
            "stdout_matches",
            "stdout_excludes",
            "stdout_not_matches",
        ]));
        keys.extend(self.stderr.keys([
            "stderr",
            "stderr_contains",
            "stderr_matches",
            "stderr_excludes",
            "stderr_not_matches",
        ]));
        keys
    }
}

impl StreamLayer {
    fn overlay(&mut self, over: &StreamLayer) {
        if over.exact.is_some() {
            self.exact.clone_from(&over.exact);
        }
        if over.contains.is_some() {
            self.contains.clone_from(&over.contains);
        }
        if over.matches.is_some() {
            self.matches.clone_from(&over.matches);
        }
        if over.excludes.is_some() {
            self.excludes.clone_from(&over.excludes);
        }
        if over.not_matches.is_some() {
            self.not_matches.clone_from(&over.not_matches);
        }
    }

    /// Of `names` (exact, contains, matches, excludes, not_matches), those this layer sets.
    fn keys(&self, names: [&'static str; 5]) -> Vec<&'static str> {
        [
            self.exact.is_some(),
            self.contains.is_some(),
            self.matches.is_some(),
            self.excludes.is_some(),
            self.not_matches.is_some(),
        ]
        .into_iter()
        .zip(names)
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    fn resolve(self) -> StreamExpect {
        StreamExpect {
            exact: self.exact,
            contains: self.contains.unwrap_or_default(),
            matches: self.matches.unwrap_or_default(),
            excludes: self.excludes.unwrap_or_default(),
            not_matches: self.not_matches.unwrap_or_default(),
        }
    }
}

impl Spec {
    /// What exec isolation needs, checked when the command line asks for it (the spec's own
    /// `isolation = "exec"` is checked, with line and column, when it loads): the keepalive
    /// command, and a command for every test, since an exec has no image CMD to fall back on.
    pub fn exec_keepalive(&self) -> Result<Vec<String>, String> {
        let keepalive = self.settings.exec_keepalive.clone().ok_or_else(|| {
            format!(
                "{}: exec isolation needs `exec_keepalive` in [settings], a command that runs                  until removed, e.g. exec_keepalive = [\"sleep\", \"infinity\"]",
                self.path.display()
            )
        })?;
        if let Some(t) = self
            .tests
            .iter()
            .find(|t| t.command.is_none() && t.entrypoint.is_none())
        {
            return Err(format!(
                "test `{}` has no `command`; under exec isolation the image's CMD is not run, \
                 so every test needs one",
                t.name
            ));
        }
        if let Some(t) = self.tests.iter().find(|t| {
            !t.setup.is_empty()
                || t.user.is_some()
                || t.expand_command
                || !t.env_expand.is_empty()
                || !t.host.is_empty()
        }) {
            return Err(format!(
                "test `{}` uses `setup`, `user`, `expand_command`, `env_expand`, `mounts` or \
                 `cap_add`, which need a container of its own per test",
                t.name
            ));
        }
        Ok(keepalive)
    }
}

/// Read and validate a spec file.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    parse(path, &read(path)?)
}

/// The text of a spec (or a cst config) file, or an error that says where relative paths start
/// and how to get a first spec.
pub fn read(path: &Path) -> Result<String, SpecError> {
    read_bounded(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            return SpecError::file(path, format!("cannot read the spec: {e}")).with_hint(format!(
                "a spec is a regular file of UTF-8 text of at most {} MiB; split a larger one \
                 into several specs",
                MAX_SPEC_SIZE >> 20
            ));
        }
        SpecError::file(path, format!("cannot read the spec: {e}")).with_hint(
            match std::env::current_dir() {
                Ok(dir) => format!(
                    "check the path (relative paths start at {}); `archsmoke init IMAGE -o \
                     FILE` writes a starter spec for an image",
                    dir.display()
                ),
                Err(_) => "check the path; `archsmoke init IMAGE -o FILE` writes a starter \
                           spec for an image"
                    .to_owned(),
            },
        )
    })
}

/// The largest spec (or cst config) read: far past any hand-written one, and loading stays in
/// seconds.
pub const MAX_SPEC_SIZE: u64 = 16 << 20;

/// A spec file's text ([`crate::userfile`]: a regular file of at most [`MAX_SPEC_SIZE`]).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    crate::userfile::read_text(path, MAX_SPEC_SIZE)
}

/// Validate spec text; `path` is used for messages and the suite name only. The first problem
/// only; [`parse_all`] has every one.
pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
    parse_all(path, text).map_err(|mut errors| errors.remove(0))
}

/// The most problems one spec reports: past that, the rest is noise until the first are fixed.
pub const MAX_ERRORS: usize = 20;

/// Validate spec text, reporting every problem (up to [`MAX_ERRORS`]) in the order of the file.
///
/// The TOML reader stops at its first error, so the reader is asked again with the offending
/// key's line blanked out (spaces for every character but newlines, so that positions stay),
/// until it reads the rest: every wrong key of a table is reported, not only its first. When
/// the line is not a whole `key = value` of its own (a multi-line array, a header) or the same
/// error comes back, the table that held it is blanked instead. A required key that is missing
/// only because its line was blanked is no news and is not reported. What the reader read is
/// then validated table by table. A file with both kinds of problem shows both.
pub fn parse_all(path: &Path, text: &str) -> Result<Spec, Vec<SpecError>> {
    let mut errors: Vec<SpecError> = Vec::new();
    let mut text_now = text.to_owned();
    // Offsets of the lines blanked so far (not of whole tables), and of those whose key meant
    // something (a known key of the wrong type, a wrong key inside an inline table), which can
    // leave their table looking incomplete.
    let mut blanked_lines: Vec<usize> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    let raw = loop {
        match toml::from_str::<RawSpec>(&text_now) {
            Ok(raw) => break Some(raw),
            Err(e) => {
                let err = toml_error(path, text, &e);
                let offset = e.span().map_or(0, |s| s.start);
                let again = errors
                    .iter()
                    .any(|x| x.line == err.line && x.column == err.column);
                let (start, end) = table_range(&text_now, offset);
                let ours = e.message().starts_with("missing field")
                    && blanked_lines.iter().any(|&at| (start..end).contains(&at));
                if !again && !ours {
                    errors.push(err);
                }
                if errors.len() >= MAX_ERRORS {
                    break None;
                }
                let line = (!again && !ours)
                    .then(|| blank_line(&text_now, offset))
                    .flatten();
                match line {
                    Some((blanked, at, key)) => {
                        blanked_lines.push(at);
                        let unknown = parse_unknown_field(e.message()).map(|(f, _)| f);
                        if unknown.is_none() || unknown != key {
                            touched.push(at);
                        }
                        text_now = blanked;
                    }
                    None => match blank_table(&text_now, offset) {
                        Some(blanked) => text_now = blanked,
                        None => break None,
                    },
                }
            }
        }
    };
    if let Some(raw) = raw {
        // A table with a line blanked out may look incomplete (a probe without its `http`):
        // its other problems are reported once its wrong keys are fixed.
        let lines = line_starts(text);
        let line_of = |at: usize| lines.partition_point(|&start| start <= at).max(1);
        let touched: Vec<(usize, usize)> = touched
            .iter()
            .map(|&at| {
                let (start, end) = table_range(text, at);
                (line_of(start), line_of(end))
            })
            .collect();
        let news = |e: &SpecError| !touched.iter().any(|&(a, b)| (a..b).contains(&e.line));
        match (Validator { path, text, lines }.spec(raw)) {
            Ok(spec) if errors.is_empty() => return Ok(spec),
            Ok(_) => {}
            // A table blanked out may leave the rest looking empty; that is no news.
            Err(more) if !errors.is_empty() => {
                errors.extend(more.into_iter().filter(|e| e.line > 0 && news(e)));
            }
            Err(more) => errors.extend(more),
        }
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.truncate(MAX_ERRORS);
    Err(errors)
}

/// Turn a TOML or serde error into a positioned one, adding "did you mean" for unknown keys.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> SpecError {
    let message = e.message().trim().to_owned();
    let offset = e.span().map_or(0, |s| s.start);
    let mut err = SpecError::at(path, text, offset, message.clone());
    if let Some((field, expected)) = parse_unknown_field(&message) {
        err.message = format!("unknown key `{field}`");
        let hint = match did_you_mean(&field, expected.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        };
        err = err.with_hint(hint);
    } else if let Some(hint) = err
        .source_line
        .as_deref()
        .and_then(hints::key_of)
        .and_then(|key| hints::type_hint(key, &message))
    {
        err = err.with_hint(hint);
    }
    err
}

/// serde's message is "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((field.to_owned(), expected))
}

/// The problems found so far, while validation goes on past each.
struct Found(Vec<SpecError>);

impl Found {
    /// The value, or `None` with its error kept.
    fn keep<T>(&mut self, result: Result<T, SpecError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    /// Where each line starts: positions by binary search, so that a spec of many tests loads
    /// in linear time.
    lines: Vec<usize>,
}

/// The offset of every line's start in `text`.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

impl Validator<'_> {
    fn err<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> SpecError {
        SpecError::at(self.path, self.text, spanned.span().start, message)
    }

    /// The spec, or every problem found in it: each section and each table is validated even
    /// when an earlier one was wrong, so that one run shows all there is to fix.
    fn spec(&self, raw: RawSpec) -> Result<Spec, Vec<SpecError>> {
        let mut found = Found(Vec::new());
        let name = self
            .path
            .file_stem()
            .map_or_else(|| "spec".to_owned(), |s| s.to_string_lossy().into_owned());
        let image = match raw.image {
            Some(img) => found.keep(self.image(&img)),
            None => None,
        };
        let platforms = found
            .keep(
                raw.platforms
                    .as_deref()
                    .map(|ps| self.platform_list(ps, "platforms"))
                    .transpose(),
            )
            .flatten();
        let raw_isolation = raw.settings.isolation.clone();
        let mut privileged = raw
            .settings
            .privileged
            .as_ref()
            .filter(|p| *p.get_ref())
            .map(|p| self.privileged_error(p))
            .or_else(|| self.network_gate(raw.settings.network.as_ref()));
        let engines = found.keep(self.engines(&raw.engines)).unwrap_or_default();
        let compare_emulation = match &raw.settings.compare_emulation {
            Some(list) => found
                .keep(self.platform_list(list, "compare_emulation"))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let settings = found.keep(self.settings(raw.settings));
        let audit_written = raw.audit.is_some();
        let audit = found.keep(self.audit(raw.audit)).unwrap_or_default();
        let mut lines = BTreeMap::new();
        let mut files = Vec::with_capacity(raw.files.len());
        for f in &raw.files {
            if let Some(file) = found.keep(self.file(f, platforms.as_deref())) {
                lines.insert(file.report_name(), self.line_of(f.span().start));
                files.push(file);
            }
        }
        let metadata = raw.metadata.and_then(|m| found.keep(self.metadata(m)));
        let service = found
            .keep(self.service(
                service::RawServiceTables {
                    service: raw.service,
                    probes: raw.probes,
                    processes: raw.processes,
                    logs: raw.logs,
                },
                platforms.as_deref(),
            ))
            .flatten();
        let mut licenses = Vec::with_capacity(raw.licenses.len());
        for l in &raw.licenses {
            if let Some(license) = found.keep(self.license(l)) {
                lines.insert(license.name.clone(), self.line_of(l.span().start));
                licenses.push(license);
            }
        }
        let mut packages = Vec::with_capacity(raw.packages.len());
        for p in &raw.packages {
            if let Some(package) = found.keep(self.package(p, platforms.as_deref())) {
                lines.insert(package.report_name(), self.line_of(p.span().start));
                packages.push(package);
            }
        }
        let mut seen = BTreeSet::new();
        let mut tests = Vec::with_capacity(raw.tests.len());
        let base_limits = settings.as_ref().map(|s| s.limits).unwrap_or_default();
        for t in &raw.tests {
            let Some(mut test) = found.keep(self.test(t.get_ref(), platforms.as_deref())) else {
                continue;
            };
            let Some(limits) = found.keep(self.test_limits(t.get_ref(), base_limits)) else {
                continue;
            };
            test.limits = limits;
            if let Some(p) = t.get_ref().privileged.as_ref().filter(|p| *p.get_ref()) {
                privileged.get_or_insert_with(|| self.privileged_error(p));
            }
            if let Some(e) = self.host_access_gate(t.get_ref()) {
                privileged.get_or_insert(e);
            }
            test.privileged |= settings.as_ref().is_some_and(|s| s.privileged);
            if !seen.insert(test.name.clone()) {
                found.keep::<()>(Err(self
                    .err(
                        &t.get_ref().name,
                        format!("duplicate test name `{}`", test.name),
                    )
                    .with_hint(
                        "test names identify results in reports; make each one unique",
                    )));
                continue;
            }
            lines.insert(
                test.name.clone(),
                self.line_of(t.get_ref().name.span().start),
            );
            tests.push(test);
        }
        // What is wrong inside the tables comes first; whether the whole adds up is only worth
        // asking once each part is right.
        let (Some(settings), true) = (settings, found.0.is_empty()) else {
            return Err(found.0);
        };
        // The default ELF audit alone is not a reason to run: it comes with every spec. An
        // `[audit]` table written out is one.
        if tests.is_empty()
            && files.is_empty()
            && metadata.is_none()
            && licenses.is_empty()
            && packages.is_empty()
            && service.is_none()
            && !(audit_written && audit.elf != ElfLevel::Off)
        {
            return Err(vec![
                SpecError::file(self.path, "the spec has nothing to check").with_hint(
                    "add a [[test]] table with a `name` and a `command`, a [[file]], [[package]], [metadata] \
                     or [audit]",
                ),
            ]);
        }
        let meta = self.meta(
            &raw.meta,
            &tests,
            &files,
            &licenses,
            &packages,
            service.as_ref(),
        )?;
        let spec = Spec {
            path: self.path.to_owned(),
            meta,
            name,
            image,
            platforms,
            settings,
            tests,
            files,
            metadata,
            licenses,
            packages,
            audit,
            service,
            engines,
            compare_emulation,
            privileged,
            lines,
        };
        if spec.service.is_some()
            && let Some(t) = spec
                .tests
                .iter()
                .find(|t| t.command.is_none() && t.entrypoint.is_none())
        {
            return Err(vec![
                SpecError::file(
                    self.path,
                    format!(
                        "test `{}` has no `command`; with a [service], tests run as execs inside \
                         the running service, which has no CMD of their own to fall back on",
                        t.name
                    ),
                )
                .with_hint("give the test a `command`"),
            ]);
        }
        if spec.settings.isolation == Isolation::Exec
            && let Err(message) = spec.exec_keepalive()
        {
            let at = raw_isolation.as_ref().map_or(0, |s| s.span().start);
            return Err(vec![
                SpecError::at(self.path, self.text, at, message)
                    .with_hint("or use isolation = \"container\" (the default)"),
            ]);
        }
        Ok(spec)
    }

    /// The image as the image source parses it; per-platform images become `P=REF,P=REF`,
    /// the form `--image P=REF` gives too.
    fn image(&self, raw: &Spanned<raw::RawImage>) -> Result<String, SpecError> {
        let text = match raw.get_ref() {
            raw::RawImage::One(text) => text.clone(),
            raw::RawImage::PerPlatform(members) => {
                if let Some((p, _)) = members.iter().find(|(p, _)| Platform::parse(p).is_err()) {
                    return Err(self
                        .err(raw, format!("`{p}` in `image` is not a platform"))
                        .with_hint("write `image = { \"linux/arm64\" = \"app:sha-arm64\" }`"));
                }
                members
                    .iter()
                    .map(|(p, r)| format!("{p}={r}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        if text.trim().is_empty() {
            return Err(self
                .err(raw, "`image` is empty")
                .with_hint("name an image such as `127.0.0.1:5000/app:1.0`"));
        }
        Ok(text)
    }

    /// The 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.lines.partition_point(|&start| start <= offset).max(1)
    }

    /// `[meta]`: every key names a result of the spec, as reports name it.
    fn meta(
        &self,
        raw: &BTreeMap<Spanned<String>, toml::Table>,
        tests: &[TestSpec],
        files: &[FileCheck],
        licenses: &[LicenseCheck],
        packages: &[PackageCheck],
        service: Option<&ServiceSpec>,
    ) -> Result<BTreeMap<String, serde_json::Value>, Vec<SpecError>> {
        if raw.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut names: Vec<String> = tests.iter().map(|t| t.name.clone()).collect();
        names.extend(files.iter().map(FileCheck::report_name));
        names.extend(licenses.iter().map(|l| l.name.clone()));
        names.extend(packages.iter().map(PackageCheck::report_name));
        if let Some(s) = service {
            names.extend(s.probes.iter().map(|p| format!("probe {}", p.name)));
            names.extend(s.processes.iter().map(|p| format!("process {}", p.name)));
        }
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, table) in raw {
            if !names.iter().any(|n| n == name.get_ref()) {
                let hint = match did_you_mean(name.get_ref(), names.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "name a result as reports name it: a test's or file's name, \
                             `probe NAME`, `process NAME`"
                        .to_owned(),
                };
                errors.push(
                    self.err(
                        name,
                        format!("[meta]: no result is named `{}`", name.get_ref()),
                    )
                    .with_hint(hint),
                );
                continue;
            }
            match serde_json::to_value(table) {
                Ok(v) => {
                    out.insert(name.get_ref().clone(), v);
                }
                Err(e) => errors.push(self.err(name, format!("[meta]: {e}"))),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The `--allow-privileged` refusal of a test's bind mounts or added capabilities.
    fn host_access_gate(&self, raw: &RawTest) -> Option<SpecError> {
        let (at, what) = match (&raw.mounts, &raw.cap_add) {
            (Some(m), _) if !m.get_ref().is_empty() => {
                (m.span(), "the spec mounts host paths into a test container")
            }
            (_, Some(c)) if !c.get_ref().is_empty() => {
                (c.span(), "the spec adds capabilities to a test container")
            }
            _ => return None,
        };
        Some(
            SpecError::at(self.path, self.text, at.start, what).with_hint(
                "a host mount or an added capability weakens isolation like privileged = true: \
                 pass --allow-privileged if you trust this spec, or remove `mounts`/`cap_add`",
            ),
        )
    }

    /// A test's `mounts` and `cap_add`, checked.
    fn host_access(&self, raw: &RawTest) -> Result<crate::limits::HostAccess, SpecError> {
        let mut host = crate::limits::HostAccess::default();
        if let Some(m) = &raw.mounts {
            for bind in m.get_ref() {
                if let Some(why) = crate::limits::bind_problem(bind) {
                    return Err(self
                        .err(m, format!("bad mount `{}`: {why}", bind.escape_debug()))
                        .with_hint("write mounts = [\"/host/path:/path/in/container:ro\"]"));
                }
                host.binds.push(bind.clone());
            }
        }
        if let Some(c) = &raw.cap_add {
            for name in c.get_ref() {
                let cap = crate::limits::capability(name).ok_or_else(|| {
                    self.err(c, format!("`{}` is not a capability", name.escape_debug()))
                        .with_hint(
                            "write capability names such as \"SYS_ADMIN\" or \"CAP_NET_ADMIN\"",
                        )
                })?;
                host.cap_add.push(cap);
            }
        }
        Ok(host)
    }

    fn privileged_error(&self, at: &Spanned<bool>) -> SpecError {
        self.err(at, "the spec asks for privileged containers")
            .with_hint(
                "a privileged container can take over the host; pass --allow-privileged if you \
                 trust this spec, or remove `privileged = true`",
            )
    }

    /// `"1MiB"`, `"512KiB"`, `"64k"`, `"2MB"`, `"4096"` (bytes).
    fn size(&self, raw: &Spanned<String>) -> Result<usize, SpecError> {
        let bad = |why: String| {
            self.err(raw, why)
                .with_hint("write sizes like \"64KiB\", \"1MiB\" or \"16MiB\" (at most 256MiB)")
        };
        let bytes = parse_size(raw.get_ref())
            .ok_or_else(|| bad(format!("bad size `{}`", raw.get_ref())))?;
        if !(1024..=MAX_OUTPUT_LIMIT as u64).contains(&bytes) {
            return Err(bad(format!(
                "output_limit `{}` is out of range (1KiB to 256MiB)",
                raw.get_ref()
            )));
        }
        Ok(bytes as usize)
    }

    fn platform_list(
        &self,
        raw: &[Spanned<String>],
        key: &str,
    ) -> Result<Vec<Platform>, SpecError> {
        if raw.is_empty() {
            return Err(
                SpecError::file(self.path, format!("`{key}` is an empty list")).with_hint(format!(
                    "list platforms such as \"linux/arm64\", or remove `{key}`"
                )),
            );
        }
        let mut out: Vec<Platform> = Vec::with_capacity(raw.len());
        for p in raw {
            let platform = self.platform(p)?;
            if out.contains(&platform) {
                return Err(self.err(p, format!("platform `{platform}` is listed twice")));
            }
            out.push(platform);
        }
        Ok(out)
    }

    /// A table's own `platforms` (a `[[file]]`'s, a `[[probe]]`'s): parsed, and each one among
    /// the spec's `platforms` when the spec narrows them; `None` when the table names none.
    fn narrowed_platforms<T>(
        &self,
        raw: Option<&[Spanned<String>]>,
        spec_platforms: Option<&[Platform]>,
        at: &Spanned<T>,
        owner: &str,
    ) -> Result<Option<Vec<Platform>>, SpecError> {
        let platforms = raw
            .map(|ps| self.platform_list(ps, "platforms"))
            .transpose()?;
        if let (Some(mine), Some(all)) = (&platforms, spec_platforms)
            && let Some(p) = mine.iter().find(|p| !all.contains(p))
        {
            return Err(self
                .err(
                    at,
                    format!("{owner} names `{p}`, which is not among the spec's platforms"),
                )
                .with_hint(format!("add it to `platforms`, or fix the {owner}'s list")));
        }
        Ok(platforms)
    }

    fn platform(&self, raw: &Spanned<String>) -> Result<Platform, SpecError> {
        Platform::parse(raw.get_ref()).map_err(|e| self.err(raw, e.to_string()))
    }

    fn duration(&self, raw: &Spanned<String>) -> Result<Duration, SpecError> {
        let d = humantime::parse_duration(raw.get_ref().trim()).map_err(|e| {
            self.err(raw, format!("bad duration `{}`: {e}", raw.get_ref()))
                .with_hint("write durations like \"500ms\", \"30s\" or \"2m\"")
        })?;
        // Beyond this, multiplying by the emulation factor could overflow a Duration.
        if d > MAX_TIMEOUT {
            return Err(self
                .err(raw, format!("a timeout of `{}` is too long", raw.get_ref()))
                .with_hint("use at most \"24h\""));
        }
        if d.is_zero() {
            return Err(self
                .err(raw, "a timeout of zero would fail every test")
                .with_hint("use a positive duration such as \"30s\""));
        }
        Ok(d)
    }

    fn settings(&self, raw: raw::RawSettings) -> Result<Settings, SpecError> {
        let mut s = Settings::default();
        if let Some(t) = &raw.timeout {
            s.timeout = self.duration(t)?;
        }
        if let Some(f) = &raw.emulated_timeout_factor {
            let v = *f.get_ref();
            if !(v.is_finite() && (1.0..=1000.0).contains(&v)) {
                return Err(self
                    .err(f, format!("emulated_timeout_factor {v} is out of range"))
                    .with_hint("use a factor from 1 to 1000; 10 suits QEMU"));
            }
            s.emulated_timeout_factor = v;
        }
        if let Some(f) = &raw.emulated_ready_factor {
            let v = *f.get_ref();
            if !(v.is_finite() && (1.0..=1000.0).contains(&v)) {
                return Err(self
                    .err(f, format!("emulated_ready_factor {v} is out of range"))
                    .with_hint(
                        "use a factor from 1 to 1000; 3 suits a service's start under QEMU",
                    ));
            }
            s.emulated_ready_factor = Some(v);
        }
        if let Some(j) = &raw.jobs {
            let v = *j.get_ref();
            if !(1..=256).contains(&v) {
                return Err(self
                    .err(j, format!("jobs = {v} is out of range"))
                    .with_hint("use 1 to 256 containers at once"));
            }
            s.jobs = Some(v as usize);
        }
        if let Some(n) = &raw.network {
            let v = n.get_ref().trim();
            if v.is_empty() {
                return Err(self
                    .err(n, "`network` is empty")
                    .with_hint("use \"none\" (the default), \"bridge\" or a network name"));
            }
            s.network = v.to_owned();
        }
        if let Some(l) = &raw.output_limit {
            s.output_limit = Some(self.size(l)?);
        }
        s.limits = self.settings_limits(&raw)?;
        s.privileged = raw.privileged.is_some_and(|p| p.into_inner());
        if let Some(m) = &raw.variant_match {
            s.variant_match = match m.get_ref().as_str() {
                "strict" => MatchMode::Strict,
                "compatible" => MatchMode::Compatible,
                other => {
                    return Err(self
                        .err(m, format!("unknown variant_match `{other}`"))
                        .with_hint("use \"strict\" (the default) or \"compatible\""));
                }
            };
        }
        if let Some(e) = &raw.emulation {
            s.emulation = Policy::parse(e.get_ref()).ok_or_else(|| {
                self.err(e, format!("unknown emulation policy `{}`", e.get_ref()))
                    .with_hint(
                        "use \"allow\" (the default), \"forbid\" (native only) or \"only\" \
                         (emulated only)",
                    )
            })?;
        }
        if let Some(i) = &raw.isolation {
            s.isolation = match i.get_ref().as_str() {
                "container" => Isolation::Container,
                "exec" => Isolation::Exec,
                other => {
                    return Err(self
                        .err(i, format!("unknown isolation `{other}`"))
                        .with_hint("use \"container\" (the default) or \"exec\""));
                }
            };
        }
        if let Some(k) = &raw.exec_keepalive {
            if k.get_ref().is_empty() || k.get_ref()[0].trim().is_empty() {
                return Err(self.err(k, "`exec_keepalive` is empty").with_hint(
                    "name a command that runs until removed, e.g. [\"sleep\", \"infinity\"]",
                ));
            }
            s.exec_keepalive = Some(k.get_ref().clone());
        }
        Ok(s)
    }

    fn test(
        &self,
        raw: &RawTest,
        spec_platforms: Option<&[Platform]>,
    ) -> Result<TestSpec, SpecError> {
        let name = raw.name.get_ref().trim();
        if name.is_empty() {
            return Err(self.err(&raw.name, "a test name is empty"));
        }
        self.check_name(&raw.name)?;
        self.check_process(raw)?;
        // `entrypoint = []` clears the image's ENTRYPOINT (`docker run --entrypoint ""`).
        if raw.command.as_ref().is_some_and(|a| a.get_ref().is_empty()) {
            return Err(self
                .err(&raw.name, format!("test `{name}` has an empty `command`"))
                .with_hint("give `command` at least one element, or remove it"));
        }
        let platforms = raw
            .platforms
            .as_deref()
            .map(|ps| self.platform_list(ps, "platforms"))
            .transpose()?;
        let mut per_platform = Vec::new();
        for (key, over) in &raw.per_platform {
            let platform = self.platform(key)?;
            if let Some(all) = spec_platforms
                && !all.contains(&platform)
            {
                return Err(self
                    .err(
                        key,
                        format!("`{platform}` is not among the spec's platforms"),
                    )
                    .with_hint("add it to `platforms`, or fix the table name"));
            }
            per_platform.push((platform, self.expect(over)?));
        }
        let secret_env = match &raw.secret_env {
            Some(secrets) => {
                for (key, value) in secrets.get_ref() {
                    if raw
                        .env
                        .as_ref()
                        .is_some_and(|e| e.get_ref().contains_key(key))
                    {
                        return Err(self
                            .err(
                                secrets,
                                format!("`{key}` is in both `env` and `secret_env`"),
                            )
                            .with_hint("keep a variable in one of them"));
                    }
                    if value.chars().count() < MIN_SECRET_LEN {
                        return Err(self
                            .err(secrets, format!("the secret `{key}` is shorter than {MIN_SECRET_LEN} characters"))
                            .with_hint("redacting so short a value would mangle ordinary output; put it in `env`"));
                    }
                }
                secrets.get_ref().clone()
            }
            None => BTreeMap::new(),
        };
        let (env, secret_env) = self.env_from_host(raw, secret_env)?;
        Ok(TestSpec {
            name: name.to_owned(),
            command: raw.command.as_ref().map(|c| c.get_ref().clone()),
            entrypoint: raw.entrypoint.as_ref().map(|e| e.get_ref().clone()),
            env,
            secret_env,
            privileged: raw.privileged.as_ref().is_some_and(|p| *p.get_ref()),
            host: self.host_access(raw)?,
            timeout: raw.timeout.as_ref().map(|t| self.duration(t)).transpose()?,
            limits: crate::limits::Limits::default(),
            platforms,
            same_output: raw.same_output,
            env_expand: raw.env_expand.clone(),
            expand_command: raw.expand_command,
            setup: self.setup(raw.setup.as_ref())?,
            user: match &raw.user {
                Some(u) if u.get_ref().trim().is_empty() => {
                    return Err(self
                        .err(u, "`user` is empty")
                        .with_hint("name a user or uid[:gid] such as \"1000\", or remove it"));
                }
                Some(u) => Some(u.get_ref().clone()),
                None => None,
            },
            expect: self.expect(&RawExpect::from(raw))?,
            per_platform,
        })
    }

    fn expect(&self, raw: &RawExpect) -> Result<ExpectLayer, SpecError> {
        Ok(ExpectLayer {
            exit_code: raw
                .exit_code
                .as_ref()
                .map(|c| self.number(c, "exit_code", number::EXIT_CODES))
                .transpose()?,
            stdout: StreamLayer {
                exact: raw.stdout.clone(),
                contains: raw.stdout_contains.clone().map(OneOrMany::into_vec),
                matches: raw
                    .stdout_matches
                    .as_ref()
                    .map(|m| self.regexes(m))
                    .transpose()?,
                excludes: raw.stdout_excludes.clone().map(OneOrMany::into_vec),
                not_matches: raw
                    .stdout_not_matches
                    .as_ref()
                    .map(|m| self.regexes(m))
                    .transpose()?,
            },
            stderr: StreamLayer {
                exact: raw.stderr.clone(),
                contains: raw.stderr_contains.clone().map(OneOrMany::into_vec),
                matches: raw
                    .stderr_matches
                    .as_ref()
                    .map(|m| self.regexes(m))
                    .transpose()?,
                excludes: raw.stderr_excludes.clone().map(OneOrMany::into_vec),
                not_matches: raw
                    .stderr_not_matches
                    .as_ref()
                    .map(|m| self.regexes(m))
                    .transpose()?,
            },
        })
    }

    fn setup(
        &self,
        raw: Option<&Spanned<Vec<Vec<String>>>>,
    ) -> Result<Vec<Vec<String>>, SpecError> {
        let Some(raw) = raw else {
            return Ok(Vec::new());
        };
        if raw.get_ref().iter().any(Vec::is_empty) {
            return Err(self
                .err(raw, "a `setup` command is empty")
                .with_hint("write each setup command as a list such as [\"touch\", \"/tmp/x\"]"));
        }
        Ok(raw.get_ref().clone())
    }

    /// The patterns of one name in a table whose list means "all of these" (`env_matches`,
    /// `header_matches`); `what` names it in the error an empty list gets.
    fn all_of(&self, raw: &Spanned<OneOrMany>, what: &str) -> Result<Vec<Regex>, SpecError> {
        let compiled = self.regexes(raw)?;
        if compiled.is_empty() {
            return Err(self
                .err(raw, format!("{what} has an empty list of patterns"))
                .with_hint("an empty list asserts nothing: write a pattern, or remove it"));
        }
        Ok(compiled)
    }

    fn regexes(&self, raw: &Spanned<OneOrMany>) -> Result<Vec<Regex>, SpecError> {
        raw.get_ref()
            .clone()
            .into_vec()
            .iter()
            .map(|pattern| {
                RegexBuilder::new(pattern)
                    .multi_line(true)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        self.err(raw, format!("bad regex `{pattern}`: {e}"))
                            .with_hint("patterns use Rust regex syntax (https://docs.rs/regex)")
                    })
            })
            .collect()
    }
}

/// Bytes in a size such as `"1MiB"`; binary and decimal units, case-insensitive, `None` when
/// malformed or beyond `u64`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests;
