//! The plan: which platforms run, from which index entry, in which execution mode, with which
//! tests and expectations. Pure: it combines the spec, the resolved index and the engine's
//! capabilities, and decides everything that can be decided before a container starts.

use std::time::Duration;

use crate::emulation::{BinfmtState, ExecMode, decide};
use crate::engine::EngineInfo;
use crate::image::{EntryKind, IndexEntry, ResolvedImage};
use crate::outcome::{Problem, ProblemKind};
use crate::platform::{self, MatchMode, MatchReason, Platform};
use crate::spec::{Expect, Spec};

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
    /// The index entry to run, and why it was chosen; `None` with a problem.
    pub entry: Option<(IndexEntry, String)>,
    pub mode: ExecMode,
    /// Known before running: the platform cannot run at all.
    pub problem: Option<Problem>,
    pub tests: Vec<PlannedTest>,
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
    pub expect: Expect,
    pub timeout: Duration,
}

impl Plan {
    pub fn test_count(&self) -> usize {
        self.platforms.iter().map(|p| p.tests.len()).sum()
    }
}

/// Options that come from the command line and override the spec.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub platforms: Option<Vec<Platform>>,
    pub variant_match: Option<MatchMode>,
}

pub fn plan(
    spec: &Spec,
    image: &ResolvedImage,
    engine: &EngineInfo,
    binfmt: Option<&BinfmtState>,
    overrides: &Overrides,
) -> Plan {
    let candidates: Vec<(&IndexEntry, &Platform)> = image
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Image)
        .filter_map(|e| e.platform.as_ref().map(|p| (e, p)))
        .collect();
    let platforms: Vec<Platform> = overrides
        .platforms
        .clone()
        .or_else(|| spec.platforms.clone())
        .unwrap_or_else(|| dedup(candidates.iter().map(|(_, p)| (*p).clone())));
    let mode = overrides
        .variant_match
        .unwrap_or(spec.settings.variant_match);
    let offered: Vec<Platform> = candidates.iter().map(|(_, p)| (*p).clone()).collect();

    let mut planned: Vec<PlannedPlatform> = platforms
        .into_iter()
        .enumerate()
        .map(|(order, platform)| {
            let selection = platform::select(&platform, &offered, mode);
            let (entry, mut problem) = match selection {
                Some(sel) => {
                    let reason = match &sel.reason {
                        MatchReason::Exact => format!("exact match for {platform}"),
                        other => other.to_string(),
                    };
                    (Some((candidates[sel.index].0.clone(), reason)), None)
                }
                None => (None, Some(missing(&platform, &offered, mode))),
            };
            // Under compatible matching the entry may be another platform (arm/v7 for arm64):
            // what runs, and so what needs an emulator, is the entry's platform.
            let runs_as = entry
                .as_ref()
                .and_then(|(e, _)| e.platform.clone())
                .unwrap_or_else(|| platform.clone());
            let exec = decide(
                engine.platform.architecture(),
                runs_as.architecture(),
                runs_as.variant(),
                binfmt,
            );
            if problem.is_none()
                && let ExecMode::Unavailable { reason, hint } = &exec
            {
                problem = Some(Problem {
                    kind: ProblemKind::EmulatorUnavailable,
                    message: format!("cannot run {platform} on this engine: {reason}"),
                    hint: Some(hint.clone()),
                });
            }
            let factor = match exec {
                ExecMode::Emulated { .. } => spec.settings.emulated_timeout_factor,
                _ => 1.0,
            };
            let tests = spec
                .tests
                .iter()
                .filter(|t| t.runs_on(&platform))
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
                    expect: t.expect_for(&platform),
                    timeout: t.timeout.unwrap_or(spec.settings.timeout).mul_f64(factor),
                })
                .collect();
            PlannedPlatform {
                order,
                platform,
                entry,
                mode: exec,
                problem,
                tests,
            }
        })
        .collect();
    // Emulated platforms are the slowest; starting them first shortens the whole run.
    planned.sort_by_key(|p| match p.mode {
        ExecMode::Emulated { .. } => 0,
        ExecMode::Native { .. } => 1,
        ExecMode::Unavailable { .. } => 2,
    });
    Plan {
        platforms: planned,
        network: spec.settings.network.clone(),
    }
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
