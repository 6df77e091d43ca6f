//! `archsmoke run`: spec → resolve → plan → run ⇒ events ⇒ reporters, then the exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Format, GlobalArgs, IsolationArg, RunArgs, new_run_id};
use crate::audit;
use crate::diagnostic::Diagnostic;
use crate::emulation::BinfmtState;
use crate::engine::{Engine, EngineError, EngineInfo};
use crate::event::Event;
use crate::exit;
use crate::image::{ImageSource, ResolvedImage, SourceSpec};
use crate::outcome::{ImageSummary, Phases, Problem, ProblemKind, RunReport};
use crate::plan::{self, Overrides};
use crate::report::live::{self, LiveView};
use crate::report::terminal::{self, TerminalOptions};
use crate::run::{self, DEFAULT_OUTPUT_LIMIT, RunContext};
use crate::spec;

/// Containers at once when neither the spec nor the command line says.
const DEFAULT_JOBS: usize = 4;
/// How long the final sweep may take before the report is written without it.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(20);
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
    let isolation = isolation(&spec, args)?;
    // Only a malformed reference is a usage error; an unreadable source is reported below.
    let source_spec = SourceSpec::parse(&image_text)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let run_id = new_run_id();
    let started = Instant::now();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let term = TerminalOptions {
        color: global.stderr_color(),
        quiet: global.quiet,
    };

    let mut report = RunReport {
        run_id: run_id.clone(),
        spec: args.spec.display().to_string(),
        suite: spec.name.clone(),
        image: ImageSummary {
            reference: source_spec.display(),
            ..ImageSummary::default()
        },
        engine: None,
        started_at,
        duration: Duration::ZERO,
        platforms: Vec::new(),
        problem: None,
        interrupted: false,
        phases: Phases::default(),
    };
    let Opened {
        engine,
        engine_time,
        image,
        resolve_time,
    } = open(&image_text, &source_spec, global.host.as_deref()).await;
    report.phases.engine = Some(engine_time);
    report.phases.resolve = Some(resolve_time);
    // What the user wrote comes first: a usage error is exit 2 whatever else went wrong.
    let image = match image {
        Err(Unresolved::Usage(d)) => return Err(d),
        other => other,
    };
    let (engine, engine_info) = match engine {
        Ok(pair) => pair,
        Err(e) => {
            // Still a report: the CI dashboard should say why nothing ran.
            report.problem = Some(Problem::engine(&e));
            report.duration = started.elapsed();
            return finish(&report, args, global);
        }
    };
    report.engine = Some(engine_info.clone());

    let (source, resolved) = match image {
        Ok(pair) => pair,
        Err(Unresolved::Usage(d)) => return Err(d),
        Err(Unresolved::Problem(problem)) => {
            report.problem = Some(problem);
            report.duration = started.elapsed();
            return finish(&report, args, global);
        }
    };
    let source = Arc::new(source);
    // The registry password never reaches a log line or a report, even through a hostile test.
    if let Some(c) = source.credentials() {
        crate::redact::register([c.password.as_str()]);
    }
    report.image.reference = source.display();
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
        emulation: args.emulation.map(Into::into),
        skip_unavailable: args.skip_unavailable,
    };
    let mut plan = plan::plan(&spec, &resolved, &engine_info, binfmt.as_ref(), &overrides);
    // Each version is a QEMU process start (~0.1 s under load): run them side by side, not
    // one after another before the first container can start.
    let versions = plan.platforms.iter().map(|p| {
        let mode = p.mode.clone();
        tokio::task::spawn_blocking(move || mode.with_emulator_version())
    });
    let versions = futures_util::future::join_all(versions).await;
    for (p, mode) in plan.platforms.iter_mut().zip(versions) {
        if let Ok(mode) = mode {
            p.mode = mode;
        }
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let live = live::wanted(
        std::io::stderr().is_terminal(),
        global.quiet,
        global.verbose,
        std::env::var_os("RUST_LOG").is_some(),
        std::env::var("TERM").ok().as_deref(),
    );
    let printer = tokio::spawn(async move {
        if live {
            let mut view = LiveView::stderr(term);
            while let Some(event) = rx.recv().await {
                view.handle(&event);
            }
            view.finish();
        } else {
            while let Some(event) = rx.recv().await {
                if let Some(line) = terminal::event_line(&event, term) {
                    eprintln!("{}", crate::redact::text(&line));
                }
            }
        }
    });
    let _ = tx.send(Event::RunStarted {
        run_id: run_id.clone(),
        image: report.image.reference.clone(),
        platforms: plan.platforms.iter().map(|p| p.platform.clone()).collect(),
        tests: plan.test_count(),
    });
    let audit_targets: Vec<audit::Target> = plan
        .platforms
        .iter()
        .filter_map(|p| {
            p.entry.as_ref().map(|(entry, _)| audit::Target {
                platform: p.platform.clone(),
                entry: entry.clone(),
            })
        })
        .collect();
    let audited_image = source.clone();
    let cancel = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(cancel.clone(), tx.clone()));
    let ctx = RunContext {
        run_id: run_id.clone(),
        engine: engine.clone(),
        image: source.clone(),
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
        isolation,
    };
    let (platforms, run_time) = timed(run::execute(plan, ctx)).await;
    report.platforms = platforms;
    report.phases.run = Some(run_time);
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
    // Images loaded from an OCI layout are this run's own; the tag alone goes, so an image the
    // engine also holds under another name stays.
    if let ImageSource::Layout(layout) = &*source {
        for tag in layout.take_loaded() {
            if let Err(e) = engine.remove_image(&tag).await {
                eprintln!("warning: could not remove the loaded image {tag}: {e}");
            }
        }
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
    // After the slowdowns: reading layers says nothing about emulation speed.
    let mut checks = audit::Checks::from_spec(&spec);
    if source.daemon_name().is_some() && checks.files.is_empty() && checks.metadata.is_none() {
        // An engine image offers no layers to read here: the default audit, which nobody asked
        // for, must not fail the run. Explicit file and metadata checks still say why they fail.
        checks.audit.elf = crate::spec::ElfLevel::Off;
    }
    if !report.interrupted && !checks.is_empty() {
        if !global.quiet {
            eprintln!(
                "auditing the image layers and configs of {} platforms",
                audit_targets.len()
            );
        }
        let (audits, audit_time) = timed(audit::audit(
            audited_image.as_ref(),
            &audit_targets,
            &checks,
        ))
        .await;
        audit::merge_into(&mut report.platforms, audits);
        report.phases.audit = Some(audit_time);
    }
    report.duration = started.elapsed();
    finish(&report, args, global)
}

