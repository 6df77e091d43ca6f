//! What a run found: the owned, serializable results that the runner produces and every reporter
//! reads. This module, [`crate::event`] and [`crate::mode`] are the contract between running and
//! reporting: plain data that depends on [`crate::platform`] alone, so reporters never see the
//! engine or the image source. Constructors that turn an engine's or an image source's error
//! into a [`Problem`] live beside those errors (`engine`, `image`).

use std::time::Duration;

use serde::Serialize;

use crate::exit;
use crate::mode::ExecMode;
use crate::platform::Platform;
use crate::range::IntRange;

pub mod doctor;
mod emulation_only;
pub use emulation_only::EmulationOnly;
pub mod inspect;

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    /// The spec's path as given, and its suite name (the file stem).
    pub spec: String,
    pub suite: String,
    pub image: ImageSummary,
    /// SHA-256 of the spec file's bytes, so that `archsmoke merge` can refuse shards of
    /// different specs; `None` when it could not be read again.
    pub spec_digest: Option<String>,
    /// The engine the run used (the first of [`RunReport::engines`]); kept for the reports'
    /// compatibility.
    pub engine: Option<EngineSummary>,
    /// Every engine the run used, each under the name platforms refer to.
    pub engines: Vec<EngineSummary>,
    /// RFC 3339, UTC.
    pub started_at: String,
    #[serde(with = "secs")]
    pub duration: Duration,
    pub platforms: Vec<PlatformReport>,
    /// A failure that stopped the whole run before platforms could run (engine or image).
    pub problem: Option<Problem>,
    /// The run was stopped by a signal; unfinished tests are reported as not run.
    pub interrupted: bool,
    /// Where the wall time went, phase by phase.
    pub phases: Phases,
    /// The spec line that declares each result, by result name (see `Spec::lines`).
    pub spec_lines: std::collections::BTreeMap<String, usize>,
    /// The spec's `[meta]` data by result name (goss's `meta`), carried into the JSON report.
    pub meta: std::collections::BTreeMap<String, serde_json::Value>,
    /// Tests of a platform run both natively and emulated (`--compare-emulation`) whose
    /// outcome or output differ between the two rows.
    pub emulation_differences: Vec<EmulationDifference>,
}

/// One test of a platform compared natively and emulated, where the two disagree.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EmulationDifference {
    pub platform: Platform,
    pub test: String,
    /// The engines of the native and the emulated row.
    pub native_engine: Option<String>,
    pub emulated_engine: Option<String>,
    pub native: TestStatus,
    pub emulated: TestStatus,
    /// What differs: `outcome`, `exit code`, `stdout`, `stderr`.
    pub differs: Vec<String>,
}

/// Wall time of each phase of a run; `None` for a phase the run never reached. Engine and
/// resolve overlap when the image comes from a registry or a layout, so they need not sum up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// Connecting to the engine and reading its version and platform.
    pub engine: Option<Duration>,
    /// Opening the image source (indexing an `oci-archive:`'s members) and reading its index
    /// and nested indexes; for `docker-daemon:`, asking the engine about the image.
    pub resolve: Option<Duration>,
    /// Pulling, creating, running and removing containers, all platforms together.
    pub run: Option<Duration>,
    /// Reading layers and configs for the `[audit]`, `[[file]]` and `[metadata]` checks.
    pub audit: Option<Duration>,
    /// Learning what remote engines emulate, before the plan; `None` when no platform needed it.
    pub probe: Option<ProbePhase>,
}

/// What learning remote engines' emulators took: probe containers, or answers remembered from
/// an earlier run (the probe cache). A platform probed on one engine only is pulled there
/// beside its probe, so this phase includes those pulls and the run's find the images present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProbePhase {
    pub duration: Duration,
    /// Platforms a probe container ran for, on some engine.
    pub probed: usize,
    /// Platforms answered from the probe cache.
    pub cached: usize,
}

