//! `archsmoke run`: spec → resolve → plan → run ⇒ events ⇒ reporters, then the exit code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use std::io::Write;

use super::{Format, GlobalArgs, RunArgs, new_run_id};
use crate::diagnostic::Diagnostic;
use crate::emulation::BinfmtState;
use crate::engine::Engine;
use crate::event::Event;
use crate::exit;
use crate::image::{self, RegistryImage};
use crate::outcome::{ImageSummary, Problem, ProblemKind, RunReport};
use crate::plan::{self, Overrides};
use crate::report::terminal::{self, TerminalOptions};
use crate::run::{self, DEFAULT_OUTPUT_LIMIT, RunContext};
use crate::spec;

/// Containers at once when neither the spec nor the command line says.
const DEFAULT_JOBS: usize = 4;
/// How long the final sweep may take before the report is written without it.
const SWEEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
pub const BINFMT_ROOT: &str = "/proc/sys/fs/binfmt_misc";

pub async fn run(args: &RunArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let spec = spec::load(&args.spec).map_err(|e| Diagnostic::usage(e.to_string()))?;
    spec.check_privileged(args.allow_privileged)
        .map_err(|e| Diagnostic::usage(e.to_string()))?;
    crate::redact::register(spec.secrets());
    let image_text = args
        .image
        .clone()
        .or_else(|| spec.image.clone())
        .ok_or_else(|| {
            Diagnostic::usage(format!("{}: no image to test", args.spec.display()))
                .with_hint("set `image = \"...\"` in the spec or pass --image REF")
        })?;
    let reference = image::parse_reference(&image_text)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let run_id = new_run_id();
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let term = TerminalOptions {
        color: global.stderr_color(),
        quiet: global.quiet,
    };

    let registry_image = Arc::new(RegistryImage::new(reference));
    if let Some(c) = registry_image.credentials() {
        crate::redact::register([c.password.as_str()]);
    }
    let mut report = RunReport {
        run_id: run_id.clone(),
        spec: args.spec.display().to_string(),
        suite: spec.name.clone(),
        image: ImageSummary {
            reference: registry_image.reference().whole(),
            ..ImageSummary::default()
        },
        engine: None,
        started_at,
        duration: std::time::Duration::ZERO,
        platforms: Vec::new(),
        problem: None,
        interrupted: false,
    };
    let connected = match Engine::connect(global.host.as_deref()).await {
        Ok(engine) => engine.info().await.map(|info| (engine, info)),
        Err(e) => Err(e),
    };
    let (engine, engine_info) = match connected {
        Ok(pair) => pair,
        Err(e) => {
            // Still a report: the CI dashboard should say why nothing ran.
            report.problem = Some(Problem {
                kind: ProblemKind::Engine,
                message: e.to_string(),
                hint: Some(e.hint()),
            });
            report.duration = started.elapsed();
            return finish(&report, args, global);
        }
    };
    report.engine = Some(engine_info.clone());

    let resolved = match registry_image.resolve().await {
        Ok(r) => r,
        Err(e) => {
            report.problem = Some(Problem {
                kind: ProblemKind::Registry,
                message: e.to_string(),
                hint: Some(e.hint()),
            });
            report.duration = started.elapsed();
            return finish(&report, args, global);
        }
    };
    report.image.digest = Some(resolved.digest.clone());
    report.image.media_type = Some(resolved.media_type.clone());
    report.image.is_index = resolved.is_index;
    report.image.available = resolved.runnable_platforms();
    report.image.attestations = resolved.attestations();

    // The binfmt entries of this machine only describe the engine when it shares our kernel.
    let binfmt = if engine_info.local {
        BinfmtState::read(Path::new(BINFMT_ROOT)).ok()
    } else {
        None
    };
    let overrides = Overrides {
        platforms: (!args.platforms.is_empty()).then(|| args.platforms.clone()),
        variant_match: args.variant_match.map(Into::into),
    };
    let mut plan = plan::plan(&spec, &resolved, &engine_info, binfmt.as_ref(), &overrides);
    for p in &mut plan.platforms {
        p.mode = p.mode.clone().with_emulator_version();
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if let Some(line) = terminal::event_line(&event, term) {
                eprintln!("{}", crate::redact::text(&line));
            }
        }
    });
    let _ = tx.send(Event::RunStarted {
        run_id: run_id.clone(),
        image: report.image.reference.clone(),
        platforms: plan.platforms.iter().map(|p| p.platform.clone()).collect(),
        tests: plan.test_count(),
    });
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(cancel.clone(), tx.clone()));
    let ctx = RunContext {
        run_id: run_id.clone(),
        engine: engine.clone(),
        image: registry_image,
        jobs: args
            .jobs
            .map(usize::from)
            .or(spec.settings.jobs)
            .unwrap_or(DEFAULT_JOBS),
        output_limit: args
            .output_limit
            .or(spec.settings.output_limit)
            .unwrap_or(DEFAULT_OUTPUT_LIMIT),
        events: tx,
        cancel: cancel.clone(),
    };
    report.platforms = run::execute(plan, ctx).await;
    report.interrupted = cancel.is_cancelled();
    // Containers abandoned by an interrupt, or whose removal failed, go now. Bounded: when the
    // engine has gone away the report must still be written.
    match tokio::time::timeout(SWEEP_TIMEOUT, engine.remove_run(Some(&run_id))).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(removed = n, "removed leftover containers"),
        Ok(Err(e)) => eprintln!(
            "warning: could not sweep this run's containers: {e}; \
             `archsmoke gc --run {run_id}` removes them once the engine is back"
        ),
        Err(_) => eprintln!(
            "warning: the engine did not answer the final sweep within {SWEEP_TIMEOUT:?}; \
             `archsmoke gc --run {run_id}` removes this run's containers once it is back"
        ),
    }
    // Only now: a second signal must still force the exit while the sweep waits on the engine.
    signals.abort();
    // The printer ends when the last sender (held by the run context) is gone.
    let _ = printer.await;
    let same: Vec<String> = spec
        .tests
        .iter()
        .filter(|t| t.same_output)
        .map(|t| t.name.clone())
        .collect();
    crate::check::across::same_output(&mut report, &same, &engine_info.platform);
    report.compute_slowdowns(&engine_info.platform);
    report.duration = started.elapsed();
    finish(&report, args, global)
}

