//! `audit`'s pipeline: the ELF audit alone, with no spec. Every runnable platform of the index
//! is read from its source (a registry, an OCI archive or layout, or the engine, which saves its
//! image for the audit) and reported like a run, one `audit elf` test per platform. Only an
//! engine's image needs an engine; no container runs.

use std::time::{Duration, Instant, SystemTime};

use super::open::{Unresolved, open_readable};
use crate::audit::{self, Checks, Target};
use crate::diagnostic::Diagnostic;
use crate::image::IndexEntryKind;
use crate::outcome::{EntryChoice, ImageSummary, Phases, PlatformReport, RunReport};

/// The audit of `image` as a run report. `starting` is told how many platforms are read, once
/// the index is (the command line says so before the wait).
pub async fn audit_image(
    image: &str,
    host: Option<&str>,
    starting: impl FnOnce(usize),
) -> Result<RunReport, Diagnostic> {
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // An engine's image is saved here and read like a layout; gone when the audit is.
    let keep = tempfile::tempdir().map_err(|e| {
        Diagnostic::infrastructure(format!("cannot make a temporary directory: {e}"))
    })?;
    let (source, resolved) = open_readable(image, host, &keep)
        .await
        .map_err(Unresolved::into_diagnostic)?;
    // No engine is asked and no container runs (a `docker-daemon:` image's save counts as
    // resolving it), so those two phases stay empty.
    let phases = Phases {
        resolve: Some(started.elapsed()),
        ..Phases::default()
    };
    let targets: Vec<Target> = resolved
        .entries
        .iter()
        .filter(|e| e.kind == IndexEntryKind::Image)
        .filter_map(|e| {
            e.platform.clone().map(|platform| Target {
                platform,
                entry: e.clone(),
            })
        })
        .collect();
    starting(targets.len());
    let audit_started = Instant::now();
    let audits = audit::audit(&source, &targets, &Checks::elf_only()).await;
    let phases = Phases {
        audit: Some(audit_started.elapsed()),
        ..phases
    };
    let mut report = RunReport {
        run_id: super::new_run_id(),
        spec: String::new(),
        suite: "audit".into(),
        spec_digest: None,
        image: ImageSummary {
            reference: image.to_owned(),
            digest: Some(resolved.digest.clone()),
            media_type: Some(resolved.media_type.clone()),
            is_index: resolved.is_index,
            available: resolved.runnable_platforms(),
            attestations: resolved.attestations(),
        },
        engine: None,
        engines: Vec::new(),
        started_at,
        duration: Duration::ZERO,
        platforms: targets
            .iter()
            .map(|t| PlatformReport {
                platform: t.platform.clone(),
                engine: None,
                entry: Some(EntryChoice {
                    digest: t.entry.digest.clone(),
                    platform: t.platform.clone(),
                    reason: "listed in the index".into(),
                }),
                mode: None,
                pull: None,
                problem: None,
                tests: Vec::new(),
                duration: Duration::ZERO,
                slowdown: None,
                service: None,
                containers_done: None,
            })
            .collect(),
        problem: None,
        interrupted: false,
        phases,
        spec_lines: Default::default(),
        meta: Default::default(),
        emulation_differences: Vec::new(),
    };
    audit::merge_into(&mut report.platforms, audits);
    report.duration = started.elapsed();
    Ok(report)
}