/// An engine as reports describe it: what it said about itself, under the name the run gave it
/// ([`DEFAULT_ENGINE`] for the one engine of a run without `[[engine]]` tables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineSummary {
    pub name: String,
    pub endpoint: String,
    /// The engine shares this machine's kernel, so this machine's binfmt entries are its own.
    pub local: bool,
    pub version: String,
    pub api_version: String,
    /// The engine's own platform (from its `/info`, never from the CLI's machine).
    pub platform: Platform,
    pub rootless: bool,
}

/// The name of the engine a run uses when it names none.
pub const DEFAULT_ENGINE: &str = "default";

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageSummary {
    pub reference: String,
    /// Digest of the index (or of the manifest, for a single-platform image).
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub is_index: bool,
    /// The platforms the image offers, in index order.
    pub available: Vec<Platform>,
    pub attestations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    pub platform: Platform,
    /// The name of the engine that ran (or would have run) the platform, one of
    /// [`RunReport::engines`]; `None` when no engine was involved (`archsmoke audit`).
    pub engine: Option<String>,
    /// The index entry chosen for the platform, and why.
    pub entry: Option<EntryChoice>,
    pub mode: Option<ExecMode>,
    pub pull: Option<PullReport>,
    pub problem: Option<Problem>,
    pub tests: Vec<TestReport>,
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Total test time against the same tests on the native platform.
    pub slowdown: Option<f64>,
    /// The `[service]` run of this platform, when the spec has one.
    pub service: Option<Box<ServiceReport>>,
    /// From the platform's start to its last container result, when its image checks (which
    /// run beside the containers) are counted in `duration` too; `None` when that is all
    /// `duration` holds, or when it is not known (a report read back from JSON).
    #[serde(skip)]
    pub containers_done: Option<Duration>,
}

/// A platform's service: how long it took to become ready, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ServiceReport {
    /// Every readiness condition held within the deadline.
    pub ready: bool,
    /// From the container's start to ready; `None` when it never became ready.
    pub ready_secs: Option<f64>,
    /// The readiness deadline in force (after the emulation factor).
    pub ready_timeout_secs: f64,
    /// Why it is not ready, when it is not: exited with a code, still not listening, ...
    pub not_ready: Option<String>,
    /// The exit code when the service exited on its own (before archsmoke stopped it).
    pub exit_code: Option<i64>,
    pub restarts: i64,
    /// It outlived the stop signal's grace period and was killed.
    pub killed: bool,
    /// The last bytes of its output (stdout and stderr interleaved), bounded like test output.
    pub logs: String,
    /// Bytes of output cut from the front by the output limit.
    pub logs_dropped: u64,
    /// Lines it printed over the whole run, all of them seen by `[logs]` and log readiness.
    pub log_lines: u64,
    /// Processes of an emulated platform's container that no interpreter ran: programs of the
    /// engine's own architecture (as `ps` showed them). Such a platform has a
    /// [`ProblemKind::NativeProcess`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native_processes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryChoice {
    pub digest: String,
    pub platform: Platform,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    pub image_id: String,
    /// False when the digest was already present in the engine.
    pub pulled: bool,
    #[serde(with = "secs")]
    pub duration: Duration,
}

/// A failure of a platform as a whole (or of the run), with what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The image lacks a requested platform: a defect of the image.
    MissingPlatform,
    /// The index entry and the image config disagree: a defect of the image.
    ConfigMismatch,
    /// No emulator can run this platform on this engine.
    EmulatorUnavailable,
    /// The registry could not deliver the image.
    Registry,
    /// The engine failed (pull, create, start, wait).
    Engine,
    /// The run was interrupted before this platform finished.
    Interrupted,
    /// The platform needs an emulator and the emulation policy forbids emulation.
    EmulationForbidden,
    /// A process of the engine's own architecture ran in an emulated platform's container,
    /// outside the emulator: the image holds a program for another architecture, and what ran
    /// there was not the platform's code. A defect of the image.
    NativeProcess,
    /// Deliberately not tested: the emulation policy excludes it (`only` and a native platform)
    /// or `--skip-unavailable` skipped it. Neither a defect nor a failure: the exit code ignores
    /// it, and every report shows it as skipped.
    NotTested,
}

