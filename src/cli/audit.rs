//! `archsmoke audit IMAGE`: the ELF audit alone, with no spec. Every runnable platform of the
//! index is read from its source (a registry, an OCI archive or layout, or the engine, which
//! saves its image for the audit) and reported like a run (terminal or JSON), one `audit elf`
//! test per platform, failing on any executable of another architecture. Only an engine's
//! image needs an engine.

use std::io::Write;
use std::time::{Instant, SystemTime};

use super::{AuditArgs, GlobalArgs, new_run_id};
use crate::audit::{self, Checks, Target};
use crate::diagnostic::Diagnostic;
use crate::image::EntryKind;
use crate::outcome::{EntryChoice, ImageSummary, Phases, PlatformReport, RunReport};
use crate::report::terminal::{self, TerminalOptions};

pub async fn audit(args: &AuditArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    // An engine's image is saved here and read like a layout; gone when the audit is.
    let keep = tempfile::tempdir().map_err(|e| {
        Diagnostic::infrastructure(format!("cannot make a temporary directory: {e}"))
    })?;
    let (image, resolved) =
        crate::pipeline::open_readable(&args.image, global.host.as_deref(), &keep)
            .await
            .map_err(crate::pipeline::Unresolved::into_diagnostic)?;
    // No engine is asked and no container runs (a `docker-daemon:` image's save counts as
    // resolving it), so those two phases stay empty.
    let phases = Phases {
        resolve: Some(started.elapsed()),
        ..Phases::default()
    };
    let targets: Vec<Target> = resolved
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Image)
        .filter_map(|e| {
            e.platform.clone().map(|platform| Target {
                platform,
                entry: e.clone(),
            })
        })
        .collect();
    if !global.quiet {
        eprintln!(
            "auditing the executables of {} platforms of {}",
            targets.len(),
            args.image
        );
    }
    let audit_started = Instant::now();
    let audits = audit::audit(&image, &targets, &Checks::elf_only()).await;
    let phases = Phases {
        audit: Some(audit_started.elapsed()),
        ..phases
    };
    let mut report = RunReport {
        run_id: new_run_id(),
        spec: String::new(),
        suite: "audit".into(),
        spec_digest: None,
        image: ImageSummary {
            reference: args.image.clone(),
            digest: Some(resolved.digest.clone()),
            media_type: Some(resolved.media_type.clone()),
            is_index: resolved.is_index,
            available: resolved.runnable_platforms(),
            attestations: resolved.attestations(),
        },
        engine: None,
        engines: Vec::new(),
        started_at,
        duration: std::time::Duration::ZERO,
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
                duration: std::time::Duration::ZERO,
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
    let html_failed = match &args.html {
        Some(path) => match crate::report::html::write(&report, path) {
            Ok(()) => false,
            Err(e) => {
                eprintln!("error: {e}");
                true
            }
        },
        None => false,
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        out.write_all(crate::report::json::render(&report).as_bytes())
    } else {
        terminal::summary(
            &report,
            &mut out,
            TerminalOptions {
                color: global.stdout_color(),
                quiet: global.quiet,
            },
        )
    };
    written.map_err(|e| Diagnostic::infrastructure(format!("cannot write the summary: {e}")))?;
    // Like `run`: a report that could not be written is an infrastructure failure unless a
    // check failed.
    Ok(match report.exit_code() {
        crate::exit::SUCCESS if html_failed => crate::exit::INFRASTRUCTURE,
        code => code,
    })
}