/// Why an image source could not be resolved.
pub(super) enum Unresolved {
    /// What the user wrote is wrong (an ambiguous layout without `:TAG`): exit 2, no report.
    Usage(Diagnostic),
    /// The source could not be read: reported, exit 3.
    Problem(Problem),
}

/// The engine and the image, each opened or with the reason it could not be.
pub(super) struct Opened {
    pub engine: Result<(Engine, EngineInfo), EngineError>,
    pub engine_time: Duration,
    pub image: Result<(ImageSource, ResolvedImage), Unresolved>,
    /// The index walk alone (for `docker-daemon:`, the engine's answer about the image).
    pub resolve_time: Duration,
}

/// Connect to the engine and resolve the image. A `docker-daemon:` image is described by the
/// engine, so it waits for the handshake; any other source is read while the handshake is in
/// flight, since both are round trips that mostly wait on others.
pub(super) async fn open(text: &str, source: &SourceSpec, host: Option<&str>) -> Opened {
    let ((engine, engine_time), (image, resolve_time)) = if matches!(source, SourceSpec::Daemon(_))
    {
        let connected = timed(connect(host)).await;
        let engine = connected.0.as_ref().ok().map(|(e, _)| e);
        let image = timed(open_and_resolve(text, engine)).await;
        (connected, image)
    } else {
        tokio::join!(timed(connect(host)), timed(open_and_resolve(text, None)))
    };
    Opened {
        engine,
        engine_time,
        image,
        resolve_time,
    }
}

