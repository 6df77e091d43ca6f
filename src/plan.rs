//! The plan: which platforms run, on which engine, from which index entry, in which execution
//! mode, with which tests and expectations. Pure: it combines the spec, the resolved index and
//! the engine's profile (whose [`EngineProfile::mode`] says how each platform would run), and
//! decides everything that can be decided before a container starts, the emulation policy
//! included.

use std::time::Duration;

use crate::emulation::Policy;
use crate::image::{IndexEntryKind, IndexEntry, ResolvedImage};
use crate::mode::ExecMode;
use crate::outcome::{EntryChoice, Problem, ProblemKind};
use crate::platform::{self, MatchMode, MatchReason, Platform};
use crate::profile::EngineProfile;
use crate::route::{Route, Router};
use crate::spec::{Expect, Spec};

mod service;
pub use service::{PlannedService, plan_service};

#[derive(Debug, Clone)]
pub struct Plan {
    pub platforms: Vec<PlannedPlatform>,
    pub network: String,
}

#[derive(Debug, Clone)]
pub struct PlannedPlatform {
    /// Position in the order the user asked for (or the index's order); reports keep it, while
    /// the plan itself is ordered for speed.
    pub order: usize,
    pub platform: Platform,
    /// The name of the engine that runs it ([`EngineProfile::name`]).
    pub engine: String,
    /// Whether it runs, from which index entry, or why not.
    pub readiness: Readiness,
    pub mode: ExecMode,
    pub tests: Vec<PlannedTest>,
    /// The `[service]` of this platform, when the spec has one: its tests then run inside it.
    pub service: Option<PlannedService>,
    /// Image checks (files, metadata, licenses, the ELF audit) this row reports: they read the
    /// image, not a container, and go to the first row of each platform. Counted by
    /// [`Plan::with_image_checks`] from the checks the pipeline chose for the image source.
    pub image_checks: usize,
}

/// Whether a planned platform runs, decided by the plan: from an index entry (and why that one
/// was chosen), or not at all, for a reason known before anything starts.
#[derive(Debug, Clone)]
pub enum Readiness {
    Runnable {
        entry: IndexEntry,
        reason: String,
    },
    /// It cannot run (the image lacks it, no engine or emulator runs it, or the policy says no);
    /// the entry is kept when the image has one, so reports still name it.
    Blocked {
        entry: Option<(IndexEntry, String)>,
        problem: Problem,
    },
}

impl Readiness {
    /// Stops a runnable platform with `problem`; a blocked one keeps its first problem (a
    /// platform the image lacks stays a defect whatever the policy says).
    fn block(&mut self, problem: Problem) {
        if let Readiness::Runnable { entry, reason } = self {
            *self = Readiness::Blocked {
                entry: Some((entry.clone(), std::mem::take(reason))),
                problem,
            };
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlannedTest {
    pub name: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    /// `KEY=value` pairs whose values must never be shown.
    pub secret_env: Vec<String>,
    pub privileged: bool,
    /// Bind mounts and added capabilities (only with `--allow-privileged`).
    pub host: crate::limits::HostAccess,
    pub expect: Expect,
    pub timeout: Duration,
    pub limits: crate::limits::Limits,
    /// Set before `env`, values expanded against the image's environment at run time.
    pub env_expand: Vec<(String, String)>,
    /// Expand `$VAR` in the command and entrypoint from the image's environment.
    pub expand_command: bool,
    /// Commands committed one on top of the other before the test runs on the result.
    pub setup: Vec<Vec<String>>,
    /// Replaces the image's USER.
    pub user: Option<String>,
}

impl Plan {
    /// The rows that report their platform's image checks (files, metadata, licenses, the ELF
    /// audit, which read the image, not a container): one per platform that has an index entry,
    /// the first in the reports' order (the user's, a compared platform's native row first), so
    /// that a platform compared on two engines is checked once. Indices into `platforms`.
    pub fn image_check_rows(&self) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..self.platforms.len()).collect();
        rows.sort_by_key(|&i| {
            let p = &self.platforms[i];
            (p.order, !p.mode.is_native())
        });
        let mut owners: Vec<usize> = Vec::new();
        for i in rows {
            let p = &self.platforms[i];
            // A platform skipped on purpose (policy, `--skip-unavailable`) counts nowhere: image
            // checks would add passes for a platform nobody tested (its row read `1 0`).
            let skipped = p
                .problem()
                .is_some_and(|pr| pr.kind == ProblemKind::NotTested);
            if p.entry().is_some()
                && !skipped
                && !owners
                    .iter()
                    .any(|&o| self.platforms[o].platform == p.platform)
            {
                owners.push(i);
            }
        }
        owners
    }

    /// The plan with each row of [`Plan::image_check_rows`] told how many image-check results
    /// `count` gives its platform, so that every count of the run includes them from the start.
    pub fn with_image_checks(mut self, count: impl Fn(&Platform) -> usize) -> Plan {
        for i in self.image_check_rows() {
            let p = &mut self.platforms[i];
            p.image_checks = count(&p.platform);
        }
        self
    }

    pub fn test_count(&self) -> usize {
        self.platforms
            .iter()
            .map(PlannedPlatform::result_count)
            .sum()
    }
}

impl PlannedPlatform {
    /// Results this platform will report: its tests, its service's checks, and its image
    /// checks.
    pub fn result_count(&self) -> usize {
        self.container_count() + self.image_checks
    }

