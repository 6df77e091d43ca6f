//! A run whose spec checks only the image (`[[file]]`, `[metadata]`, `[[license]]`, `[audit]`):
//! nothing starts a container, so no engine is reached at all. The index is read, each platform
//! gets its entry (or the defect of lacking one), and the image checks run, feeding the same
//! events and reports as any run. A CI job that only audits an image needs no Docker.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Config, Unresolved, audit_targets, counted, describe_image, fold_in, image_checks, relay,
    spawn_audit, timed,
};
use crate::diagnostic::Diagnostic;
use crate::event::{Event, EventSink};
use crate::image::SourceSpec;
use crate::outcome::{PlatformReport, RunReport};
use crate::profile::EngineProfile;
use crate::route::Router;

/// A platform's report before its image checks: its entry, and only what the image itself is
/// guilty of (an emulator this machine lacks, or a policy, says nothing about checks that run
/// no code). Nothing ran, natively or emulated: no mode.
fn row(p: &crate::plan::PlannedPlatform) -> PlatformReport {
    PlatformReport {
        platform: p.platform.clone(),
        engine: None,
        entry: p.entry_choice(),
        mode: None,
        pull: None,
        problem: p.problem().filter(|pr| pr.kind.is_defect()).cloned(),
        tests: Vec::new(),
        duration: std::time::Duration::ZERO,
        slowdown: None,
        service: None,
        containers_done: None,
    }
}

/// Whether `config` needs no engine: no test, no service, and an image that is not the engine's.
pub(super) fn applies(config: &Config) -> bool {
    config.spec.tests.is_empty()
        && config.spec.service.is_none()
        && !matches!(config.source, SourceSpec::Daemon(_))
}

/// Reads the index and runs the image checks of every platform.
pub(super) async fn run(
    config: &Config,
    mut report: RunReport,
    mut sink: Box<dyn EventSink>,
    (tx, rx): (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>),
    cancel: &CancellationToken,
    started: Instant,
) -> Result<RunReport, Diagnostic> {
    let opened = tokio::select! {
        opened = timed(super::open::open_image(&config.image)) => opened,
        () = cancel.cancelled() => {
            report.interrupted = true;
            sink.finish();
            report.duration = started.elapsed();
            return Ok(report);
        }
    };
    let (image, resolve_time) = opened;
    report.phases.resolve = Some(resolve_time);
    let (source, resolved) = match image {
        Ok(pair) => pair,
        Err(Unresolved::Usage(d)) => return Err(d),
        Err(Unresolved::Problem(problem)) => {
            report.problem = Some(problem);
            sink.finish();
            report.duration = started.elapsed();
            return Ok(report);
        }
    };
    let source = Arc::new(source);
    crate::redact::register(source.all_credentials().iter().map(|c| c.password.as_str()));
    describe_image(&mut report.image, &source, &resolved);
    // Which entry each platform takes is all the plan decides here; how an engine would run it
    // does not matter, so this machine stands in for one and every mode is dropped below.
    let router = Router::single(EngineProfile::this_machine(
        crate::emulation::register::host_platform(),
        None,
    ));
    let mut plan = crate::plan::plan_routed(
        &config.spec,
        &resolved,
        &router,
        &crate::plan::Overrides {
            emulation: Some(crate::emulation::Policy::Allow),
            ..config.overrides.clone()
        },
        &[],
    );
    plan.platforms.sort_by_key(|p| p.order);
    let checks = image_checks(config, &source);
    let plan = counted(plan, &checks);
    let targets = audit_targets(&plan, &checks);
    let owners = plan
        .platforms
        .iter()
        .filter(|p| p.image_checks > 0)
        // Rows without a mode: nothing runs them, natively or not.
        .map(|p| (p.platform.clone(), None, false))
        .collect();
    let unrun = crate::audit::not_run(&targets, &checks);
    let audit = spawn_audit(source.clone(), targets, checks, cancel);
    let printer = tokio::spawn(relay(rx, sink, audit, owners));
    let _ = tx.send(Event::RunStarted {
        run_id: report.run_id.clone(),
        image: source.display(),
        platforms: plan.platforms.iter().map(|p| p.platform.clone()).collect(),
        tests: plan.test_count(),
    });
    for p in &plan.platforms {
        let _ = tx.send(Event::PlatformStarted {
            platform: p.platform.clone(),
            mode: None,
            engine: None,
            tests: p.result_count(),
        });
        let _ = tx.send(Event::PlatformFinished { report: row(p) });
    }
    drop(tx);
    let audited = printer.await.ok().flatten();
    report.platforms = plan.platforms.iter().map(row).collect();
    report.interrupted = cancel.is_cancelled();
    fold_in(&mut report, audited, unrun);
    report.duration = started.elapsed();
    Ok(report)
}
