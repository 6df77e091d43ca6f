//! The plan: which platforms run, on which engine, from which index entry, in which execution
//! mode, with which tests and expectations. Pure: it combines the spec, the resolved index and
//! the engine's profile (whose [`EngineProfile::mode`] says how each platform would run), and
//! decides everything that can be decided before a container starts, the emulation policy
//! included.

use std::time::Duration;

use crate::image::{IndexEntry, ResolvedImage};
use crate::mode::ExecMode;
use crate::outcome::{EntryChoice, Problem, ProblemKind};
use crate::platform::Platform;
use crate::profile::EngineProfile;
use crate::route::{Route, Router};
use crate::spec::{Expect, Spec};

mod overrides;
mod policy;
mod select;
mod service;
mod twins;

pub use overrides::Overrides;
pub use policy::policy_problem;
use select::Candidates;
pub use select::platforms_to_run;
pub use service::{PlannedService, plan_service};
use twins::compare_twins;

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
    let candidates = Candidates::of(image);
    let platforms = platforms_to_run(image, overrides.platforms(spec), engine);
    let mode = overrides.variant_match(spec);
    let policy = overrides.emulation(spec);

    let mut planned: Vec<PlannedPlatform> = platforms
        .into_iter()
        .enumerate()
        .map(|(order, platform)| {
            let mut readiness = candidates.choose(&platform, mode);
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
            // Before the policy: no policy makes it runnable.
            if let Some(p) = policy::other_os(engine, &runs_as) {
                readiness.block(p);
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

#[cfg(test)]
mod tests;
