//! The JSON report: a documented, versioned wire format for scripts and dashboards, written from
//! a finished [`RunReport`].
//!
//! The format has its own serialization types (below), so that refactoring the runner's types
//! never changes it by accident; `report.schema.json` beside this file is its JSON Schema (draft
//! 2020-12), and a test validates rendered reports against it.
//!
//! # Versioning
//!
//! `schema_version` is 1. It goes up when a field is removed, renamed, or changes type or
//! meaning. Fields may be added without a bump (and the schema updated with them): consumers
//! must ignore fields they do not know.
//!
//! # Format (version 1)
//!
//! Durations are seconds as numbers, rounded to milliseconds; digests are `sha256:<hex>`;
//! platforms are `os/arch[/variant]` strings; `null` means "not known" (for example no `pull`
//! for a platform that never got that far).
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "tool": {"name": "archsmoke", "version": "0.1.0"},
//!   "run_id", "spec", "suite", "started_at" (RFC 3339, UTC), "duration_secs",
//!   "result": "passed" | "failed" | "error",    // the run's verdict ...
//!   "exit_code": 0 | 1 | 3,                      // ... and the exit code it gives
//!   "interrupted": bool,
//!   "problem": null | Problem,                   // what stopped the run before any platform ran
//!   "image": {"reference", "digest", "media_type", "is_index",
//!             "available": [platform], "attestations": count of attestation manifests},
//!   "engine": null | {"endpoint", "local", "version", "api_version", "platform", "rootless"},
//!                                              // the run's first engine (kept for compatibility)
//!   "engines": [{"name", "endpoint", "local", "version", "api_version", "platform",
//!                "rootless"}],                 // every engine the run used; "default" when the
//!                                              // spec names none
//!   "phases": {"engine_secs", "resolve_secs", "run_secs", "audit_secs"},
//!                                              // wall time per phase, null if never reached;
//!                                              // engine and resolve run side by side
//!   "spec_lines": {result name: line},        // where the spec declares each test, file
//!                                              // and license check (absent for cst configs)
//!   "emulation_differences": [{"platform", "test", "native_engine", "emulated_engine",
//!       "native", "emulated", "differs": ["outcome" | "exit code" | "stdout" | "stderr"]}],
//!                                              // --compare-emulation: tests whose native and
//!                                              // emulated rows disagree (absent when none)
//!   "totals": {"platforms": {"total", "passed", "failed", "error", "skipped"},
//!              "tests": Counts},
//!   "platforms": [{
//!     "platform", "engine": null | string,    // the name of the engine that ran it
//!     "result": "passed" | "failed" | "error" | "skipped",
//!                                              // skipped: not tested on purpose (emulation
//!                                              // policy, --skip-unavailable); problem says why
//!     "entry": null | {"digest", "platform", "reason"},   // the index entry chosen, and why
//!     "mode": null | string,                   // as the terminal shows it: native, qemu-aarch64...
//!     "execution": null | {"mode": "native" | "emulated" | "unavailable", ...},
//!                                              // emulated: "emulator": {entry, interpreter, ...}
//!     "pull": null | {"image_id", "pulled", "duration_secs"},
//!     "problem": null | Problem,
//!     "duration_secs", "slowdown": null | number,   // against the native platform's same tests
//!     "counts": Counts,
//!     "tests": [{
//!       "name", "status": "passed" | "failed" | "timed_out" | "error" | "not_run" | "skipped",
//!       "command": null | [string],            // null: the image's default command
//!       "expected_exit_code", "exit_code": null | integer,   // null: killed or never ran
//!       "stdout", "stdout_dropped_bytes", "stderr", "stderr_dropped_bytes",
//!       "mismatches": [{"check", "expected", "actual"}],
//!       "duration_secs", "timeout_secs", "slowdown": null | number,
//!       "error": null | string                 // why the engine could not run it (skipped:
//!                                              // why its platform was not tested)
//!     }]
//!   }]
//! }
//! Problem = {"kind": "missing_platform" | "config_mismatch" | "emulator_unavailable"
//!                    | "registry" | "engine" | "interrupted" | "emulation_forbidden"
//!                    | "not_tested",
//!            "defect": bool,                   // true: the image itself is wrong
//!            "message", "hint": null | string}
//! Counts = {"tests", "passed", "failed", "timed_out", "errors", "not_run", "skipped"}
//! ```
//!
//! A platform's `result` is `failed` when the image is proven wrong there (a failed or timed-out
//! test, a missing or mislabelled platform), else `error` when something kept it from being
//! checked (engine, emulator, interrupt), else `passed`; the run's `result` follows its exit
//! code the same way. `stdout`/`stderr` are the captured text (the tail, when the capture limit
//! dropped `*_dropped_bytes` from the front), exactly as the program wrote it, colour codes
//! included; invalid UTF-8 was replaced with U+FFFD. `execution` is the emulation module's own
//! description of the mode and may gain fields.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::exit;
use crate::mode::ExecMode;
use crate::outcome::{
    EngineSummary, Mismatch, PlatformReport, Problem, RunReport, TestReport, TestStatus,
};

