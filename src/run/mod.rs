//! The runner: executes a [`Plan`] on the engine and produces one [`PlatformReport`] per platform.
//!
//! Platforms proceed concurrently, each through resolve (child manifest and config) → pull (once,
//! by digest; or, for an OCI layout, load as `archsmoke-load:<run id>-<arch>`, a tag the caller
//! removes after the run; or nothing, for an engine image) → tests; containers are bounded by one
//! semaphore over all platforms (`jobs`). Under exec isolation ([`Isolation::Exec`], module
//! `exec`) a platform's tests are execs in one container instead. The runner never formats
//! output: it emits [`Event`]s and returns owned results. Cancellation stops new work at once;
//! in-flight containers are abandoned to the caller's sweep by run label.

mod exec;
mod expand;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use crate::backend::{ArchiveChunks, Backend};
use crate::check::output;
use crate::slots::Slots;

use crate::engine::{
    COMMIT_REPOSITORY, ContainerRequest, ContainerResult, Engine, EngineError, LocalImage,
    RUN_LABEL,
};
use crate::event::Event;
use crate::image::{ImageSource, IndexEntry, PlatformImage};
use crate::outcome::{
    Mismatch, PlatformReport, Problem, ProblemKind, PullReport, TestReport, TestStatus,
};
use crate::plan::{Plan, PlannedPlatform, PlannedTest, Readiness};
use crate::platform::Platform;

/// Per-stream capture limit unless configured otherwise.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;
/// Repository of the images a run loads from an OCI layout; the tag is `<run id>-<arch>[-<variant>]`.
pub const LOAD_REPOSITORY: &str = "archsmoke-load";

/// Everything a run needs besides its plan. `B` is the engine ([`Engine`] but in unit tests).
pub struct RunContext<B: Backend = Engine> {
    pub run_id: String,
    pub engine: B,
    pub image: Arc<ImageSource>,
    pub jobs: usize,
    pub output_limit: usize,
    pub events: mpsc::UnboundedSender<Event>,
    pub cancel: CancellationToken,
    pub isolation: Isolation,
    /// This process's owner labels ([`crate::owner::labels`]), put on every container.
    pub owner: Vec<(String, String)>,
    /// What the platforms' services share (the probe relay image).
    pub services: Arc<crate::service::Shared>,
}

/// How the runner isolates tests (see [`crate::spec::Isolation`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Isolation {
    /// A fresh container per test, concurrently up to `jobs`.
    #[default]
    Container,
    /// One container per platform running `keepalive`; its tests are execs, in spec order.
    Exec { keepalive: Vec<String> },
}

impl<B: Backend> RunContext<B> {
    fn emit(&self, event: Event) {
        // A reporter that went away must not stop the run; its absence is not an error here.
        let _ = self.events.send(event);
    }
}

/// Run every platform of the plan; reports come back in the order the user asked for.
pub async fn execute<B: Backend>(plan: Plan, ctx: RunContext<B>) -> Vec<PlatformReport> {
    let ctx = Arc::new(ctx);
    let slots = Arc::new(Semaphore::new(ctx.jobs.max(1)));
    let network = Arc::new(plan.network);
    let mut set = JoinSet::new();
    for planned in plan.platforms {
        let (ctx, slots, network) = (ctx.clone(), slots.clone(), network.clone());
        let order = planned.order;
        set.spawn(async move {
            let slots = Slots::for_platform(&slots);
            (order, run_platform(planned, &ctx, &slots, &network).await)
        });
    }
    let mut reports: Vec<(usize, PlatformReport)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => reports.push(r),
            // A panic in a platform task is a bug; keep the others' results.
            Err(e) => tracing::error!(error = %e, "a platform task failed"),
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    ctx.services.cleanup(&ctx.engine).await;
    reports.into_iter().map(|(_, r)| r).collect()
}