    /// The index entry it runs (or would have run), and why that one was chosen.
    pub fn entry(&self) -> Option<(&IndexEntry, &str)> {
        match &self.readiness {
            Readiness::Runnable { entry, reason } => Some((entry, reason)),
            Readiness::Blocked { entry, .. } => entry.as_ref().map(|(e, r)| (e, r.as_str())),
        }
    }

    /// Why it cannot run, when the plan knows it cannot.
    pub fn problem(&self) -> Option<&Problem> {
        match &self.readiness {
            Readiness::Runnable { .. } => None,
            Readiness::Blocked { problem, .. } => Some(problem),
        }
    }

    /// The entry as reports show it.
    pub fn entry_choice(&self) -> Option<EntryChoice> {
        self.entry().map(|(e, reason)| EntryChoice {
            digest: e.digest.clone(),
            platform: e.platform.clone().unwrap_or_else(|| self.platform.clone()),
            reason: reason.to_owned(),
        })
    }

    /// The platform that actually runs: the index entry's, which under compatible matching can
    /// differ from the one asked for.
    pub fn runs_as(&self) -> Platform {
        self.entry()
            .and_then(|(e, _)| e.platform.clone())
            .unwrap_or_else(|| self.platform.clone())
    }

    /// Results that need the engine: the tests and the service's checks.
    pub fn container_count(&self) -> usize {
        self.tests.len() + self.service.as_ref().map_or(0, |s| s.check_count())
    }
}

/// Options that come from the command line and override the spec.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub platforms: Option<Vec<Platform>>,
    pub variant_match: Option<MatchMode>,
    /// `--emulation`: wins over `[settings] emulation`.
    pub emulation: Option<Policy>,
    /// `--skip-unavailable`: a platform that cannot run here is reported as not tested instead
    /// of failing the run.
    pub skip_unavailable: bool,
}

impl Overrides {
    /// The command line over the spec, the spec over the defaults: each setting's precedence
    /// is spelled once, in the accessors below. [`crate::pipeline::Config`] holds the merged
    /// values (every `Some`), so the plan's own reading of them changes nothing.
    pub fn over(&self, spec: &Spec) -> Overrides {
        Overrides {
            platforms: self.platforms(spec).map(<[Platform]>::to_vec),
            variant_match: Some(self.variant_match(spec)),
            emulation: Some(self.emulation(spec)),
            skip_unavailable: self.skip_unavailable,
        }
    }

    /// The platforms asked for: `--platform`, else the spec's `platforms`; `None` for every
    /// platform of the image ([`platforms_to_run`]).
    pub fn platforms<'a>(&'a self, spec: &'a Spec) -> Option<&'a [Platform]> {
        self.platforms.as_deref().or(spec.platforms.as_deref())
    }

    pub fn variant_match(&self, spec: &Spec) -> MatchMode {
        self.variant_match.unwrap_or(spec.settings.variant_match)
    }

    pub fn emulation(&self, spec: &Spec) -> Policy {
        self.emulation.unwrap_or(spec.settings.emulation)
    }
}

/// The platforms a run covers, in order: those asked for, else every platform the index offers
/// that an engine of `engine`'s operating system can run (entries of another OS, such as
/// Windows images in a Linux engine's index, are listed by `inspect` but are not part of
/// "every platform"). The plan and the remote probes both ask this.
pub fn platforms_to_run(
    image: &ResolvedImage,
    asked: Option<&[Platform]>,
    engine: &EngineProfile,
) -> Vec<Platform> {
    match asked {
        Some(asked) => asked.to_vec(),
        None => dedup(
            image
                .runnable_platforms()
                .into_iter()
                .filter(|p| engine.runs_os(p)),
        ),
    }
}