/// The version of the wire format this module writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema (draft 2020-12) of the format, for `archsmoke` to print or ship.
pub const SCHEMA: &str = include_str!("report.schema.json");

/// The report as pretty-printed JSON, ending in a newline.
///
/// # Panics
///
/// Never: every value is a string, number, bool or list, which serde_json always serializes.
pub fn render(report: &RunReport) -> String {
    let mut out = serde_json::to_string_pretty(&Report::from(report))
        .expect("the wire types have only string keys and serializable values");
    out.push('\n');
    out
}

/// Writes [`render`]'s document to `path`, atomically (see [`super::write_atomically`]).
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    super::write_atomically(path, render(report).as_bytes())
}

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    tool: Tool,
    run_id: &'a str,
    spec: &'a str,
    /// `sha256:<hex>` of the spec file (optional; `archsmoke merge` compares it).
    #[serde(skip_serializing_if = "Option::is_none")]
    spec_digest: Option<&'a str>,
    suite: &'a str,
    started_at: &'a str,
    duration_secs: f64,
    result: Verdict,
    exit_code: i32,
    interrupted: bool,
    problem: Option<ProblemJson<'a>>,
    image: Image<'a>,
    engine: Option<Engine<'a>>,
    engines: Vec<NamedEngine<'a>>,
    phases: Phases,
    /// The spec line that declares each result, by name (absent for a cst config).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    spec_lines: &'a std::collections::BTreeMap<String, usize>,
    /// Tests of a platform run natively and emulated whose outcome or output differ.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    emulation_differences: &'a [crate::outcome::EmulationDifference],
    totals: Totals,
    platforms: Vec<Platform<'a>>,
}

/// Seconds per phase; `null` for a phase the run never reached.
#[derive(Serialize)]
struct Phases {
    engine_secs: Option<f64>,
    resolve_secs: Option<f64>,
    run_secs: Option<f64>,
    audit_secs: Option<f64>,
}

impl From<&crate::outcome::Phases> for Phases {
    fn from(p: &crate::outcome::Phases) -> Phases {
        Phases {
            engine_secs: p.engine.map(secs),
            resolve_secs: p.resolve.map(secs),
            run_secs: p.run.map(secs),
            audit_secs: p.audit.map(secs),
        }
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Passed,
    Failed,
    Error,
    /// Deliberately not tested (emulation policy or `--skip-unavailable`).
    Skipped,
}

#[derive(Serialize)]
struct ProblemJson<'a> {
    kind: &'static str,
    defect: bool,
    message: &'a str,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct Image<'a> {
    reference: &'a str,
    digest: Option<&'a str>,
    media_type: Option<&'a str>,
    is_index: bool,
    available: Vec<String>,
    attestations: usize,
}

#[derive(Serialize)]
struct Engine<'a> {
    endpoint: &'a str,
    local: bool,
    version: &'a str,
    api_version: &'a str,
    platform: String,
    rootless: bool,
}

/// An entry of `engines`: the engine as `engine` shows it, under the name platforms use.
#[derive(Serialize)]
struct NamedEngine<'a> {
    name: &'a str,
    #[serde(flatten)]
    engine: Engine<'a>,
}