async fn run_platform<B: Backend>(
    planned: PlannedPlatform,
    ctx: &Arc<RunContext<B>>,
    slots: &Slots,
    network: &Arc<String>,
) -> PlatformReport {
    let start = Instant::now();
    ctx.emit(Event::PlatformStarted {
        platform: planned.platform.clone(),
        mode: Some(planned.mode.clone()),
        engine: Some(planned.engine.clone()),
        tests: planned.result_count(),
    });
    let mut report = PlatformReport {
        platform: planned.platform.clone(),
        engine: Some(planned.engine.clone()),
        entry: planned.entry_choice(),
        mode: Some(planned.mode.clone()),
        pull: None,
        problem: planned.problem().cloned(),
        tests: Vec::new(),
        duration: Duration::ZERO,
        slowdown: None,
        service: None,
        containers_done: None,
    };
    // Blocked: known from the plan; the results are listed below. A platform with only image
    // checks (files, metadata, audit) needs no pull and no container.
    if let Readiness::Runnable { entry, .. } = &planned.readiness
        && planned.container_count() > 0
    {
        match prepare(&planned, entry, ctx).await {
            Ok((image_id, pull, image_env)) => {
                report.pull = Some(pull);
                match (&planned.service, &ctx.isolation) {
                    (Some(service), _) => {
                        let settings = crate::service::RunSettings {
                            run_id: ctx.run_id.clone(),
                            owner: ctx.owner.clone(),
                            output_limit: ctx.output_limit,
                            cancel: ctx.cancel.clone(),
                            events: ctx.events.clone(),
                            shared: ctx.services.clone(),
                        };
                        let (tests, service) = crate::service::run(
                            &planned,
                            service,
                            &image_id,
                            &ctx.engine,
                            &settings,
                            slots,
                            network,
                        )
                        .await;
                        report.tests = tests;
                        if !service.native_processes.is_empty() && report.problem.is_none() {
                            report.problem = Some(crate::service::native_process_problem(
                                &planned,
                                &service.native_processes,
                            ));
                        }
                        report.service = Some(Box::new(service));
                    }
                    (None, Isolation::Container) => {
                        let image = RunImage {
                            id: image_id,
                            env: Arc::new(crate::spec::expand::env_map(&image_env)),
                        };
                        report.tests = run_tests(&planned, &image, ctx, slots, network).await;
                    }
                    (None, Isolation::Exec { keepalive }) => {
                        let image_id = image_id.as_str();
                        match exec::run_tests(&planned, image_id, keepalive, ctx, slots, network)
                            .await
                        {
                            Ok(tests) => report.tests = tests,
                            Err(problem) => report.problem = Some(problem),
                        }
                    }
                }
            }
            Err(problem) => report.problem = Some(problem),
        }
    }
    // Every planned result is still listed when the platform could not run (from the plan, or
    // when its image turned out wrong), so that it counts its tests as skipped or not run
    // instead of dropping them from the totals.
    if let Some(problem) = &report.problem
        && report.tests.is_empty()
    {
        let (status, error) = if report.skipped() {
            (TestStatus::Skipped, problem.message.clone())
        } else {
            (TestStatus::NotRun, format!("not run: {}", problem.message))
        };
        report.tests = unrun_reports(&planned, status, &error);
    }
    // Waiting for a job slot while none of its containers ran is other platforms' time.
    report.duration = start.elapsed().saturating_sub(slots.queued());
    ctx.emit(Event::PlatformFinished {
        report: report.clone(),
    });
    report
}

/// Resolve the platform's child image, check its config, and make it present in the engine.
async fn prepare<B: Backend>(
    planned: &PlannedPlatform,
    entry: &IndexEntry,
    ctx: &RunContext<B>,
) -> Result<(String, PullReport, Vec<String>), Problem> {
    let entry_platform = entry
        .platform
        .clone()
        .unwrap_or_else(|| planned.platform.clone());
    if ctx.cancel.is_cancelled() {
        return Err(interrupted());
    }
    let image = ctx
        .image
        .platform_image(entry)
        .await
        .map_err(|e| Problem::registry(&e))?;
    if let Some(message) = image.config_mismatch(&entry_platform) {
        return Err(Problem::config_mismatch(message));
    }
    ctx.emit(Event::PullStarted {
        platform: planned.platform.clone(),
    });
    let pulled = tokio::select! {
        r = make_present(&image, &entry_platform, planned, ctx) => r,
        () = ctx.cancel.cancelled() => return Err(interrupted()),
    }?;
    ctx.emit(Event::PullFinished {
        platform: planned.platform.clone(),
        pulled: pulled.pulled,
        duration: pulled.duration,
    });
    if pulled.platform != entry_platform {
        return Err(Problem {
            kind: ProblemKind::ConfigMismatch,
            message: format!(
                "the index lists this image as {entry_platform}, but the engine reports {}",
                pulled.platform
            ),
            hint: None,
        });
    }
    Ok((
        pulled.id.clone(),
        PullReport {
            image_id: pulled.id,
            pulled: pulled.pulled,
            duration: pulled.duration,
        },
        pulled.env,
    ))
}

