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
    /// Deliberately not tested: the emulation policy excludes it (`only` and a native platform)
    /// or `--skip-unavailable` skipped it. Neither a defect nor a failure: the exit code ignores
    /// it, and every report shows it as skipped.
    NotTested,
}

impl ProblemKind {
    /// Whether this proves a defect in the image, as opposed to a failure around it.
    pub fn is_defect(self) -> bool {
        matches!(
            self,
            ProblemKind::MissingPlatform | ProblemKind::ConfigMismatch
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub name: String,
    pub command: Option<Vec<String>>,
    pub status: TestStatus,
    pub exit_code: Option<i64>,
    pub expected_exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    /// Bytes cut from the front of each stream by the capture limit.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
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

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was checked: `exit code`, `stdout`, `stdout contains`, ...
    pub check: String,
    pub expected: String,
    pub actual: String,
}

impl PlatformReport {
    pub fn passed(&self) -> usize {
        self.count(TestStatus::Passed)
    }

    pub fn failed(&self) -> usize {
        self.tests
            .iter()
            .filter(|t| matches!(t.status, TestStatus::Failed | TestStatus::TimedOut))
            .count()
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

    /// The platform passed: no problem, and every test passed.
    pub fn ok(&self) -> bool {
        self.problem.is_none() && self.tests.iter().all(|t| t.status == TestStatus::Passed)
    }
}

impl RunReport {
    /// The exit code the run deserves, by the contract in [`crate::exit`].
    pub fn exit_code(&self) -> i32 {
        let defect = self
            .platforms
            .iter()
            .any(|p| p.problem.as_ref().is_some_and(|pr| pr.kind.is_defect()) || p.failed() > 0);
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
        } else {
            exit::SUCCESS
        }
    }

    /// Fill in each test's and platform's slowdown against the same tests on its engine's native
    /// platform. A platform is only ever compared with its own engine's baseline: another
    /// machine's speed says nothing about emulation.
    pub fn compute_slowdowns(&mut self) {
        for engine in &self.engines {
            slowdowns_against(&mut self.platforms, &engine.name, &engine.platform);
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
    let base: Vec<(String, Duration)> = base
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Passed)
        .map(|t| (t.name.clone(), t.duration))
        .collect();
    for p in platforms.iter_mut().filter(|p| on_engine(p)) {
        let (mut mine, mut theirs) = (Duration::ZERO, Duration::ZERO);
        for t in &mut p.tests {
            let Some((_, b)) = base.iter().find(|(n, _)| *n == t.name) else {
                continue;
            };
            if t.status == TestStatus::Passed && !b.is_zero() {
                t.slowdown = Some(t.duration.as_secs_f64() / b.as_secs_f64());
                mine += t.duration;
                theirs += *b;
            }
        }
        if !theirs.is_zero() {
            p.slowdown = Some(mine.as_secs_f64() / theirs.as_secs_f64());
        }
    }
}

/// Durations serialize as fractional seconds, the unit JUnit and dashboards use.
pub mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }
}