impl<'a> From<&'a EngineSummary> for Engine<'a> {
    fn from(e: &'a EngineSummary) -> Engine<'a> {
        Engine {
            endpoint: &e.endpoint,
            local: e.local,
            version: &e.version,
            api_version: &e.api_version,
            platform: e.platform.to_string(),
            rootless: e.rootless,
        }
    }
}

#[derive(Serialize)]
struct Totals {
    platforms: PlatformCounts,
    tests: Counts,
}

#[derive(Serialize, Default)]
struct PlatformCounts {
    total: usize,
    passed: usize,
    failed: usize,
    error: usize,
    skipped: usize,
}

#[derive(Serialize, Default, Clone, Copy)]
struct Counts {
    tests: usize,
    passed: usize,
    /// Failed expectations only; timeouts are counted apart.
    failed: usize,
    timed_out: usize,
    errors: usize,
    not_run: usize,
    skipped: usize,
}

#[derive(Serialize)]
struct Platform<'a> {
    platform: String,
    engine: Option<&'a str>,
    result: Verdict,
    entry: Option<Entry<'a>>,
    mode: Option<String>,
    execution: Option<&'a ExecMode>,
    pull: Option<Pull<'a>>,
    problem: Option<ProblemJson<'a>>,
    duration_secs: f64,
    slowdown: Option<f64>,
    counts: Counts,
    tests: Vec<Test<'a>>,
    /// Only for a spec with a `[service]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a crate::outcome::ServiceReport>,
}

#[derive(Serialize)]
struct Entry<'a> {
    digest: &'a str,
    platform: String,
    reason: &'a str,
}

#[derive(Serialize)]
struct Pull<'a> {
    image_id: &'a str,
    pulled: bool,
    duration_secs: f64,
}

#[derive(Serialize)]
struct Test<'a> {
    name: &'a str,
    status: Status,
    command: Option<&'a [String]>,
    expected_exit_code: i64,
    exit_code: Option<i64>,
    stdout: &'a str,
    stdout_dropped_bytes: u64,
    stderr: &'a str,
    stderr_dropped_bytes: u64,
    mismatches: Vec<MismatchJson<'a>>,
    duration_secs: f64,
    /// Null for image checks (metadata, files, audit): they have no deadline.
    timeout_secs: Option<f64>,
    slowdown: Option<f64>,
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Passed,
    Failed,
    TimedOut,
    Error,
    NotRun,
    Skipped,
}

#[derive(Serialize)]
struct MismatchJson<'a> {
    check: &'a str,
    expected: &'a str,
    actual: &'a str,
}

impl<'a> From<&'a RunReport> for Report<'a> {
    fn from(r: &'a RunReport) -> Report<'a> {
        let platforms: Vec<Platform<'a>> = r.platforms.iter().map(Platform::from).collect();
        let mut totals = Totals {
            platforms: PlatformCounts::default(),
            tests: Counts::default(),
        };
        for p in &platforms {
            totals.platforms.total += 1;
            match p.result {
                Verdict::Passed => totals.platforms.passed += 1,
                Verdict::Failed => totals.platforms.failed += 1,
                Verdict::Error => totals.platforms.error += 1,
                Verdict::Skipped => totals.platforms.skipped += 1,
            }
            totals.tests.add(p.counts);
        }
        let exit_code = r.exit_code();
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            run_id: &r.run_id,
            spec: &r.spec,
            spec_digest: r.spec_digest.as_deref(),
            suite: &r.suite,
            started_at: &r.started_at,
            duration_secs: secs(r.duration),
            result: match exit_code {
                exit::SUCCESS => Verdict::Passed,
                exit::TEST_FAILED => Verdict::Failed,
                _ => Verdict::Error,
            },
            exit_code,
            interrupted: r.interrupted,
            problem: r.problem.as_ref().map(ProblemJson::from),
            image: Image {
                reference: &r.image.reference,
                digest: r.image.digest.as_deref(),
                media_type: r.image.media_type.as_deref(),
                is_index: r.image.is_index,
                available: r.image.available.iter().map(ToString::to_string).collect(),
                attestations: r.image.attestations,
            },
            engine: r.engine.as_ref().map(Engine::from),
            engines: r
                .engines
                .iter()
                .map(|e| NamedEngine {
                    name: &e.name,
                    engine: Engine::from(e),
                })
                .collect(),
            phases: Phases::from(&r.phases),
            spec_lines: &r.spec_lines,
            emulation_differences: &r.emulation_differences,
            totals,
            platforms,
        }
    }
}

