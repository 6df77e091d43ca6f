//! The run pipeline: from one resolved [`Config`] to a finished [`RunReport`], feeding an
//! [`EventSink`] while it goes.
//!
//! ```text
//! Config ─▶ open (engine ∥ image index) ─▶ EngineProfile ─▶ plan ─▶ run::execute ══ events ══▶ sink
//!                                                                    │
//!            RunReport ◀─ audit ◀─ compare across platforms ◀─ sweep ┘
//! ```
//!
//! The pipeline owns the order of the phases and their timing, the run's cancellation token,
//! the task that drains events into the sink, and the cleanup at the end (the sweep of the
//! run's containers, the tags of images loaded from a layout). It writes no report: the caller
//! renders the `RunReport` it returns, whatever happened: an engine or image that could not be
//! opened is a report with a problem, not an error. Only what the user wrote wrongly is an
//! `Err` (exit 2, no report). `inspect` opens its inputs through the same [`open`].

mod audit_only;
mod config;
pub mod doctor;
pub mod engines;
mod image_only;
mod inspect;
mod open;
pub mod probe;
mod starter;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use audit_only::audit_image;
pub use config::{Config, DEFAULT_JOBS, Flags, image_arg};
pub use inspect::inspect;
pub use open::{Opened, Unresolved, connect, open, open_readable, timed};
pub use starter::starter_spec;

use crate::audit;
use crate::diagnostic::Diagnostic;
use crate::engine::Engine;
use crate::event::{Event, EventSink};
use crate::image::{ImageSource, ResolvedImage};
use crate::mode::ExecMode;
use crate::outcome::{ImageSummary, Phases, Problem, RunReport};
use crate::plan::{self, Plan};
use crate::platform::Platform;
use crate::route::Router;
use crate::run::RunContext;

/// How long the final sweep may take before the report is written without it.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Stops a run from outside (a signal handler): the first [`Canceller::cancel`] says so to the
/// sink and cancels the run's token; running containers are then abandoned to the sweep.
#[derive(Clone)]
pub struct Canceller {
    token: CancellationToken,
    /// Weak: the watcher lives from before the engine handshake to after the audit, and the
    /// printer must still end when the run's own senders are gone.
    events: mpsc::WeakUnboundedSender<Event>,
}

impl Canceller {
    pub fn cancel(&self) {
        if let Some(events) = self.events.upgrade() {
            let _ = events.send(Event::Cancelling);
        }
        self.token.cancel();
    }
}

/// A run id unique enough to tell concurrent runs on one engine apart, short enough to read,
/// and random, so that nothing inside an image can guess another run's.
pub fn new_run_id() -> String {
    crate::digest::random_hex(6)
}