impl Problem {
    /// The image's config names another platform than its index entry (`message` says which).
    pub fn config_mismatch(message: String) -> Problem {
        Problem {
            kind: ProblemKind::ConfigMismatch,
            message,
            hint: Some(
                "the image was built for another platform than its index claims; \
                 rebuild it with the right --platform"
                    .into(),
            ),
        }
    }
}

impl ProblemKind {
    /// Whether this proves a defect in the image, as opposed to a failure around it.
    pub fn is_defect(self) -> bool {
        matches!(
            self,
            ProblemKind::MissingPlatform | ProblemKind::ConfigMismatch | ProblemKind::NativeProcess
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub name: String,
    pub command: Option<Vec<String>>,
    pub status: TestStatus,
    pub exit_code: Option<i64>,
    /// The exit code (or range of codes) the test expects.
    pub expected_exit: IntRange,
    /// Each stream as captured: all of it, or its tail when the capture limit omitted some.
    pub stdout: String,
    pub stderr: String,
    /// Each stream's first bytes when the capture limit omitted some (empty otherwise, and in
    /// reports written before heads were kept).
    pub stdout_head: String,
    pub stderr_head: String,
    /// Bytes omitted between each stream's head and its tail by the capture limit.
    pub stdout_omitted: u64,
    pub stderr_omitted: u64,
    pub mismatches: Vec<Mismatch>,
    #[serde(with = "secs")]
    pub duration: Duration,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// This test's time against the same test on the native platform.
    pub slowdown: Option<f64>,
    /// Why the test could not run (engine failure), when it could not.
    pub error: Option<String>,
}

impl TestReport {
    /// A result named `name` with `status` and nothing else yet: no command, output, time,
    /// mismatch or error. Every result starts here.
    pub fn new(name: String, status: TestStatus) -> TestReport {
        TestReport {
            name,
            command: None,
            status,
            exit_code: None,
            expected_exit: IntRange::exactly(0),
            stdout: String::new(),
            stderr: String::new(),
            stdout_head: String::new(),
            stderr_head: String::new(),
            stdout_omitted: 0,
            stderr_omitted: 0,
            mismatches: Vec::new(),
            duration: Duration::ZERO,
            timeout: Duration::ZERO,
            slowdown: None,
            error: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Passed,
    Failed,
    TimedOut,
    /// The test could not run because of the engine.
    Error,
    /// Not run: the run was interrupted first.
    NotRun,
    /// Not run on purpose: its platform was not tested (see [`ProblemKind::NotTested`]).
    Skipped,
}

impl TestStatus {
    /// The image was proven wrong: the test failed, or did not finish in time. The one answer
    /// to "does failed include timeouts": every "failed" count (the exit code, the matrices,
    /// the HTML's findings) is this; the JSON report's totals also count the two apart
    /// (`failed`, `timed_out`), as its schema says.
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::TimedOut)
    }

    /// The test ran to a verdict on the image: it passed or it failed.
    pub fn ran(self) -> bool {
        self == TestStatus::Passed || self.is_failure()
    }
}

impl Mismatch {
    /// A test still running at its deadline: `actual` says what became of it.
    pub fn timeout(limit: Duration, actual: &str) -> Mismatch {
        Mismatch {
            check: "timeout".into(),
            expected: format!("exit within {}", humantime::format_duration(limit)),
            actual: actual.to_owned(),
            note: None,
        }
    }
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was checked: `exit code`, `stdout`, `stdout contains`, ...
    pub check: String,
    pub expected: String,
    pub actual: String,
    /// Why the expectation was in force, when that is not plain from the spec at that place
    /// (a key of the test that a per-platform override left in force).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Mismatch {
    /// A mismatch without a note.
    pub fn new(
        check: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Mismatch {
        Mismatch {
            check: check.into(),
            expected: expected.into(),
            actual: actual.into(),
            note: None,
        }
    }

    /// The expectation of a line that counts a group's findings not listed one by one.
    pub const UNLISTED_IN_GROUP: &'static str = "no further findings in it";
    /// The expectation of the last line, which counts every finding not listed.
    pub const UNLISTED: &'static str = "no further mismatches";

    /// How many findings this mismatch stands for: one, or for a line that counts findings not
    /// listed one by one (its `actual` starts with the count), that count.
    pub fn findings(&self) -> usize {
        if self.expected != Self::UNLISTED_IN_GROUP && self.expected != Self::UNLISTED {
            return 1;
        }
        let digits: String = self
            .actual
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(1)
    }
}

impl PlatformReport {
    pub fn passed(&self) -> usize {
        self.count(TestStatus::Passed)
    }

    pub fn failed(&self) -> usize {
        self.tests.iter().filter(|t| t.status.is_failure()).count()
    }

    /// Results that did not pass, whatever the reason: failed, timed out, errored or not run.
    /// With [`PlatformReport::passed`] it adds up to [`PlatformReport::counted`], the numbers
    /// every report shows.
    pub fn not_passed(&self) -> usize {
        self.counted() - self.passed()
    }

    /// Results that count: all but those skipped on purpose.
    pub fn counted(&self) -> usize {
        self.tests.len() - self.count(TestStatus::Skipped)
    }

    pub fn count(&self, status: TestStatus) -> usize {
        self.tests.iter().filter(|t| t.status == status).count()
    }

    /// The platform was deliberately not tested (policy or `--skip-unavailable`).
    pub fn skipped(&self) -> bool {
        self.problem
            .as_ref()
            .is_some_and(|p| p.kind == ProblemKind::NotTested)
    }

    /// The platform passed: no problem, at least one result of its own, and every test passed.
    /// A platform that ran nothing did not pass (see [`PlatformReport::untested`]).
    pub fn ok(&self) -> bool {
        self.problem.is_none()
            && !self.tests.is_empty()
            && self.tests.iter().all(|t| t.status == TestStatus::Passed)
    }

    /// Selected, yet not one result of its own: every test was limited to other platforms
    /// (`platforms = [...]` on each `[[test]]`) and no image check applied. Unlike
    /// [`PlatformReport::skipped`] nobody chose this, so it is not a pass: the run's exit code
    /// counts it as a failure of the gate (see [`RunReport::exit_code`]).
    pub fn untested(&self) -> bool {
        self.problem.is_none() && self.counted() == 0
    }

    /// Why an untested platform proves nothing, and what to do: the same words in every report.
    pub fn untested_problem(&self) -> Problem {
        Problem {
            kind: ProblemKind::NotTested,
            message: format!(
                "no test or image check ran on {}: every [[test]] is limited to other platforms \
                 and no image check applies, so nothing shows that the image works there",
                self.platform
            ),
            hint: Some(format!(
                "add a test that runs on {0} (or turn an image check on), or leave {0} out of the \
                 run on purpose: the spec's top-level `platforms = [...]` or `--platform`",
                self.platform
            )),
        }
    }

    /// The platform's verdict, the one classification every report words in its own way.
    pub fn verdict(&self) -> PlatformVerdict {
        let defect = self.problem.as_ref().is_some_and(|pr| pr.kind.is_defect());
        if self.skipped() {
            PlatformVerdict::Skipped
        } else if defect || self.failed() > 0 {
            PlatformVerdict::Failed
        } else if self.problem.is_some()
            || self.count(TestStatus::Error) + self.count(TestStatus::NotRun) > 0
        {
            PlatformVerdict::Error
        } else if self.untested() {
            PlatformVerdict::NotTested
        } else {
            PlatformVerdict::Passed
        }
    }
}

/// What a platform's row amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformVerdict {
    /// At least one result, all passed, no problem.
    Passed,
    /// The image is proven wrong there: a failed or timed-out test, a missing or mislabelled
    /// platform.
    Failed,
    /// Something kept it from being checked: engine, emulator, interrupt.
    Error,
    /// Deliberately not tested (emulation policy, `--skip-unavailable`): counts for nothing.
    Skipped,
    /// Selected but ran nothing of its own: not a pass (exit 1, see [`RunReport::exit_code`]).
    NotTested,
}

impl RunReport {
    /// The exit code the run deserves, by the contract in [`crate::exit`].
    pub fn exit_code(&self) -> i32 {
        let defect = self.defect();
        let infra = self.problem.is_some()
            || self.interrupted
            || self.platforms.iter().any(|p| {
                p.problem
                    .as_ref()
                    .is_some_and(|pr| !pr.kind.is_defect() && pr.kind != ProblemKind::NotTested)
                    || p.count(TestStatus::Error) > 0
                    || p.count(TestStatus::NotRun) > 0
            });
        if defect {
            exit::TEST_FAILED
        } else if infra {
            exit::INFRASTRUCTURE
        } else if self.untested() > 0 {
            // A release gate reads exit 0 as "every platform of the image works": a platform
            // that ran nothing proves nothing, so the gate must stop (a retry would not help,
            // hence not 3).
            exit::TEST_FAILED
        } else {
            exit::SUCCESS
        }
    }

    /// Whether some platform proves the image wrong (a failed test, a missing platform).
    pub fn defect(&self) -> bool {
        self.platforms
            .iter()
            .any(|p| p.problem.as_ref().is_some_and(|pr| pr.kind.is_defect()) || p.failed() > 0)
    }

    /// How many platforms were selected but ran nothing of their own.
    pub fn untested(&self) -> usize {
        self.platforms.iter().filter(|p| p.untested()).count()
    }

    /// Fill in each test's and platform's slowdown against the same tests on its engine's native
    /// platform. A platform is only ever compared with its own engine's baseline: another
    /// machine's speed says nothing about emulation.
    pub fn compute_slowdowns(&mut self) {
        for engine in &self.engines {
            slowdowns_against(&mut self.platforms, &engine.name, &engine.platform);
        }
        twin_slowdowns(&mut self.platforms);
    }
}

/// A platform run both natively and emulated (`--compare-emulation`): the emulated row's
/// slowdown is measured against its native twin, the same tests of the same platform, not
/// against another platform of its engine.
fn twin_slowdowns(platforms: &mut [PlatformReport]) {
    let native_rows: Vec<(Platform, Vec<(String, Duration)>)> = platforms
        .iter()
        .filter(|p| p.mode.as_ref().is_some_and(|m| m.is_native()))
        .map(|p| (p.platform.clone(), passed_times(p)))
        .collect();
    for p in platforms
        .iter_mut()
        .filter(|p| p.mode.as_ref().is_some_and(|m| m.is_emulated()))
    {
        if let Some((_, base)) = native_rows.iter().find(|(pl, _)| *pl == p.platform) {
            // Whatever the engine's own baseline said is replaced, not mixed in.
            p.slowdown = None;
            p.tests.iter_mut().for_each(|t| t.slowdown = None);
            slowdowns_from(p, base);
        }
    }
}

/// Slowdowns of `engine`'s platforms against its platform `native`, when that ran.
fn slowdowns_against(platforms: &mut [PlatformReport], engine: &str, native: &Platform) {
    let on_engine = |p: &PlatformReport| p.engine.as_deref() == Some(engine);
    let Some(base) = platforms
        .iter()
        .find(|p| on_engine(p) && &p.platform == native)
    else {
        return;
    };
    let base = passed_times(base);
    for p in platforms.iter_mut().filter(|p| on_engine(p)) {
        slowdowns_from(p, &base);
    }
}

/// An image check (`file ...`, `metadata`, `license ...`, `audit elf`): it runs no command and
/// has no timeout. Its time is reading layers beside the containers, not the platform's CPU, so
/// it is no part of a slowdown (a one-test run whose native audit read more layers showed 0.1×).
pub(crate) fn is_image_check(t: &TestReport) -> bool {
    t.command.is_none() && t.timeout.is_zero()
}

/// The passed tests of a platform and their times: a baseline.
fn passed_times(p: &PlatformReport) -> Vec<(String, Duration)> {
    p.tests
        .iter()
        .filter(|t| t.status == TestStatus::Passed && !is_image_check(t))
        .map(|t| (t.name.clone(), t.duration))
        .collect()
}

/// Each passed test's time over the same test's in `base`, and the platform's summed ratio.
fn slowdowns_from(p: &mut PlatformReport, base: &[(String, Duration)]) {
    let (mut mine, mut theirs) = (Duration::ZERO, Duration::ZERO);
    for t in &mut p.tests {
        let Some((_, b)) = base.iter().find(|(n, _)| *n == t.name) else {
            continue;
        };
        if t.status == TestStatus::Passed && !b.is_zero() && !is_image_check(t) {
            t.slowdown = Some(t.duration.as_secs_f64() / b.as_secs_f64());
            mine += t.duration;
            theirs += *b;
        }
    }
    if !theirs.is_zero() {
        p.slowdown = Some(mine.as_secs_f64() / theirs.as_secs_f64());
    }
}

/// Durations serialize as fractional seconds, the unit JUnit and dashboards use.
pub mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

/// Exit codes and slowdowns on small hand-built reports, engines named.
#[cfg(test)]
mod engine_tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).expect("valid platform")
    }

    fn test(name: &str, status: TestStatus, millis: u64) -> TestReport {
        TestReport {
            name: name.into(),
            command: None,
            status,
            exit_code: Some(0),
            expected_exit: IntRange::exactly(0),
            stdout: String::new(),
            stderr: String::new(),
            stdout_head: String::new(),
            stderr_head: String::new(),
            stdout_omitted: 0,
            stderr_omitted: 0,
            mismatches: Vec::new(),
            duration: Duration::from_millis(millis),
            timeout: Duration::from_secs(60),
            slowdown: None,
            error: None,
        }
    }

    fn platform(name: &str, engine: &str, tests: Vec<TestReport>) -> PlatformReport {
        PlatformReport {
            platform: p(name),
            engine: Some(engine.into()),
            entry: None,
            mode: None,
            pull: None,
            problem: None,
            tests,
            duration: Duration::ZERO,
            slowdown: None,
            service: None,
            containers_done: None,
        }
    }

    fn problem(kind: ProblemKind) -> Option<Problem> {
        Some(Problem {
            kind,
            message: "m".into(),
            hint: None,
        })
    }

    fn engine(name: &str, platform: &str) -> EngineSummary {
        EngineSummary {
            name: name.into(),
            endpoint: format!("unix:///run/{name}.sock"),
            local: true,
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            platform: p(platform),
            rootless: false,
        }
    }

    fn run(platforms: Vec<PlatformReport>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            spec: "s.toml".into(),
            suite: "s".into(),
            spec_digest: None,
            image: ImageSummary::default(),
            engine: Some(engine(DEFAULT_ENGINE, "linux/amd64")),
            engines: vec![engine(DEFAULT_ENGINE, "linux/amd64")],
            started_at: String::new(),
            duration: Duration::ZERO,
            platforms,
            problem: None,
            interrupted: false,
            phases: Phases::default(),
            spec_lines: Default::default(),
            meta: Default::default(),
            emulation_differences: Vec::new(),
        }
    }

    #[test]
    fn a_platform_that_ran_nothing_is_not_tested_and_fails_the_gate() {
        let passed = platform(
            "linux/arm64",
            "default",
            vec![test("t", TestStatus::Passed, 1)],
        );
        let empty = platform("linux/amd64", "default", vec![]);
        assert!(empty.untested() && !empty.ok());
        assert_eq!(empty.verdict(), PlatformVerdict::NotTested);
        let report = run(vec![passed.clone(), empty.clone()]);
        assert_eq!(report.untested(), 1);
        assert_eq!(report.exit_code(), exit::TEST_FAILED);
        // Skipped on purpose is not "ran nothing"; infrastructure still says 3.
        let mut skipped = empty.clone();
        skipped.problem = problem(ProblemKind::NotTested);
        assert!(!skipped.untested());
        assert_eq!(
            run(vec![passed.clone(), skipped]).exit_code(),
            exit::SUCCESS
        );
        let mut broken = passed.clone();
        broken.tests[0].status = TestStatus::Error;
        assert_eq!(run(vec![broken, empty]).exit_code(), exit::INFRASTRUCTURE);
    }

    #[test]
    fn exit_code_a_defect_wins_over_infrastructure_and_a_skip_counts_for_nothing() {
        let passed = || {
            platform(
                "linux/amd64",
                "default",
                vec![test("t", TestStatus::Passed, 1)],
            )
        };
        assert_eq!(run(vec![passed()]).exit_code(), exit::SUCCESS);

        let mut skipped = platform("linux/arm64", "default", vec![]);
        skipped.problem = problem(ProblemKind::NotTested);
        assert_eq!(run(vec![passed(), skipped]).exit_code(), exit::SUCCESS);

        let mut broken = platform("linux/arm64", "default", vec![]);
        broken.problem = problem(ProblemKind::EmulatorUnavailable);
        assert_eq!(
            run(vec![passed(), broken.clone()]).exit_code(),
            exit::INFRASTRUCTURE
        );

        let failing = platform(
            "linux/s390x",
            "default",
            vec![test("t", TestStatus::TimedOut, 1)],
        );
        assert_eq!(
            run(vec![passed(), broken, failing]).exit_code(),
            exit::TEST_FAILED
        );

        let mut missing = platform("linux/riscv64", "default", vec![]);
        missing.problem = problem(ProblemKind::MissingPlatform);
        assert_eq!(run(vec![missing]).exit_code(), exit::TEST_FAILED);

        let not_run = platform(
            "linux/amd64",
            "default",
            vec![test("t", TestStatus::NotRun, 0)],
        );
        assert_eq!(run(vec![not_run]).exit_code(), exit::INFRASTRUCTURE);

        let mut interrupted = run(vec![passed()]);
        interrupted.interrupted = true;
        assert_eq!(interrupted.exit_code(), exit::INFRASTRUCTURE);

        let mut no_engine = run(vec![]);
        no_engine.problem = problem(ProblemKind::Engine);
        assert_eq!(no_engine.exit_code(), exit::INFRASTRUCTURE);
    }

    #[test]
    fn slowdowns_are_against_the_native_platforms_passed_tests() {
        let mut report = run(vec![
            platform(
                "linux/amd64",
                "default",
                vec![
                    test("a", TestStatus::Passed, 100),
                    test("b", TestStatus::Passed, 100),
                    test("c", TestStatus::Failed, 100),
                ],
            ),
            platform(
                "linux/arm64",
                "default",
                vec![
                    test("a", TestStatus::Passed, 1000),
                    test("b", TestStatus::Failed, 5000),
                    test("c", TestStatus::Passed, 700),
                ],
            ),
        ]);
        report.compute_slowdowns();
        let arm = &report.platforms[1];
        assert_eq!(arm.tests[0].slowdown, Some(10.0));
        assert_eq!(arm.tests[1].slowdown, None, "a failed test is no measure");
        assert_eq!(arm.tests[2].slowdown, None, "the native run failed it");
        assert_eq!(arm.slowdown, Some(10.0), "only the comparable tests count");
        assert_eq!(report.platforms[0].slowdown, Some(1.0));
    }

    #[test]
    fn each_engine_is_its_own_baseline() {
        let mut report = run(vec![
            platform(
                "linux/amd64",
                "x86",
                vec![test("a", TestStatus::Passed, 100)],
            ),
            platform(
                "linux/arm64",
                "x86",
                vec![test("a", TestStatus::Passed, 900)],
            ),
            platform(
                "linux/arm64",
                "arm",
                vec![test("a", TestStatus::Passed, 50)],
            ),
            platform(
                "linux/s390x",
                "arm",
                vec![test("a", TestStatus::Passed, 500)],
            ),
            platform(
                "linux/ppc64le",
                "none",
                vec![test("a", TestStatus::Passed, 500)],
            ),
        ]);
        report.engines = vec![engine("x86", "linux/amd64"), engine("arm", "linux/arm64")];
        report.compute_slowdowns();
        let slowdowns: Vec<Option<f64>> = report.platforms.iter().map(|p| p.slowdown).collect();
        assert_eq!(
            slowdowns,
            vec![Some(1.0), Some(9.0), Some(1.0), Some(10.0), None],
            "arm64 on the arm engine is native there; an unlisted engine has no baseline"
        );
    }
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