/// The plan of a run on one engine.
pub fn plan(
    spec: &Spec,
    image: &ResolvedImage,
    engine: &EngineProfile,
    overrides: &Overrides,
) -> Plan {
    plan_routed(spec, image, &Router::single(engine.clone()), overrides, &[])
}

/// The plan of a run on several engines: each platform on the engine [`Router::route`] picks;
/// each platform of `compare` also a second time, emulated on another engine
/// (`--compare-emulation`).
pub fn plan_routed(
    spec: &Spec,
    image: &ResolvedImage,
    router: &Router,
    overrides: &Overrides,
    compare: &[Platform],
) -> Plan {
    let engine = router.primary();
    let candidates: Vec<(&IndexEntry, &Platform)> = image
        .entries
        .iter()
        .filter(|e| e.kind == IndexEntryKind::Image)
        .filter_map(|e| e.platform.as_ref().map(|p| (e, p)))
        .collect();
    let platforms = platforms_to_run(image, overrides.platforms(spec), engine);
    let mode = overrides.variant_match(spec);
    let offered: Vec<Platform> = candidates.iter().map(|(_, p)| (*p).clone()).collect();
    let policy = overrides.emulation(spec);

    let mut planned: Vec<PlannedPlatform> = platforms
        .into_iter()
        .enumerate()
        .map(|(order, platform)| {
            let selection = platform::select(&platform, &offered, mode);
            let mut readiness = match selection {
                Some(sel) => {
                    let mut reason = match &sel.reason {
                        MatchReason::Exact => format!("exact match for {platform}"),
                        other => other.to_string(),
                    };
                    let same = offered.iter().filter(|p| **p == offered[sel.index]).count();
                    if same > 1 {
                        reason.push_str(&format!(
                            "; the index has {same} entries for {}, the first was taken",
                            offered[sel.index]
                        ));
                    }
                    Readiness::Runnable {
                        entry: candidates[sel.index].0.clone(),
                        reason,
                    }
                }
                None => Readiness::Blocked {
                    entry: None,
                    problem: missing(&platform, &offered, mode),
                },
            };
            // Under compatible matching the entry may be another platform (arm/v7 for arm64):
            // what runs, and so what needs an emulator, is the entry's platform.
            let runs_as = match &readiness {
                Readiness::Runnable { entry, .. } => entry.platform.clone(),
                Readiness::Blocked { entry, .. } => {
                    entry.as_ref().and_then(|(e, _)| e.platform.clone())
                }
            }
            .unwrap_or_else(|| platform.clone());
            let (engine, exec, unreachable) = match router.route(&runs_as, policy) {
                Route::Engine(e) => (e, e.mode(&runs_as), None),
                Route::Failed {
                    engine: name,
                    problem,
                } => (
                    engine,
                    ExecMode::Unavailable {
                        reason: problem.message.clone(),
                        hint: problem.hint.clone().unwrap_or_default(),
                    },
                    Some((name.to_owned(), problem.clone())),
                ),
            };
            if let Some((_, p)) = &unreachable {
                readiness.block(p.clone());
            }
            // Said in the plan's own words, before the policy: no policy makes it runnable.
            if !engine.runs_os(&runs_as) {
                readiness.block(Problem {
                    kind: ProblemKind::EmulatorUnavailable,
                    message: format!(
                        "cannot run {runs_as} on this engine: it runs {} containers, and no \
                         emulator runs another operating system's images",
                        engine.platform().os()
                    ),
                    hint: Some(format!(
                        "run the {} platforms on an engine of that OS",
                        runs_as.os()
                    )),
                });
            }
            // A platform the image lacks stays a defect whatever the policy says.
            if let Some(p) = policy_problem(
                policy,
                overrides.skip_unavailable,
                &platform,
                engine.platform(),
                &exec,
            ) {
                readiness.block(p);
            }
            let (tests, service) = contents(spec, &platform, &exec);
            PlannedPlatform {
                order,
                platform,
                engine: unreachable.map_or_else(|| engine.name().to_owned(), |(n, _)| n),
                readiness,
                mode: exec,
                tests,
                service,
                image_checks: 0,
            }
        })
        .collect();
    let twins = compare_twins(
        spec,
        &planned,
        router,
        compare,
        policy,
        overrides.skip_unavailable,
    );
    planned.extend(twins);
    // Emulated platforms are the slowest; starting them first shortens the whole run.
    planned.sort_by_key(|p| match p.mode {
        _ if p.problem().is_some() => 2,
        ExecMode::Emulated { .. } => 0,
        ExecMode::Native { .. } => 1,
        ExecMode::Unavailable { .. } => 2,
    });
    Plan {
        platforms: planned,
        network: spec.settings.network.clone(),
    }
}