/// Pull the platform's image from its registry, or load it from a layout, or find it in the
/// engine; the returned image is what the tests run (by ID).
async fn make_present<B: Backend>(
    image: &PlatformImage,
    platform: &Platform,
    planned: &PlannedPlatform,
    ctx: &RunContext<B>,
) -> Result<LocalImage, Problem> {
    let engine_problem = |e: crate::engine::EngineError| Problem::engine(&e);
    let ImageSource::Layout(layout) = &*ctx.image else {
        return ctx
            .engine
            .ensure_image(
                &image.pull_reference,
                platform,
                ctx.image.credentials_for(&image.manifest_digest),
            )
            .await
            .map_err(engine_problem);
    };
    // A tag per run and platform: the classic store keeps one image per tag, and the tag is
    // how the end of the run finds what to remove.
    let mut tag = format!(
        "{LOAD_REPOSITORY}:{}-{}",
        ctx.run_id,
        planned.platform.architecture()
    );
    if let Some(v) = planned.platform.variant() {
        tag.push('-');
        tag.push_str(v);
    }
    let start = Instant::now();
    let image_problem = |e: crate::image::ImageError| Problem::registry(&e);
    let archive = layout
        .layout
        .docker_archive(&image.manifest_digest, &tag)
        .await
        .map_err(image_problem)?;
    layout.record_loaded(&tag);
    // As long as the platform's slowest test may wait on the engine (at least 10 s, at most a
    // minute) between two signs of progress.
    let longest = planned
        .tests
        .iter()
        .map(|t| t.timeout)
        .max()
        .unwrap_or(crate::engine::CALL_TIMEOUT);
    let loaded = ctx
        .engine
        .load_image_stream(archive.chunks, crate::engine::call_timeout(longest))
        .await;
    // A layout at fault (a layer that does not match its digest) explains the engine's failure
    // to load the aborted archive, so it is the problem reported.
    match (archive.writer.finish().await, loaded) {
        (Err(Some(e)), _) => return Err(image_problem(e)),
        (_, Err(e)) => return Err(engine_problem(e)),
        (Err(None), Ok(_)) => {
            return Err(Problem {
                kind: ProblemKind::Engine,
                message: "the engine stopped reading the image archive before its end".into(),
                hint: Some("check the engine's log (`journalctl -u docker`)".into()),
            });
        }
        (Ok(()), Ok(_)) => {}
    }
    let loaded = ctx
        .engine
        .local_image(&tag)
        .await
        .map_err(engine_problem)?
        .ok_or_else(|| Problem {
            kind: ProblemKind::Engine,
            message: format!("the engine loaded the archive but has no image {tag}"),
            hint: Some("check the engine's log (`journalctl -u docker`)".into()),
        })?;
    Ok(LocalImage {
        pulled: true,
        duration: start.elapsed(),
        ..loaded
    })
}

fn interrupted() -> Problem {
    Problem {
        kind: ProblemKind::Interrupted,
        message: "interrupted before this platform ran".into(),
        hint: None,
    }
}

/// The image a platform's tests run on, and its config's environment (for `$VAR` expansion).
struct RunImage {
    id: String,
    env: Arc<std::collections::BTreeMap<String, String>>,
}

async fn run_tests<B: Backend>(
    planned: &PlannedPlatform,
    image: &RunImage,
    ctx: &Arc<RunContext<B>>,
    slots: &Slots,
    network: &Arc<String>,
) -> Vec<TestReport> {
    let runs_as = planned.runs_as();
    let mut set = JoinSet::new();
    for (i, test) in planned.tests.iter().cloned().enumerate() {
        let (command, entrypoint, env) = expand::resolve(&test, &image.env);
        let request = ContainerRequest {
            image: image.id.clone(),
            platform: runs_as.clone(),
            command,
            entrypoint,
            env,
            user: test.user.clone(),
            labels: labels(ctx, &planned.platform, Some(&test.name)),
            network: network.to_string(),
            privileged: test.privileged,
            host: test.host.clone(),
            timeout: test.timeout,
            output_limit: ctx.output_limit,
            limits: test.limits,
        };
        let (ctx, slots, platform) = (ctx.clone(), slots.clone(), planned.platform.clone());
        set.spawn(async move {
            let report = run_test(&test, &request, &platform, &ctx, &slots).await;
            ctx.emit(Event::TestFinished {
                platform,
                test: report.clone(),
            });
            (i, report)
        });
    }
    let mut reports = Vec::with_capacity(planned.tests.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => reports.push(r),
            Err(e) => tracing::error!(error = %e, "a test task failed"),
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// A test of a platform that is not tested on purpose: reported, so that no dashboard loses it.
/// The platform's planned results (its service's checks too), none run, each with `status`.
fn unrun_reports(planned: &PlannedPlatform, status: TestStatus, error: &str) -> Vec<TestReport> {
    let mut tests = match &planned.service {
        Some(service) => crate::service::unrun_reports(planned, service),
        None => planned.tests.iter().map(blank_report).collect(),
    };
    for t in &mut tests {
        t.status = status;
        t.error = Some(error.to_owned());
    }
    tests
}

fn labels<B: Backend>(
    ctx: &RunContext<B>,
    platform: &Platform,
    test: Option<&str>,
) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (RUN_LABEL.to_owned(), ctx.run_id.clone()),
        ("archsmoke.platform".to_owned(), platform.to_string()),
    ]);
    // Who runs it: `archsmoke gc` leaves the containers of a live run alone.
    labels.extend(ctx.owner.iter().cloned());
    if let Some(test) = test {
        labels.insert("archsmoke.test".to_owned(), test.to_owned());
    }
    labels
}