impl<'a> From<&'a PlatformReport> for Platform<'a> {
    fn from(p: &'a PlatformReport) -> Platform<'a> {
        let mut counts = Counts::default();
        for t in &p.tests {
            counts.add_status(t.status);
        }
        let defect = p.problem.as_ref().is_some_and(|pr| pr.kind.is_defect());
        let result = if p.skipped() {
            Verdict::Skipped
        } else if defect || counts.failed + counts.timed_out > 0 {
            Verdict::Failed
        } else if p.problem.is_some() || counts.errors + counts.not_run > 0 {
            Verdict::Error
        } else {
            Verdict::Passed
        };
        Platform {
            platform: p.platform.to_string(),
            engine: p.engine.as_deref(),
            result,
            entry: p.entry.as_ref().map(|e| Entry {
                digest: &e.digest,
                platform: e.platform.to_string(),
                reason: &e.reason,
            }),
            mode: p.mode.as_ref().map(ToString::to_string),
            execution: p.mode.as_ref(),
            pull: p.pull.as_ref().map(|pull| Pull {
                image_id: &pull.image_id,
                pulled: pull.pulled,
                duration_secs: secs(pull.duration),
            }),
            problem: p.problem.as_ref().map(ProblemJson::from),
            duration_secs: secs(p.duration),
            slowdown: p.slowdown.map(round),
            counts,
            tests: p.tests.iter().map(Test::from).collect(),
            service: p.service.as_deref(),
        }
    }
}

impl<'a> From<&'a TestReport> for Test<'a> {
    fn from(t: &'a TestReport) -> Test<'a> {
        Test {
            name: &t.name,
            status: match t.status {
                TestStatus::Passed => Status::Passed,
                TestStatus::Failed => Status::Failed,
                TestStatus::TimedOut => Status::TimedOut,
                TestStatus::Error => Status::Error,
                TestStatus::NotRun => Status::NotRun,
                TestStatus::Skipped => Status::Skipped,
            },
            command: t.command.as_deref(),
            expected_exit_code: t.expected_exit_code,
            exit_code: t.exit_code,
            stdout: &t.stdout,
            stdout_dropped_bytes: t.stdout_dropped,
            stderr: &t.stderr,
            stderr_dropped_bytes: t.stderr_dropped,
            mismatches: t.mismatches.iter().map(MismatchJson::from).collect(),
            duration_secs: secs(t.duration),
            timeout_secs: (!t.timeout.is_zero()).then(|| secs(t.timeout)),
            slowdown: t.slowdown.map(round),
            error: t.error.as_deref(),
        }
    }
}

impl<'a> From<&'a Mismatch> for MismatchJson<'a> {
    fn from(m: &'a Mismatch) -> MismatchJson<'a> {
        MismatchJson {
            check: &m.check,
            expected: &m.expected,
            actual: &m.actual,
        }
    }
}

impl<'a> From<&'a Problem> for ProblemJson<'a> {
    fn from(p: &'a Problem) -> ProblemJson<'a> {
        ProblemJson {
            kind: super::problem_kind_name(p.kind),
            defect: p.kind.is_defect(),
            message: &p.message,
            hint: p.hint.as_deref(),
        }
    }
}

impl Counts {
    fn add_status(&mut self, status: TestStatus) {
        self.tests += 1;
        match status {
            TestStatus::Passed => self.passed += 1,
            TestStatus::Failed => self.failed += 1,
            TestStatus::TimedOut => self.timed_out += 1,
            TestStatus::Error => self.errors += 1,
            TestStatus::NotRun => self.not_run += 1,
            TestStatus::Skipped => self.skipped += 1,
        }
    }

    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.passed += other.passed;
        self.failed += other.failed;
        self.timed_out += other.timed_out;
        self.errors += other.errors;
        self.not_run += other.not_run;
        self.skipped += other.skipped;
    }
}

fn secs(d: Duration) -> f64 {
    round(d.as_secs_f64())
}

/// Three decimals: milliseconds for durations, 0.1% for ratios; more digits are noise.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
