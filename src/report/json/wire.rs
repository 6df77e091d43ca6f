//! The JSON report's wire model: one set of types that `--json` writes and `merge` and `verify`
//! read, so the two sides cannot drift apart (the format itself is described in
//! [`super`]). The types are owned and independent of the runner's, so that refactoring
//! [`RunReport`] never changes the format by accident; converting is [`Report::from`] one way
//! and [`Report::into_run_report`] the other.
//!
//! Reading is lenient where version 1 grew: a field added after the first reports were written
//! (or one a reader only recomputes) has a serde default, so that older reports still read.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::exit;
use crate::mode::ExecMode;
use crate::outcome::{
    self, EmulationDifference, EmulationOnly, EngineSummary, EntryChoice, ImageSummary,
    PlatformReport, PlatformVerdict, ProblemKind, PullReport, RunReport, ServiceReport, TestReport,
    TestStatus,
};
use crate::platform::Platform;
use crate::range::{Bound, IntRange};

/// A whole report, as `--json` writes it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Report {
    pub schema_version: u32,
    #[serde(default)]
    pub tool: Tool,
    pub run_id: String,
    pub spec: String,
    /// `sha256:<hex>` of the spec file (optional; `archsmoke merge` compares it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<String>,
    pub suite: String,
    pub started_at: String,
    pub duration_secs: f64,
    /// Absent only in a document that is not a report this archsmoke wrote: readers that
    /// vouch for a run (`verify`) refuse it.
    #[serde(default)]
    pub result: Option<Verdict>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    pub interrupted: bool,
    pub problem: Option<Problem>,
    pub image: Image,
    pub engine: Option<Engine>,
    #[serde(default)]
    pub engines: Vec<NamedEngine>,
    #[serde(default)]
    pub phases: Phases,
    /// The spec line that declares each result, by name (absent for a cst config).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spec_lines: BTreeMap<String, usize>,
    /// The spec's `[meta]` data, by result name (goss's `meta`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Tests of a platform run natively and emulated whose outcome or output differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulation_differences: Vec<EmulationDifference>,
    /// Tests that passed natively and failed or timed out under emulation (derived from the
    /// platforms: a reader computes them again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_only_under_emulation: Vec<EmulationOnly>,
    #[serde(default)]
    pub totals: Totals,
    pub platforms: Vec<PlatformRow>,
}

/// Seconds per phase; `null` for a phase the run never reached.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Phases {
    pub engine_secs: Option<f64>,
    pub resolve_secs: Option<f64>,
    pub run_secs: Option<f64>,
    pub audit_secs: Option<f64>,
    /// Learning what remote engines emulate (absent in reports written before it was timed).
    #[serde(default)]
    pub probe_secs: Option<f64>,
    /// How the platforms of `probe_secs` were answered; absent when none needed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_platforms: Option<ProbeCounts>,
}

/// Platforms answered by a probe container now, and from the probe cache.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default)]
pub struct ProbeCounts {
    pub probed: usize,
    pub cached: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// A run's or a platform's verdict.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    Error,
    /// Deliberately not tested (emulation policy or `--skip-unavailable`).
    Skipped,
    /// Platforms only: selected, but not one test or check of its own ran (exit 1).
    NotTested,
}

impl From<PlatformVerdict> for Verdict {
    fn from(v: PlatformVerdict) -> Verdict {
        match v {
            PlatformVerdict::Passed => Verdict::Passed,
            PlatformVerdict::Failed => Verdict::Failed,
            PlatformVerdict::Error => Verdict::Error,
            PlatformVerdict::Skipped => Verdict::Skipped,
            PlatformVerdict::NotTested => Verdict::NotTested,
        }
    }
}