/// Runs `config` to its report. `watch` is started before the engine handshake and the index
/// walk and gets the run's [`Canceller`]: a signal while a slow registry or engine is awaited
/// ends the run at once with an interrupted report, and so does one during the audit. It is
/// stopped at the end, so that it can still force an exit while the sweep waits on the engine.
pub async fn run<W, F>(
    config: &Config,
    mut sink: Box<dyn EventSink>,
    watch: W,
) -> Result<RunReport, Diagnostic>
where
    W: FnOnce(Canceller) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let mut report = RunReport {
        run_id: new_run_id(),
        spec: config.spec_path.display().to_string(),
        suite: config.spec.name.clone(),
        spec_digest: spec_digest(&config.spec_path),
        image: ImageSummary {
            reference: config.source.display(),
            ..ImageSummary::default()
        },
        engine: None,
        engines: Vec::new(),
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        duration: Duration::ZERO,
        platforms: Vec::new(),
        problem: None,
        interrupted: false,
        phases: Phases::default(),
        spec_lines: config.spec.lines.clone(),
        meta: config.spec.meta.clone(),
        emulation_differences: Vec::new(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let watcher = Watcher(tokio::spawn(watch(Canceller {
        token: cancel.clone(),
        events: tx.downgrade(),
    })));
    if image_only::applies(config) {
        return image_only::run(config, report, sink, (tx, rx), &cancel, started).await;
    }
    // The named engines are reached while the default one and the image are opened.
    let (opened, named) = tokio::select! {
        pair = async {
            tokio::join!(
                open(&config.image, &config.source, config.host.as_deref()),
                engines::connect_named(&config.engines, config.trust_spec_engines)
            )
        } => pair,
        () = cancel.cancelled() => {
            report.interrupted = true;
            report.problem = Some(Problem {
                kind: crate::outcome::ProblemKind::Interrupted,
                message: "interrupted while connecting to the engine and resolving the image; \
                          nothing ran"
                    .into(),
                hint: None,
            });
            report.duration = started.elapsed();
            return Ok(report);
        }
    };
    report.phases.engine = Some(opened.engine_time);
    report.phases.resolve = Some(opened.resolve_time);
    // What the user wrote comes first: a usage error is exit 2 whatever else went wrong.
    let image = match opened.image {
        Err(Unresolved::Usage(d)) => return Err(d),
        other => other,
    };
    let mut connected = vec![engines::Connected {
        name: crate::outcome::DEFAULT_ENGINE.to_owned(),
        spec: None,
        engine: opened.engine,
    }];
    connected.extend(named);
    let engines = match engines::assemble(connected, &tx) {
        Ok(engines) => engines,
        Err(e) => {
            warned_early(&mut rx, &mut sink);
            // Still a report: the CI dashboard should say why nothing ran.
            report.problem = Some(Problem::engine(&e));
            report.duration = started.elapsed();
            return Ok(report);
        }
    };
    let mut router = engines.router;
    report.engines = router
        .profiles()
        .iter()
        .filter_map(|p| p.summary())
        .collect();
    report.engine = report.engines.first().cloned();
    let (source, resolved) = match image {
        Ok(pair) => pair,
        Err(Unresolved::Usage(d)) => return Err(d),
        Err(Unresolved::Problem(problem)) => {
            warned_early(&mut rx, &mut sink);
            report.problem = Some(problem);
            report.duration = started.elapsed();
            return Ok(report);
        }
    };
    let source = Arc::new(source);
    // The registry password never reaches a log line or a report, even through a hostile test.
    crate::redact::register(source.all_credentials().iter().map(|c| c.password.as_str()));
    describe_image(&mut report.image, &source, &resolved);

    let wanted = plan::platforms_to_run(
        &resolved,
        config.overrides.platforms.as_deref(),
        router.primary(),
    );
    let pins: Vec<_> = config
        .engines
        .iter()
        .flat_map(|e| e.platforms.iter().map(|p| (p.clone(), e.name.clone())))
        .collect();
    // Said while the probes run, not after: the sink is handed each note at once (the relay
    // starts with the plan), after what was warned so far.
    warned_early(&mut rx, &mut sink);
    let sink_now = std::sync::Mutex::new(&mut sink);
    let note = |event: Event| {
        if let Ok(mut sink) = sink_now.lock() {
            sink.handle(&event);
        }
    };
    report.phases.probe = probe::learn_remote(
        &mut router,
        &engines.engines,
        &wanted,
        &pins,
        &report.run_id,
        config.jobs,
        &config.probe_cache,
        probe::Prefetch {
            source: &source,
            resolved: &resolved,
        },
        &note,
    )
    .await;
    report.engines = router
        .profiles()
        .iter()
        .filter_map(|p| p.summary())
        .collect();
    let checks = image_checks(config, &source);
    let plan = counted(
        plan_with_versions(config, &resolved, &mut router, &wanted).await,
        &checks,
    );
    let audit_targets = audit_targets(&plan, &checks);
    // An engine's image is read from what the engine saves of it; the directory lives as long
    // as the run.
    let keep = tempfile::tempdir().ok();
    let (audit_source, audit_targets) = match (&keep, source.daemon_name()) {
        (Some(keep), Some(_)) if !audit_targets.is_empty() => {
            saved_for_checks(config, &source, audit_targets, keep, &tx).await
        }
        _ => (source.clone(), audit_targets),
    };
    let channel = (tx, rx);
    // What to list as not run when an interrupt comes before the image checks are in.
    let unrun = audit::not_run(&audit_targets, &checks);
    let (platforms, run_time, interrupted, audited) = execute(
        config,
        plan,
        &report.run_id,
        &engines.engines,
        &source,
        sink,
        channel,
        &cancel,
        (checks, audit_targets, audit_source),
    )
    .await;
    report.platforms = platforms;
    report.phases.run = Some(run_time);
    report.interrupted = interrupted;

    crate::check::across::same_output(
        &mut report,
        &config.same_output,
        router.primary().platform(),
    );
    report.compute_slowdowns();
    report.emulation_differences = crate::check::across::emulation_differences(&report.platforms);
    // After the slowdowns: reading layers says nothing about emulation speed.
    fold_in(&mut report, audited, unrun);
    drop(watcher);
    report.duration = started.elapsed();
    Ok(report)
}

/// A run that ends before its plan runs still hands the sink what it warned about (a named
/// engine that did not answer).
fn warned_early(rx: &mut mpsc::UnboundedReceiver<Event>, sink: &mut Box<dyn EventSink>) {
    while let Ok(event) = rx.try_recv() {
        sink.handle(&event);
    }
}

/// The signal watcher's task, stopped when the run returns, whichever way it returns.
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `sha256:<hex>` of the spec file as it is now (read again: the parsed spec keeps no bytes).
fn spec_digest(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(crate::digest::sha256_digest(&bytes))
}

/// What the index said about the image, for the report.
fn describe_image(summary: &mut ImageSummary, source: &ImageSource, resolved: &ResolvedImage) {
    summary.reference = source.display();
    // A set of per-platform images has no list, so no digest of its own.
    summary.digest = Some(resolved.digest.clone()).filter(|d| !d.is_empty());
    summary.media_type = Some(resolved.media_type.clone());
    summary.is_index = resolved.is_index;
    summary.available = resolved.runnable_platforms();
    summary.attestations = resolved.attestations();
}

/// The plan, made once every emulator it may use has been asked its version: the profiles
/// answer with the versions, so the plan needs no patching afterwards.
async fn plan_with_versions(
    config: &Config,
    resolved: &ResolvedImage,
    router: &mut Router,
    wanted: &[Platform],
) -> Plan {
    // What may run: the platforms asked for, the index's (compatible matching may take another
    // entry), the compared ones; on every engine, as each engine's profile says.
    let mut platforms = wanted.to_vec();
    platforms.extend(resolved.runnable_platforms());
    platforms.extend(config.compare_emulation.iter().cloned());
    let mut interpreters: Vec<std::path::PathBuf> = Vec::new();
    for profile in router.profiles() {
        for p in &platforms {
            if let ExecMode::Emulated { emulator } = profile.mode(p)
                && !interpreters.contains(&emulator.interpreter)
            {
                interpreters.push(emulator.interpreter);
            }
        }
    }
    // Each version is a QEMU process start (~0.1 s under load): run them side by side, not
    // one after another before the first container can start.
    let asked = interpreters.into_iter().map(|i| {
        tokio::task::spawn_blocking(move || {
            let version = crate::emulation::emulator_version(&i);
            (i, version)
        })
    });
    let versions: Vec<_> = join_all(asked).await.into_iter().flatten().collect();
    for profile in router.profiles_mut() {
        profile.know_versions(&versions);
    }
    plan::plan_routed(
        &config.spec,
        resolved,
        router,
        &config.overrides,
        &config.compare_emulation,
    )
}

/// The image checks of the run: the spec's, less the default ELF audit where it cannot work.
fn image_checks(config: &Config, source: &ImageSource) -> audit::Checks {
    let mut checks = audit::Checks::from_spec(&config.spec);
    if source.daemon_name().is_some() && checks.files.is_empty() && checks.metadata.is_none() {
        // An engine's image is read by having the engine save a full copy of it: worth it for
        // checks the spec asks for, not for the default audit that comes with every spec.
        checks.audit.elf = crate::spec::ElfLevel::Off;
    }
    checks
}

/// The index entries the image checks read: one per platform that has one, from the row that
/// reports them ([`Plan::image_check_rows`]).
fn audit_targets(plan: &Plan, checks: &audit::Checks) -> Vec<audit::Target> {
    if checks.is_empty() {
        return Vec::new();
    }
    plan.image_check_rows()
        .into_iter()
        .filter_map(|i| {
            let p = &plan.platforms[i];
            let (entry, _) = p.entry()?;
            Some(audit::Target {
                platform: p.platform.clone(),
                entry: entry.clone(),
            })
        })
        .collect()
}

/// The plan's rows told how many results the image checks add (none when there are none).
fn counted(plan: Plan, checks: &audit::Checks) -> Plan {
    if checks.is_empty() {
        return plan;
    }
    plan.with_image_checks(|p| checks.count_for(p))
}

/// The source the image checks read for an engine's image, and their targets in it: the image
/// as the engine saves it, laid out in `keep`. When it cannot be saved the checks read the
/// engine's image itself, which fails each of them with the reason.
async fn saved_for_checks(
    config: &Config,
    source: &Arc<ImageSource>,
    targets: Vec<audit::Target>,
    keep: &tempfile::TempDir,
    events: &mpsc::UnboundedSender<Event>,
) -> (Arc<ImageSource>, Vec<audit::Target>) {
    match open_readable(&config.image, config.host.as_deref(), keep).await {
        Ok((saved, resolved)) => {
            let targets = targets
                .into_iter()
                .map(|t| {
                    // The saved layout lists the one platform the engine's image has.
                    let entry = resolved
                        .entries
                        .iter()
                        .find(|e| e.platform.is_some())
                        .cloned()
                        .unwrap_or(t.entry);
                    audit::Target {
                        platform: t.platform,
                        entry,
                    }
                })
                .collect();
            (Arc::new(saved), targets)
        }
        Err(e) => {
            let why = match e {
                Unresolved::Usage(d) => d.message,
                Unresolved::Problem(p) => p.message,
            };
            let _ = events.send(Event::Warning {
                message: format!(
                    "the engine could not save {} for the image checks: {why}",
                    config.image
                ),
            });
            (source.clone(), targets)
        }
    }
}

/// The row that reports a platform's image checks: its platform, engine, and whether it runs
/// natively (a compared platform has a native and an emulated row, maybe on one engine).
type Owner = (crate::platform::Platform, Option<String>, bool);

fn native(mode: Option<&crate::mode::ExecMode>) -> bool {
    mode.as_ref().is_some_and(|m| m.is_native())
}

/// The image checks' results with the time they took; `None` when the run was interrupted
/// first or nothing was to be checked.
type Audited = Option<(Vec<audit::PlatformAudit>, Duration)>;

/// The image checks, started now beside whatever else the run does; `None` with nothing to
/// check. An interrupt ends them with `None`.
fn spawn_audit(
    source: Arc<ImageSource>,
    targets: Vec<audit::Target>,
    checks: audit::Checks,
    cancel: &CancellationToken,
) -> Option<tokio::task::JoinHandle<Audited>> {
    let cancel = cancel.clone();
    (!targets.is_empty()).then(|| {
        tokio::spawn(async move {
            tokio::select! {
                done = timed(audit::audit(source.as_ref(), &targets, &checks)) => Some(done),
                () = cancel.cancelled() => None,
            }
        })
    })
}

/// The image checks' results into the report's platforms, with their phase time; when they
/// never came in (an interrupt), `unrun` lists them as not run.
fn fold_in(report: &mut RunReport, audited: Audited, unrun: Vec<audit::PlatformAudit>) {
    match audited {
        Some((audits, audit_time)) => {
            audit::merge_into(&mut report.platforms, audits);
            report.phases.audit = Some(audit_time);
        }
        None => audit::merge_into(&mut report.platforms, unrun),
    }
}

/// Runs the plan with events flowing to `sink`, and the image checks beside it (they read the
/// image, not a container), then sweeps what the run left in the engine. Returns the platforms'
/// reports, the run phase's time, whether the run was cancelled, and the image checks.
#[allow(clippy::too_many_arguments)] // the run's parts, each used once
async fn execute(
    config: &Config,
    plan: Plan,
    run_id: &str,
    engines: &BTreeMap<String, (Engine, Option<usize>)>,
    source: &Arc<ImageSource>,
    sink: Box<dyn EventSink>,
    (tx, rx): (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>),
    cancel: &CancellationToken,
    (checks, targets, audit_source): (audit::Checks, Vec<audit::Target>, Arc<ImageSource>),
) -> (Vec<crate::outcome::PlatformReport>, Duration, bool, Audited) {
    let owners: Vec<Owner> = plan
        .platforms
        .iter()
        .filter(|p| p.image_checks > 0)
        .map(|p| {
            (
                p.platform.clone(),
                Some(p.engine.clone()),
                native(Some(&p.mode)),
            )
        })
        .collect();
    let audit = spawn_audit(audit_source, targets, checks, cancel);
    let printer = tokio::spawn(relay(rx, sink, audit, owners));
    let _ = tx.send(Event::RunStarted {
        run_id: run_id.to_owned(),
        image: source.display(),
        platforms: plan.platforms.iter().map(|p| p.platform.clone()).collect(),
        tests: plan.test_count(),
    });
    let make_ctx = |engine: Engine, jobs: usize| RunContext {
        run_id: run_id.to_owned(),
        engine,
        image: source.clone(),
        jobs,
        output_limit: config.output_limit,
        events: tx.clone(),
        cancel: cancel.clone(),
        isolation: config.isolation.clone(),
        owner: crate::owner::labels(),
        services: Default::default(),
    };
    let (platforms, run_time) = timed(engines::execute(plan, engines, config.jobs, make_ctx)).await;
    let loaded = match source.as_ref() {
        ImageSource::Layout(layout) => layout.take_loaded(),
        _ => Vec::new(),
    };
    // Every engine at once: one that went away must not hold up the others' cleanup.
    join_all(
        engines
            .values()
            .map(|(engine, _)| sweep(engine, run_id, &loaded, &tx)),
    )
    .await;
    // The sweep's warnings are the last events.
    drop(tx);
    // The printer ends when the last sender (held by the run context) is gone and the image
    // checks are in.
    let audited = printer.await.ok().flatten();
    (platforms, run_time, cancel.is_cancelled(), audited)
}

/// Passes the run's events to the sink, with the image checks folded in: a platform that owns
/// image checks finishes (for the sink) only once they are in, its image results reported as
/// its tests, so the live view, the per-platform lines and the final report count alike.
async fn relay(
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut sink: Box<dyn EventSink>,
    audit: Option<tokio::task::JoinHandle<Audited>>,
    owners: Vec<Owner>,
) -> Audited {
    use crate::outcome::PlatformReport;
    let owns = |r: &PlatformReport| {
        owners
            .iter()
            .any(|(p, e, n)| *p == r.platform && *e == r.engine && *n == native(r.mode.as_ref()))
    };
    let mut pending = audit;
    let mut audited: Audited = None;
    let mut held: Vec<PlatformReport> = Vec::new();
    let mut open = true;
    let finish = |sink: &mut Box<dyn EventSink>, mut report: PlatformReport, audited: &Audited| {
        if let Some((audits, _)) = audited
            && let Some(a) = audits.iter().find(|a| a.platform == report.platform)
        {
            for test in &a.tests {
                sink.handle(&Event::TestFinished {
                    platform: report.platform.clone(),
                    test: test.clone(),
                });
            }
            audit::merge_one(&mut report, a.clone());
        }
        sink.handle(&Event::PlatformFinished { report });
    };
    while open || pending.is_some() {
        tokio::select! {
            event = rx.recv(), if open => match event {
                None => open = false,
                Some(Event::PlatformFinished { report }) if owns(&report) && pending.is_some() => {
                    held.push(report);
                }
                Some(Event::PlatformFinished { report }) => finish(&mut sink, report, &audited),
                Some(event) => sink.handle(&event),
            },
            done = async { pending.as_mut().expect("guarded").await }, if pending.is_some() => {
                pending = None;
                audited = done.ok().flatten();
                for report in held.drain(..) {
                    finish(&mut sink, report, &audited);
                }
            }
        }
    }
    for report in held.drain(..) {
        finish(&mut sink, report, &audited);
    }
    sink.finish();
    audited
}

/// Removes containers abandoned by an interrupt, or whose removal failed, and the tags of images
/// loaded from an OCI layout. Bounded as a whole: when the engine has gone away the report must
/// still be written.
async fn sweep(
    engine: &Engine,
    run_id: &str,
    loaded: &[String],
    events: &mpsc::UnboundedSender<Event>,
) {
    let name = engine.name();
    let warn = |message: String| {
        let _ = events.send(Event::Warning { message });
    };
    let work = async {
        // Creates and loads an interrupt abandoned land first, so the list below has them.
        engine.stop_creating().await;
        match engine.remove_run(Some(run_id)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, engine = name, "removed leftover containers"),
            Err(e) => warn(format!(
                "could not sweep this run's containers on engine \"{name}\": {e}; \
                 `archsmoke gc --run {run_id}` removes them once the engine is back"
            )),
        }
        // Images loaded from an OCI layout are this run's own; the tag alone goes, so an image
        // the engine also holds under another name stays. A tag this engine never loaded is no
        // error.
        for tag in loaded {
            if let Err(e) = engine.remove_image(tag).await {
                warn(format!(
                    "could not remove the loaded image {tag} from engine \"{name}\": {e}"
                ));
            }
        }
        // Probe and relay images tagged with this run: one whose load an interrupt abandoned
        // is known to no one else.
        let own = format!("{}:{run_id}-", crate::probe::PROBE_REPOSITORY);
        if let Err(e) = engine
            .remove_images(&[crate::probe::PROBE_REPOSITORY], None, |tag, _| {
                !tag.starts_with(&own)
            })
            .await
        {
            warn(format!(
                "could not remove this run's probe images from engine \"{name}\": {e}"
            ));
        }
    };
    if tokio::time::timeout(SWEEP_TIMEOUT, work).await.is_err() {
        warn(format!(
            "engine \"{name}\" did not finish the final sweep within {SWEEP_TIMEOUT:?}; \
             `archsmoke gc --run {run_id}` removes this run's containers (and \
             `archsmoke gc` its loaded images) once it is back"
        ));
    }
}