/// Write the report files (whatever the outcome: a failed run is what dashboards need most),
/// print the summary, and return the run's exit code.
fn finish(report: &RunReport, args: &RunArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let mut redacted = report.clone();
    crate::redact::report(&mut redacted);
    let report = &redacted;
    let mut write_failed = false;
    if let Some(path) = &args.junit
        && let Err(e) = crate::report::junit::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    if let Some(path) = &args.json
        && let Err(e) = crate::report::json::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Json => out.write_all(crate::report::json::render(report).as_bytes()),
        Format::Human => terminal::summary(
            report,
            &mut out,
            TerminalOptions {
                color: global.stdout_color(),
                quiet: global.quiet,
            },
        ),
    };
    written.map_err(|e| Diagnostic::infrastructure(format!("cannot write the summary: {e}")))?;
    // A report that could not be written is an infrastructure failure unless a test failed.
    Ok(match report.exit_code() {
        exit::SUCCESS if write_failed => exit::INFRASTRUCTURE,
        code => code,
    })
}

/// First SIGINT/SIGTERM: cancel gracefully. Second: exit at once.
async fn watch_signals(cancel: CancellationToken, events: mpsc::UnboundedSender<Event>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    let _ = events.send(Event::Cancelling);
    cancel.cancel();
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!("interrupted twice: exiting without cleanup; `archsmoke gc` removes what is left");
    std::process::exit(crate::exit::INFRASTRUCTURE);
}