impl From<Verdict> for PlatformVerdict {
    fn from(v: Verdict) -> PlatformVerdict {
        match v {
            Verdict::Passed => PlatformVerdict::Passed,
            Verdict::Failed => PlatformVerdict::Failed,
            Verdict::Error => PlatformVerdict::Error,
            Verdict::Skipped => PlatformVerdict::Skipped,
            Verdict::NotTested => PlatformVerdict::NotTested,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    #[serde(default)]
    pub defect: bool,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Image {
    pub reference: String,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub is_index: bool,
    pub available: Vec<Platform>,
    pub attestations: usize,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Engine {
    pub endpoint: String,
    pub local: bool,
    pub version: String,
    pub api_version: String,
    pub platform: Platform,
    pub rootless: bool,
}

/// An entry of `engines`: the engine as `engine` shows it, under the name platforms use.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct NamedEngine {
    /// Absent in reports written before engines had names: the default engine's.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub engine: Engine,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Totals {
    pub platforms: PlatformCounts,
    pub tests: Counts,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct PlatformCounts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub error: usize,
    pub skipped: usize,
    /// Selected platforms that ran nothing of their own; written only when there are any, so
    /// that reports without such a platform read as they always did.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_tested: usize,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy)]
pub struct Counts {
    pub tests: usize,
    pub passed: usize,
    /// Failed expectations only; timeouts are counted apart.
    pub failed: usize,
    pub timed_out: usize,
    pub errors: usize,
    pub not_run: usize,
    pub skipped: usize,
}

/// One platform's row.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PlatformRow {
    pub platform: Platform,
    #[serde(default)]
    pub engine: Option<String>,
    /// Absent only in a document this archsmoke did not write (see [`Report::result`]).
    #[serde(default)]
    pub result: Option<Verdict>,
    pub entry: Option<Entry>,
    #[serde(default)]
    pub mode: Option<String>,
    pub execution: Option<ExecMode>,
    pub pull: Option<Pull>,
    pub problem: Option<Problem>,
    pub duration_secs: f64,
    pub slowdown: Option<f64>,
    #[serde(default)]
    pub counts: Counts,
    pub tests: Vec<Test>,
    /// Only for a spec with a `[service]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceReport>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Entry {
    pub digest: String,
    pub platform: Platform,
    pub reason: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Pull {
    pub image_id: String,
    pub pulled: bool,
    pub duration_secs: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Test {
    pub name: String,
    pub status: TestStatus,
    pub command: Option<Vec<String>>,
    /// The code expected; with a range, the smallest code it accepts.
    pub expected_exit_code: i64,
    /// The range of codes expected (`{"ge": 0, "lt": 2}`), null when one code is.
    #[serde(default)]
    pub expected_exit_range: Option<ExitRange>,
    pub exit_code: Option<i64>,
    /// The stream, or its tail when the capture limit omitted some.
    pub stdout: String,
    /// Bytes omitted before `stdout` (after `stdout_head`, when there is one).
    pub stdout_dropped_bytes: u64,
    /// The stream's first bytes when some were omitted. Absent when nothing was, and in
    /// reports written before heads were kept, whose `stdout` is the tail alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout_head: String,
    pub stderr: String,
    pub stderr_dropped_bytes: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr_head: String,
    pub mismatches: Vec<Mismatch>,
    pub duration_secs: f64,
    /// Null for image checks (metadata, files, audit): they have no deadline.
    pub timeout_secs: Option<f64>,
    pub slowdown: Option<f64>,
    pub error: Option<String>,
}

/// A range of exit codes, with the bounds as the spec wrote them.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExitRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub le: Option<i64>,
}

impl From<IntRange> for ExitRange {
    fn from(r: IntRange) -> ExitRange {
        let mut out = ExitRange::default();
        match r.lower {
            Some(Bound::Inclusive(n)) => out.ge = Some(n),
            Some(Bound::Exclusive(n)) => out.gt = Some(n),
            None => {}
        }
        match r.upper {
            Some(Bound::Inclusive(n)) => out.le = Some(n),
            Some(Bound::Exclusive(n)) => out.lt = Some(n),
            None => {}
        }
        out
    }
}

impl From<ExitRange> for IntRange {
    /// A report read back: were both bounds of one side written (by hand), the inclusive wins.
    fn from(r: ExitRange) -> IntRange {
        IntRange {
            lower: r.ge.map(Bound::Inclusive).or(r.gt.map(Bound::Exclusive)),
            upper: r.le.map(Bound::Inclusive).or(r.lt.map(Bound::Exclusive)),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Mismatch {
    pub check: String,
    pub expected: String,
    pub actual: String,
    /// Why the expectation was in force, when the spec does not say it at that place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&RunReport> for Report {
    fn from(r: &RunReport) -> Report {
        let platforms: Vec<PlatformRow> = r.platforms.iter().map(PlatformRow::from).collect();
        let mut totals = Totals::default();
        for p in &platforms {
            totals.platforms.total += 1;
            match p.result {
                Some(Verdict::Passed) => totals.platforms.passed += 1,
                Some(Verdict::Failed) => totals.platforms.failed += 1,
                Some(Verdict::Error) => totals.platforms.error += 1,
                Some(Verdict::Skipped) => totals.platforms.skipped += 1,
                Some(Verdict::NotTested) => totals.platforms.not_tested += 1,
                None => {}
            }
            totals.tests.add(p.counts);
        }
        let exit_code = r.exit_code();
        Report {
            schema_version: super::SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            run_id: r.run_id.clone(),
            spec: r.spec.clone(),
            spec_digest: r.spec_digest.clone(),
            suite: r.suite.clone(),
            started_at: r.started_at.clone(),
            duration_secs: secs(r.duration),
            result: Some(match exit_code {
                exit::SUCCESS => Verdict::Passed,
                exit::TEST_FAILED => Verdict::Failed,
                _ => Verdict::Error,
            }),
            exit_code: Some(exit_code),
            interrupted: r.interrupted,
            problem: r.problem.as_ref().map(Problem::from),
            image: Image {
                reference: r.image.reference.clone(),
                digest: r.image.digest.clone(),
                media_type: r.image.media_type.clone(),
                is_index: r.image.is_index,
                available: r.image.available.clone(),
                attestations: r.image.attestations,
            },
            engine: r.engine.as_ref().map(Engine::from),
            engines: r
                .engines
                .iter()
                .map(|e| NamedEngine {
                    name: Some(e.name.clone()),
                    engine: Engine::from(e),
                })
                .collect(),
            phases: Phases {
                engine_secs: r.phases.engine.map(secs),
                resolve_secs: r.phases.resolve.map(secs),
                run_secs: r.phases.run.map(secs),
                audit_secs: r.phases.audit.map(secs),
                probe_secs: r.phases.probe.map(|p| secs(p.duration)),
                probe_platforms: r.phases.probe.map(|p| ProbeCounts {
                    probed: p.probed,
                    cached: p.cached,
                }),
            },
            spec_lines: r.spec_lines.clone(),
            meta: r.meta.clone(),
            emulation_differences: r.emulation_differences.clone(),
            failed_only_under_emulation: r.emulation_only(),
            totals,
            platforms,
        }
    }
}

impl From<&EngineSummary> for Engine {
    fn from(e: &EngineSummary) -> Engine {
        Engine {
            endpoint: e.endpoint.clone(),
            local: e.local,
            version: e.version.clone(),
            api_version: e.api_version.clone(),
            platform: e.platform.clone(),
            rootless: e.rootless,
        }
    }
}

impl From<&PlatformReport> for PlatformRow {
    fn from(p: &PlatformReport) -> PlatformRow {
        let mut counts = Counts::default();
        for t in &p.tests {
            counts.add_status(t.status);
        }
        PlatformRow {
            platform: p.platform.clone(),
            engine: p.engine.clone(),
            result: Some(p.verdict().into()),
            entry: p.entry.as_ref().map(|e| Entry {
                digest: e.digest.clone(),
                platform: e.platform.clone(),
                reason: e.reason.clone(),
            }),
            mode: p.mode.as_ref().map(ToString::to_string),
            execution: p.mode.clone(),
            pull: p.pull.as_ref().map(|pull| Pull {
                image_id: pull.image_id.clone(),
                pulled: pull.pulled,
                duration_secs: secs(pull.duration),
            }),
            problem: p.problem.as_ref().map(Problem::from),
            duration_secs: secs(p.duration),
            slowdown: p.slowdown.map(round),
            counts,
            tests: p.tests.iter().map(Test::from).collect(),
            service: p.service.as_deref().cloned(),
        }
    }
}

impl From<&TestReport> for Test {
    fn from(t: &TestReport) -> Test {
        Test {
            name: t.name.clone(),
            status: t.status,
            command: t.command.clone(),
            expected_exit_code: t.expected_exit.exact().unwrap_or_else(|| {
                t.expected_exit
                    .within((i64::MIN, i64::MAX))
                    .map_or(0, |(lo, _)| lo)
            }),
            expected_exit_range: match t.expected_exit.exact() {
                Some(_) => None,
                None => Some(ExitRange::from(t.expected_exit)),
            },
            exit_code: t.exit_code,
            stdout: t.stdout.clone(),
            stdout_dropped_bytes: t.stdout_omitted,
            stdout_head: t.stdout_head.clone(),
            stderr: t.stderr.clone(),
            stderr_dropped_bytes: t.stderr_omitted,
            stderr_head: t.stderr_head.clone(),
            mismatches: t
                .mismatches
                .iter()
                .map(|m| Mismatch {
                    check: m.check.clone(),
                    expected: m.expected.clone(),
                    actual: m.actual.clone(),
                    note: m.note.clone(),
                })
                .collect(),
            duration_secs: secs(t.duration),
            timeout_secs: (!t.timeout.is_zero()).then(|| secs(t.timeout)),
            slowdown: t.slowdown.map(round),
            error: t.error.clone(),
        }
    }
}

impl From<&outcome::Problem> for Problem {
    fn from(p: &outcome::Problem) -> Problem {
        Problem {
            kind: p.kind,
            defect: p.kind.is_defect(),
            message: p.message.clone(),
            hint: p.hint.clone(),
        }
    }
}

impl From<Problem> for outcome::Problem {
    fn from(p: Problem) -> outcome::Problem {
        outcome::Problem {
            kind: p.kind,
            message: p.message,
            hint: p.hint,
        }
    }
}

impl Report {
    /// The run this report describes, for reporters to render again (`merge`). What the wire
    /// only derives (verdicts, counts, totals, emulation differences) is dropped: whoever needs
    /// it computes it again from the rows.
    pub fn into_run_report(self) -> RunReport {
        let default = outcome::DEFAULT_ENGINE;
        let summary = |name: Option<String>, e: Engine| EngineSummary {
            name: name.unwrap_or_else(|| default.to_owned()),
            endpoint: e.endpoint,
            local: e.local,
            version: e.version,
            api_version: e.api_version,
            platform: e.platform,
            rootless: e.rootless,
        };
        let mut engines: Vec<EngineSummary> = self
            .engines
            .into_iter()
            .map(|e| summary(e.name, e.engine))
            .collect();
        let first = self.engine.map(|e| summary(None, e));
        if engines.is_empty() {
            engines.extend(first.clone());
        }
        RunReport {
            run_id: self.run_id,
            spec: self.spec,
            suite: self.suite,
            spec_digest: self.spec_digest,
            image: ImageSummary {
                reference: self.image.reference,
                digest: self.image.digest,
                media_type: self.image.media_type,
                is_index: self.image.is_index,
                available: self.image.available,
                attestations: self.image.attestations,
            },
            engine: engines.first().cloned().or(first),
            engines,
            started_at: self.started_at,
            duration: duration(self.duration_secs),
            platforms: self
                .platforms
                .into_iter()
                .map(PlatformRow::into_platform_report)
                .collect(),
            problem: self.problem.map(outcome::Problem::from),
            interrupted: self.interrupted,
            phases: outcome::Phases {
                engine: self.phases.engine_secs.map(duration),
                resolve: self.phases.resolve_secs.map(duration),
                run: self.phases.run_secs.map(duration),
                audit: self.phases.audit_secs.map(duration),
                probe: self.phases.probe_secs.map(|d| {
                    let counts = self.phases.probe_platforms.unwrap_or_default();
                    outcome::ProbePhase {
                        duration: duration(d),
                        probed: counts.probed,
                        cached: counts.cached,
                    }
                }),
            },
            spec_lines: self.spec_lines,
            meta: self.meta,
            // Derived from the platforms; whoever needs them (merge) computes them again.
            emulation_differences: Vec::new(),
        }
    }
}

impl PlatformRow {
    fn into_platform_report(self) -> PlatformReport {
        PlatformReport {
            platform: self.platform,
            engine: self.engine,
            entry: self.entry.map(|e| EntryChoice {
                digest: e.digest,
                platform: e.platform,
                reason: e.reason,
            }),
            mode: self.execution,
            service: self.service.map(Box::new),
            containers_done: None,
            pull: self.pull.map(|x| PullReport {
                image_id: x.image_id,
                pulled: x.pulled,
                duration: duration(x.duration_secs),
            }),
            problem: self.problem.map(outcome::Problem::from),
            tests: self.tests.into_iter().map(Test::into_test_report).collect(),
            duration: duration(self.duration_secs),
            slowdown: self.slowdown,
        }
    }
}

impl Test {
    fn into_test_report(self) -> TestReport {
        TestReport {
            name: self.name,
            command: self.command,
            status: self.status,
            exit_code: self.exit_code,
            // An empty range (written by hand) says nothing: the code is what is expected.
            expected_exit: self
                .expected_exit_range
                .filter(|r| *r != ExitRange::default())
                .map_or_else(
                    || IntRange::exactly(self.expected_exit_code),
                    IntRange::from,
                ),
            stdout: self.stdout,
            stderr: self.stderr,
            stdout_head: self.stdout_head,
            stderr_head: self.stderr_head,
            stdout_omitted: self.stdout_dropped_bytes,
            stderr_omitted: self.stderr_dropped_bytes,
            mismatches: self
                .mismatches
                .into_iter()
                .map(|m| outcome::Mismatch {
                    check: m.check,
                    expected: m.expected,
                    actual: m.actual,
                    note: m.note,
                })
                .collect(),
            duration: duration(self.duration_secs),
            // Image checks have no deadline: `null` on the wire, zero in the contract.
            timeout: duration(self.timeout_secs.unwrap_or(0.0)),
            slowdown: self.slowdown,
            error: self.error,
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

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn secs(d: Duration) -> f64 {
    round(d.as_secs_f64())
}

/// Three decimals: milliseconds for durations, 0.1% for ratios; more digits are noise.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A negative, infinite or NaN number of seconds (a hand-edited report) reads as zero.
fn duration(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}