/// What runs on `platform` in mode `exec`: the tests meant for it and its service, with
/// timeouts multiplied by the mode's factor. Normal rows and `--compare-emulation` twins are
/// both planned here, so a twin cannot keep its native twin's timeouts.
fn contents(
    spec: &Spec,
    platform: &Platform,
    exec: &ExecMode,
) -> (Vec<PlannedTest>, Option<PlannedService>) {
    let factor = exec.timeout_factor(spec.settings.emulated_timeout_factor);
    // Start-up under QEMU is slower by less than compute: readiness has its own factor.
    let ready_factor = exec.timeout_factor(spec.settings.ready_factor());
    let tests = spec
        .tests
        .iter()
        .filter(|t| t.runs_on(platform))
        .map(|t| PlannedTest {
            name: t.name.clone(),
            command: t.command.clone(),
            entrypoint: t.entrypoint.clone(),
            env: t.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            secret_env: t
                .secret_env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            privileged: t.privileged,
            host: t.host.clone(),
            env_expand: t
                .env_expand
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            expand_command: t.expand_command,
            setup: t.setup.clone(),
            user: t.user.clone(),
            expect: t.expect_for(platform),
            timeout: t.timeout.unwrap_or(spec.settings.timeout).mul_f64(factor),
            limits: t.limits,
        })
        .collect();
    let service = spec.service.as_ref().map(|s| {
        plan_service(
            s,
            platform,
            exec,
            factor,
            ready_factor,
            spec.settings.limits,
        )
    });
    (tests, service)
}

/// `--compare-emulation`: for each platform of `compare` planned natively, the same platform
/// emulated on another engine (the emulated twin), or a twin that says why none can.
fn compare_twins(
    spec: &Spec,
    planned: &[PlannedPlatform],
    router: &Router,
    compare: &[Platform],
    policy: Policy,
    skip_unavailable: bool,
) -> Vec<PlannedPlatform> {
    let mut twins = Vec::new();
    for native in planned.iter().filter(|p| compare.contains(&p.platform)) {
        if !native.mode.is_native() || native.problem().is_some() {
            continue;
        }
        let mut twin = native.clone();
        match router.emulating(&native.platform, &native.engine) {
            Some(engine) => {
                // The twin is planned as any row of that engine: its tests and its service
                // get the emulated timeouts and interpreter, and the policy is asked again.
                twin.engine = engine.name().to_owned();
                twin.mode = engine.mode(&native.platform);
                (twin.tests, twin.service) = contents(spec, &native.platform, &twin.mode);
                if let Some(p) = policy_problem(
                    policy,
                    skip_unavailable,
                    &native.platform,
                    engine.platform(),
                    &twin.mode,
                ) {
                    twin.readiness.block(p);
                }
            }
            None => {
                twin.mode = ExecMode::Unavailable {
                    reason: format!(
                        "no engine of another architecture emulates {}",
                        native.platform
                    ),
                    hint: "add an engine of another architecture with QEMU binfmt entries \
                           (`archsmoke binfmt install`), e.g. --engine amd64=ssh://user@amd64-box"
                        .into(),
                };
                twin.readiness.block(Problem {
                    kind: ProblemKind::EmulatorUnavailable,
                    message: format!(
                        "cannot compare {} natively and emulated: no other engine emulates it",
                        native.platform
                    ),
                    hint: Some(
                        "name an engine of another architecture (--engine NAME=URL) whose host has \
                         QEMU binfmt entries"
                            .into(),
                    ),
                });
            }
        }
        twins.push(twin);
    }
    twins
}