async fn run_test<B: Backend>(
    test: &PlannedTest,
    request: &ContainerRequest,
    platform: &Platform,
    ctx: &RunContext<B>,
    slots: &Slots,
) -> TestReport {
    let mut report = blank_report(test);
    let _permit = tokio::select! {
        permit = slots.acquire() => match permit {
            Ok(p) => p,
            Err(_) => return report,
        },
        () = ctx.cancel.cancelled() => return report,
    };
    ctx.emit(Event::TestStarted {
        platform: platform.clone(),
        test: test.name.clone(),
    });
    let result = tokio::select! {
        r = run_with_setup(test, request, platform, ctx) => r,
        () = ctx.cancel.cancelled() => return report,
    };
    record(&mut report, test, result);
    report
}

/// Run the test's `setup` commands, each in a fresh container committed as the image of the
/// next, then the test itself on the last one; the committed images are removed afterwards
/// (`gc` finds them by repository and label if the run is killed first).
async fn run_with_setup<B: Backend>(
    test: &PlannedTest,
    request: &ContainerRequest,
    platform: &Platform,
    ctx: &RunContext<B>,
) -> Result<ContainerResult, EngineError> {
    if test.setup.is_empty() {
        return ctx.engine.run_container(request).await;
    }
    let mut committed: Vec<String> = Vec::new();
    let mut image = request.image.clone();
    let mut outcome = Ok(());
    for (n, command) in test.setup.iter().enumerate() {
        let setup = ContainerRequest {
            image: image.clone(),
            command: Some(command.clone()),
            entrypoint: Some(Vec::new()),
            ..request.clone()
        };
        let tag = format!(
            "{}-{}-{}",
            ctx.run_id,
            platform.to_string().replace('/', "-"),
            expand::tag_safe(&test.name, n)
        );
        match ctx.engine.run_and_commit(&setup, &tag).await {
            Ok(id) => {
                committed.push(format!("{COMMIT_REPOSITORY}:{tag}"));
                image = id;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let result = match outcome {
        Ok(()) => {
            let on_result = ContainerRequest {
                image,
                ..request.clone()
            };
            ctx.engine.run_container(&on_result).await
        }
        Err(e) => Err(e),
    };
    for tag in committed.iter().rev() {
        if let Err(e) = ctx.engine.remove_image(tag).await {
            tracing::warn!(image = %tag, error = %e, "could not remove a committed setup image");
        }
    }
    result
}

/// A test that has not run (yet): what cancellation leaves behind.
fn blank_report(test: &PlannedTest) -> TestReport {
    TestReport {
        command: test.command.clone(),
        expected_exit: test.expect.exit_code,
        timeout: test.timeout,
        ..TestReport::new(test.name.clone(), TestStatus::NotRun)
    }
}

/// Fill a report from what the engine returned, checking it against the test's expectations.
fn record(
    report: &mut TestReport,
    test: &PlannedTest,
    result: Result<ContainerResult, EngineError>,
) {
    match result {
        Ok(r) => {
            r.fill(report);
            if r.timed_out {
                report.status = TestStatus::TimedOut;
                report
                    .mismatches
                    .push(Mismatch::timeout(test.timeout, "still running; killed"));
            } else {
                output::judge(
                    report,
                    &test.expect,
                    r.exit_code.unwrap_or(-1),
                    [
                        r.stdout.for_matching(!test.expect.stdout.is_empty()),
                        r.stderr.for_matching(!test.expect.stderr.is_empty()),
                    ],
                );
            }
        }
        // A command the image lacks is the image's defect: a failed test, not an engine error.
        Err(EngineError::MissingProgram { program, .. }) => {
            report.status = TestStatus::Failed;
            report.mismatches.push(Mismatch {
                check: "command".into(),
                expected: format!("{program} in the image"),
                actual: "missing: the image has no such program (a defect of the image, not of \
                         the engine); install it or correct the command's path"
                    .into(),
                note: None,
            });
        }
        Err(e) => {
            report.status = TestStatus::Error;
            report.error = Some(format!("{e} ({})", e.hint()));
        }
    }
}