/// The engine and what it says about itself, or why it cannot be used.
async fn connect(host: Option<&str>) -> Result<(Engine, EngineInfo), EngineError> {
    let engine = Engine::connect(host).await?;
    let info = engine.info().await?;
    Ok((engine, info))
}

/// `fut`'s output and the wall time it took.
async fn timed<T>(fut: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = fut.await;
    (out, started.elapsed())
}

/// Open the image source and read its index; for `docker-daemon:` the engine describes the
/// image, so without one such a source is an engine problem.
async fn open_and_resolve(
    text: &str,
    engine: Option<&Engine>,
) -> Result<(ImageSource, ResolvedImage), Unresolved> {
    let image_problem = |e: crate::image::ImageError| {
        if e.is_usage() {
            Unresolved::Usage(Diagnostic::usage(e.to_string()).with_hint(e.hint()))
        } else {
            Unresolved::Problem(Problem::registry(&e))
        }
    };
    let source = ImageSource::open(text).map_err(image_problem)?;
    let resolved = match (source.daemon_name(), engine) {
        (Some(name), Some(engine)) => {
            let image = engine
                .local_image(name)
                .await
                .map_err(|e| Unresolved::Problem(Problem::engine(&e)))?;
            let image = image.ok_or_else(|| {
                Unresolved::Problem(Problem {
                    kind: ProblemKind::Registry,
                    message: format!("the engine has no image `{name}`"),
                    hint: Some(
                        "`docker images` lists what the engine has; build, pull or load it first"
                            .into(),
                    ),
                })
            })?;
            ResolvedImage::daemon(name, &image.id, image.platform)
        }
        (Some(_), None) => {
            return Err(Unresolved::Problem(Problem {
                kind: ProblemKind::Engine,
                message: format!(
                    "{text}: only the engine can describe its images, and it did not answer"
                ),
                hint: Some(
                    "start the engine, or name the image by a registry reference or an OCI layout"
                        .into(),
                ),
            }));
        }
        (None, _) => source.resolve().await.map_err(image_problem)?,
    };
    Ok((source, resolved))
}

/// The isolation in force: the command line's, else the spec's; exec needs what the spec
/// validator checks when the spec itself asks for it.
fn isolation(spec: &spec::Spec, args: &RunArgs) -> Result<run::Isolation, Diagnostic> {
    let exec = match args.isolation {
        Some(choice) => choice == IsolationArg::Exec,
        None => spec.settings.isolation == spec::Isolation::Exec,
    };
    if !exec {
        return Ok(run::Isolation::Container);
    }
    let keepalive = spec.exec_keepalive().map_err(|message| {
        Diagnostic::usage(format!("{}: {message}", spec.path.display()))
            .with_hint("or run without --isolation exec")
    })?;
    Ok(run::Isolation::Exec { keepalive })
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
    if let Some(path) = &args.html
        && let Err(e) = crate::report::html::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    if crate::report::github::enabled(std::env::var("GITHUB_ACTIONS").ok().as_deref())
        && !github_actions(report, args.format)
    {
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

/// Inside GitHub Actions: append the job summary and print an annotation per failure (on stderr
/// when stdout carries the JSON report, which a stray line would break). False when the summary
/// could not be written.
fn github_actions(report: &RunReport, format: Format) -> bool {
    use crate::report::github;
    for line in github::annotations(report) {
        match format {
            Format::Json => eprintln!("{line}"),
            Format::Human => println!("{line}"),
        }
    }
    match std::env::var_os("GITHUB_STEP_SUMMARY") {
        Some(path) if !path.is_empty() => match github::append_summary(report, Path::new(&path)) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        },
        _ => true,
    }
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