/// What the emulation policy (and `--skip-unavailable`) makes of a platform the image has, given
/// how the engine would run it: `None` to run it, or the problem that stops it.
///
/// - `allow`: native or emulated both run; unavailable fails with the fix for the emulator.
/// - `forbid`: native runs (32-bit compat included: no emulator is involved); anything that
///   would need an emulator fails and says how to reach a native engine.
/// - `only`: emulated runs; native is not tested, by policy, and says so; unavailable fails.
///
/// `skip_unavailable` turns a platform that cannot run here (no emulator, or emulation
/// forbidden) into a skipped one that keeps the reason and the fix, so nothing is skipped
/// silently.
pub fn policy_problem(
    policy: Policy,
    skip_unavailable: bool,
    platform: &Platform,
    engine: &Platform,
    exec: &ExecMode,
) -> Option<Problem> {
    let problem = match (exec, policy) {
        (ExecMode::Native { .. }, Policy::Only) => {
            return Some(Problem {
                kind: ProblemKind::NotTested,
                message: format!(
                    "not tested: {platform} runs natively on this {engine} engine and the \
                     emulation policy is `only`"
                ),
                hint: Some(
                    "use --emulation allow (or `emulation = \"allow\"`) to test it natively too"
                        .into(),
                ),
            });
        }
        (ExecMode::Native { .. }, _)
        | (ExecMode::Emulated { .. }, Policy::Allow | Policy::Only) => {
            return None;
        }
        (ExecMode::Emulated { emulator }, Policy::Forbid) => Problem {
            kind: ProblemKind::EmulationForbidden,
            message: format!(
                "{platform} would run emulated by {} on this {engine} engine, and the emulation \
                 policy forbids emulation",
                emulator.entry
            ),
            hint: Some(native_engine_hint(platform)),
        },
        (ExecMode::Unavailable { reason, .. }, Policy::Forbid) => Problem {
            kind: ProblemKind::EmulationForbidden,
            message: format!(
                "{platform} cannot run natively on this {engine} engine ({reason}), and the \
                 emulation policy forbids emulation"
            ),
            hint: Some(native_engine_hint(platform)),
        },
        (ExecMode::Unavailable { reason, hint }, Policy::Allow | Policy::Only) => Problem {
            kind: ProblemKind::EmulatorUnavailable,
            message: format!("cannot run {platform} on this engine: {reason}"),
            hint: Some(hint.clone()),
        },
    };
    Some(if skip_unavailable {
        Problem {
            kind: ProblemKind::NotTested,
            message: format!("skipped (--skip-unavailable): {}", problem.message),
            hint: problem.hint,
        }
    } else {
        problem
    })
}

fn native_engine_hint(platform: &Platform) -> String {
    let arch = platform.architecture();
    format!(
        "test it on the engine of a native {arch} machine (--host tcp://HOST:PORT or \
         unix:///PATH, or DOCKER_HOST); or allow emulation with --emulation allow"
    )
}

