//! Platform selection: which platforms a run covers, and which index entry runs each (exact,
//! or compatible under `variant_match`), or the problem of a platform the image lacks.

use crate::image::{IndexEntry, IndexEntryKind, ResolvedImage};
use crate::outcome::{Problem, ProblemKind};
use crate::platform::{self, MatchMode, MatchReason, Platform};
use crate::profile::EngineProfile;

use super::Readiness;

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

/// The image entries of an index that a platform may run from, with their platforms.
pub(super) struct Candidates<'a> {
    entries: Vec<&'a IndexEntry>,
    offered: Vec<Platform>,
}

impl<'a> Candidates<'a> {
    pub(super) fn of(image: &'a ResolvedImage) -> Candidates<'a> {
        let (entries, offered) = image
            .entries
            .iter()
            .filter(|e| e.kind == IndexEntryKind::Image)
            .filter_map(|e| e.platform.clone().map(|p| (e, p)))
            .unzip();
        Candidates { entries, offered }
    }

    /// The entry that runs `platform` and why that one, or why none can.
    pub(super) fn choose(&self, platform: &Platform, mode: MatchMode) -> Readiness {
        let offered = &self.offered;
        match platform::select(platform, offered, mode) {
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
                    entry: self.entries[sel.index].clone(),
                    reason,
                }
            }
            None => Readiness::Blocked {
                entry: None,
                problem: missing(platform, offered, mode),
            },
        }
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