fn dedup(platforms: impl Iterator<Item = Platform>) -> Vec<Platform> {
    let mut out: Vec<Platform> = Vec::new();
    for p in platforms {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn missing(platform: &Platform, offered: &[Platform], mode: MatchMode) -> Problem {
    let list = if offered.is_empty() {
        "no runnable platforms".to_owned()
    } else {
        offered
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut hint = None;
    if mode == MatchMode::Strict
        && let Some(sel) = platform::select(platform, offered, MatchMode::Compatible)
    {
        hint = Some(format!(
            "under variant_match = \"compatible\" it would take {}; that is only safe if the \
             image really works there",
            offered[sel.index]
        ));
    }
    Problem {
        kind: ProblemKind::MissingPlatform,
        message: format!("the image has no {platform} entry; it offers {list}"),
        hint: hint.or_else(|| Some("build and push the image for this platform".into())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::emulation::{BinfmtState, decide};
    use crate::engine::EngineInfo;

    fn p(s: &str) -> Platform {
        Platform::parse(s).expect("valid platform")
    }

    fn binfmt(arches: &[&str]) -> BinfmtState {
        crate::emulation::binfmt::qemu_fixture(arches)
    }

    fn image(platforms: &[&str]) -> ResolvedImage {
        ResolvedImage {
            reference: "127.0.0.1:5000/demo:multi".into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            is_index: true,
            entries: platforms
                .iter()
                .enumerate()
                .map(|(i, s)| IndexEntry {
                    digest: format!("sha256:{i:064}"),
                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    size: 500,
                    platform: Some(p(s)),
                    kind: IndexEntryKind::Image,
                    nested_in: None,
                })
                .collect(),
        }
    }

    fn engine(kernel: BinfmtState) -> EngineProfile {
        EngineProfile::new("default", info(), Some(kernel))
    }

    fn info() -> EngineInfo {
        EngineInfo {
            endpoint: "unix:///var/run/docker.sock".into(),
            local: true,
            local_why: String::new(),
            kernel: String::new(),
            operating_system: String::new(),
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            platform: p("linux/amd64"),
            rootless: false,
        }
    }

    fn spec(settings: &str) -> Spec {
        let text = format!(
            "[settings]\n{settings}\n\n[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n"
        );
        crate::spec::parse(Path::new("policy.toml"), &text).expect("valid spec")
    }

    /// Each platform's problem kind (None: it runs), in the plan's order.
    fn outcome(plan: &Plan) -> Vec<(String, Option<ProblemKind>)> {
        plan.platforms
            .iter()
            .map(|pp| (pp.platform.to_string(), pp.problem().map(|x| x.kind)))
            .collect()
    }

    fn emulated() -> ExecMode {
        decide("amd64", "arm64", None, Some(&binfmt(&["arm64"])))
    }

    fn unavailable() -> ExecMode {
        decide("amd64", "riscv64", None, Some(&binfmt(&[])))
    }

    #[test]
    fn allow_runs_native_and_emulated_and_fails_without_an_emulator() {
        let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
        let native = ExecMode::Native { compat: false };
        assert!(policy_problem(Policy::Allow, false, &amd, &amd, &native).is_none());
        assert!(policy_problem(Policy::Allow, false, &arm, &amd, &emulated()).is_none());
        let missing = policy_problem(Policy::Allow, false, &rv, &amd, &unavailable())
            .expect("no emulator: a problem");
        assert_eq!(missing.kind, ProblemKind::EmulatorUnavailable);
        let ExecMode::Unavailable { hint, .. } = unavailable() else {
            panic!("riscv64 without an entry must be unavailable");
        };
        assert_eq!(
            missing.hint.as_deref(),
            Some(hint.as_str()),
            "the exact fix"
        );
    }

    #[test]
    fn forbid_fails_what_needs_an_emulator_and_says_how_to_run_it_natively() {
        let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
        for (target, exec) in [(&arm, emulated()), (&rv, unavailable())] {
            let problem = policy_problem(Policy::Forbid, false, target, &amd, &exec)
                .expect("forbidden emulation is a problem");
            assert_eq!(problem.kind, ProblemKind::EmulationForbidden);
            assert!(
                problem.message.contains("forbids emulation"),
                "{}",
                problem.message
            );
            let hint = problem.hint.expect("a hint");
            assert!(
                hint.contains("--host") && hint.contains("DOCKER_HOST"),
                "the hint names a native engine: {hint}"
            );
            assert!(hint.contains(target.architecture()), "{hint}");
        }
        assert!(
            policy_problem(Policy::Forbid, false, &arm, &amd, &emulated())
                .expect("problem")
                .message
                .contains("qemu-aarch64"),
            "names the emulator it would have used"
        );
        // 32-bit compat mode is the CPU's own: no emulator, so not forbidden.
        let compat = ExecMode::Native { compat: true };
        assert!(policy_problem(Policy::Forbid, false, &p("linux/386"), &amd, &compat).is_none());
    }

    #[test]
    fn only_reports_native_platforms_as_not_tested_and_still_fails_a_missing_emulator() {
        let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
        let native = policy_problem(
            Policy::Only,
            false,
            &amd,
            &amd,
            &ExecMode::Native { compat: false },
        )
        .expect("native under `only` is not tested");
        assert_eq!(native.kind, ProblemKind::NotTested);
        assert!(native.message.contains("`only`"), "{}", native.message);
        assert!(policy_problem(Policy::Only, false, &arm, &amd, &emulated()).is_none());
        let missing =
            policy_problem(Policy::Only, false, &rv, &amd, &unavailable()).expect("problem");
        assert_eq!(missing.kind, ProblemKind::EmulatorUnavailable);
    }

    #[test]
    fn skip_unavailable_skips_visibly_and_only_what_cannot_run() {
        let (amd, arm, rv) = (p("linux/amd64"), p("linux/arm64"), p("linux/riscv64"));
        let skipped =
            policy_problem(Policy::Allow, true, &rv, &amd, &unavailable()).expect("skipped");
        assert_eq!(skipped.kind, ProblemKind::NotTested);
        assert!(
            skipped
                .message
                .starts_with("skipped (--skip-unavailable): cannot run linux/riscv64"),
            "{}",
            skipped.message
        );
        assert!(
            skipped
                .hint
                .as_deref()
                .is_some_and(|h| h.contains("binfmt install")),
            "the fix is kept: {:?}",
            skipped.hint
        );
        let forbidden =
            policy_problem(Policy::Forbid, true, &arm, &amd, &emulated()).expect("skipped");
        assert_eq!(forbidden.kind, ProblemKind::NotTested);
        assert!(policy_problem(Policy::Allow, true, &arm, &amd, &emulated()).is_none());
    }

    #[test]
    fn the_command_line_policy_wins_over_the_spec() {
        let img = image(&["linux/amd64", "linux/arm64", "linux/riscv64"]);
        let kernel = binfmt(&["arm64"]);
        let forbid = spec("emulation = \"forbid\"");
        assert_eq!(forbid.settings.emulation, Policy::Forbid);

        let plan_forbid = plan(
            &forbid,
            &img,
            &engine(kernel.clone()),
            &Overrides::default(),
        );
        let kinds = outcome(&plan_forbid);
        assert!(kinds.contains(&("linux/amd64".into(), None)), "{kinds:?}");
        assert!(
            kinds.contains(&("linux/arm64".into(), Some(ProblemKind::EmulationForbidden))),
            "{kinds:?}"
        );

        let only = Overrides {
            emulation: Some(Policy::Only),
            skip_unavailable: true,
            ..Overrides::default()
        };
        let plan_only = plan(&forbid, &img, &engine(kernel), &only);
        assert_eq!(
            outcome(&plan_only),
            vec![
                ("linux/arm64".into(), None),
                ("linux/amd64".into(), Some(ProblemKind::NotTested)),
                ("linux/riscv64".into(), Some(ProblemKind::NotTested)),
            ],
            "what runs comes first; what does not keeps its place in the report order"
        );
        // Skipped platforms keep their tests, so reports can list each one as skipped.
        assert!(plan_only.platforms.iter().all(|pp| pp.tests.len() == 1));
    }

    #[test]
    fn a_platform_the_image_lacks_stays_a_defect_under_any_policy() {
        let img = image(&["linux/amd64"]);
        let overrides = Overrides {
            platforms: Some(vec![p("linux/arm64")]),
            emulation: Some(Policy::Forbid),
            skip_unavailable: true,
            ..Overrides::default()
        };
        let planned = plan(&spec(""), &img, &engine(binfmt(&[])), &overrides);
        assert_eq!(
            outcome(&planned),
            vec![("linux/arm64".into(), Some(ProblemKind::MissingPlatform))]
        );
    }

    #[test]
    fn another_os_is_never_runnable_here_and_every_platform_names_its_engine() {
        let img = image(&["linux/amd64", "windows/amd64"]);
        let every = plan(&spec(""), &img, &engine(binfmt(&[])), &Overrides::default());
        assert_eq!(
            outcome(&every),
            vec![("linux/amd64".into(), None)],
            "another OS's entries are not part of every platform"
        );
        let asked = Overrides {
            platforms: Some(vec![p("windows/amd64")]),
            emulation: Some(Policy::Forbid),
            skip_unavailable: true,
            ..Overrides::default()
        };
        let planned = plan(&spec(""), &img, &engine(binfmt(&[])), &asked);
        let windows = &planned.platforms[0];
        let problem = windows.problem().expect("not runnable");
        assert_eq!(
            problem.kind,
            ProblemKind::EmulatorUnavailable,
            "neither policy nor --skip-unavailable applies"
        );
        assert!(
            problem
                .message
                .contains("no emulator runs another operating system"),
            "{}",
            problem.message
        );
        assert!(matches!(windows.mode, ExecMode::Unavailable { .. }));
        assert!(
            every
                .platforms
                .iter()
                .chain(&planned.platforms)
                .all(|pp| pp.engine == "default")
        );
    }

    #[test]
    fn an_unknown_policy_in_the_spec_is_a_positioned_error_with_the_choices() {
        let err = crate::spec::parse(Path::new("bad.toml"), "[settings]\nemulation = \"never\"\n")
            .expect_err("unknown policy");
        let text = err.to_string();
        assert!(text.contains("unknown emulation policy `never`"), "{text}");
        assert!(text.contains("bad.toml:2:"), "{text}");
        assert!(text.contains("\"forbid\""), "{text}");
    }

    /// `--compare-emulation`: the emulated twin is planned like any emulated row (its tests',
    /// its readiness' and its probes' timeouts multiplied, the emulator's interpreter known to
    /// the process check, the policy asked), not a copy of the native row with only the tests'
    /// timeouts changed.
    #[test]
    fn a_compare_twin_gets_the_emulated_service_timeouts_and_the_policy() {
        let text = "[settings]\nemulated_timeout_factor = 10\n{POLICY}\n\n\
                    [service]\nready = { tcp = 8080, timeout = \"3s\" }\n\n\
                    [[probe]]\nname = \"port\"\ntcp = 8080\ntimeout = \"2s\"\n\n\
                    [[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n\
                    timeout = \"5s\"\n";
        let default = engine(binfmt(&["aarch64"]));
        let mut arm = EngineProfile::new(
            "arm",
            EngineInfo {
                endpoint: "tcp://arm:2376".into(),
                local: false,
                local_why: String::new(),
                kernel: String::new(),
                operating_system: String::new(),
                platform: p("linux/arm64"),
                ..info()
            },
            None,
        );
        arm.learn(p("linux/arm64"), ExecMode::Native { compat: false });
        let router = Router::new(vec![default, arm], Vec::new(), Vec::new());
        let img = image(&["linux/arm64"]);

        let spec = crate::spec::parse(Path::new("twin.toml"), &text.replace("{POLICY}", ""))
            .expect("valid spec");
        let plan = plan_routed(
            &spec,
            &img,
            &router,
            &Overrides::default(),
            &[p("linux/arm64")],
        );
        let native = plan
            .platforms
            .iter()
            .find(|r| r.engine == "arm")
            .expect("native row");
        let twin = plan
            .platforms
            .iter()
            .find(|r| r.engine == "default")
            .expect("twin");
        assert!(native.mode.is_native() && twin.mode.is_emulated());
        assert!(twin.problem().is_none(), "{:?}", twin.problem());
        assert_eq!(native.tests[0].timeout, Duration::from_secs(5));
        assert_eq!(twin.tests[0].timeout, Duration::from_secs(50));
        let (ns, ts) = (
            native.service.as_ref().expect("service"),
            twin.service.as_ref().expect("service"),
        );
        assert_eq!(ns.ready.timeout, Duration::from_secs(3));
        assert_eq!(
            ts.ready.timeout,
            Duration::from_secs(3).mul_f64(spec.settings.ready_factor())
        );
        assert_eq!(ts.probes[0].timeout, Duration::from_secs(20));
        assert!(ns.interpreter.is_none());
        assert!(
            ts.interpreter.is_some(),
            "the twin's process check must strip QEMU"
        );

        // A policy that forbids emulation forbids the twin too, and says so.
        let forbid = crate::spec::parse(
            Path::new("twin.toml"),
            &text.replace("{POLICY}", "emulation = \"forbid\""),
        )
        .expect("valid spec");
        let plan = plan_routed(
            &forbid,
            &img,
            &router,
            &Overrides::default(),
            &[p("linux/arm64")],
        );
        let twin = plan
            .platforms
            .iter()
            .find(|r| r.engine == "default")
            .expect("twin");
        assert!(
            twin.problem().is_some(),
            "forbid must stop the emulated twin"
        );
    }

    /// Issue 28: a readiness deadline under emulation took the tests' factor (10×), so a service
    /// on the wrong port made a 30 s readiness wait five minutes.
    #[test]
    fn readiness_under_emulation_takes_its_own_smaller_factor() {
        let img = image(&["linux/amd64", "linux/arm64"]);
        let ready = |settings: &str| {
            let text = format!(
                "[settings]\n{settings}\n[service]\n[service.ready]\ntcp = 8080\ntimeout = \"30s\"\n\
                 [[test]]\nname = \"t\"\ncommand = [\"true\"]\n"
            );
            let spec = crate::spec::parse(Path::new("web.toml"), &text).expect("valid spec");
            let planned = plan(
                &spec,
                &img,
                &engine(binfmt(&["arm64"])),
                &Overrides::default(),
            );
            let of = |name: &str| {
                let pp = planned
                    .platforms
                    .iter()
                    .find(|pp| pp.platform.to_string() == name)
                    .expect("planned");
                let service = pp.service.as_ref().expect("a service");
                (
                    service.ready.timeout.as_secs(),
                    pp.tests[0].timeout.as_secs(),
                )
            };
            (of("linux/amd64"), of("linux/arm64"))
        };
        // Native: as written. Emulated: readiness 3x, the tests still 10x.
        assert_eq!(ready(""), ((30, 30), (90, 300)));
        assert_eq!(ready("emulated_ready_factor = 5"), ((30, 30), (150, 300)));
        // A spec that lowered the tests' factor below 3 gets no longer readiness wait.
        assert_eq!(ready("emulated_timeout_factor = 2"), ((30, 30), (60, 60)));
    }
}
