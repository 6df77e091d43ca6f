//! The runner: executes a [`Plan`] on the engine and produces one [`PlatformReport`] per platform.
//!
//! Platforms proceed concurrently, each through resolve (child manifest and config) → pull (once,
//! by digest) → tests; containers are bounded by one semaphore over all platforms (`jobs`). The
//! runner never formats output: it emits [`Event`]s and returns owned results. Cancellation stops
//! new work at once; in-flight containers are abandoned to the caller's sweep by run label.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::check::output;
use crate::engine::{ContainerRequest, Engine, RUN_LABEL};
use crate::event::Event;
use crate::image::RegistryImage;
use crate::outcome::{
    EntryChoice, Mismatch, PlatformReport, Problem, ProblemKind, PullReport, TestReport, TestStatus,
};
use crate::plan::{Plan, PlannedPlatform, PlannedTest};
use crate::platform::Platform;

/// Per-stream capture limit unless configured otherwise.
pub const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;

pub struct RunContext {
    pub run_id: String,
    pub engine: Engine,
    pub image: Arc<RegistryImage>,
    pub jobs: usize,
    pub output_limit: usize,
    pub events: mpsc::UnboundedSender<Event>,
    pub cancel: CancellationToken,
}

impl RunContext {
    fn emit(&self, event: Event) {
        // A reporter that went away must not stop the run; its absence is not an error here.
        let _ = self.events.send(event);
    }
}

/// Run every platform of the plan; reports come back in the order the user asked for.
pub async fn execute(plan: Plan, ctx: RunContext) -> Vec<PlatformReport> {
    let ctx = Arc::new(ctx);
    let slots = Arc::new(Semaphore::new(ctx.jobs.max(1)));
    let network = Arc::new(plan.network);
    let mut set = JoinSet::new();
    for planned in plan.platforms {
        let (ctx, slots, network) = (ctx.clone(), slots.clone(), network.clone());
        let order = planned.order;
        set.spawn(async move { (order, run_platform(planned, &ctx, &slots, &network).await) });
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
    reports.into_iter().map(|(_, r)| r).collect()
}

async fn run_platform(
    planned: PlannedPlatform,
    ctx: &Arc<RunContext>,
    slots: &Arc<Semaphore>,
    network: &Arc<String>,
) -> PlatformReport {
    let start = Instant::now();
    ctx.emit(Event::PlatformStarted {
        platform: planned.platform.clone(),
        mode: planned.mode.clone(),
    });
    let mut report = PlatformReport {
        platform: planned.platform.clone(),
        entry: planned.entry.as_ref().map(|(e, reason)| EntryChoice {
            digest: e.digest.clone(),
            platform: e
                .platform
                .clone()
                .unwrap_or_else(|| planned.platform.clone()),
            reason: reason.clone(),
        }),
        mode: Some(planned.mode.clone()),
        pull: None,
        problem: planned.problem.clone(),
        tests: Vec::new(),
        duration: Duration::ZERO,
        slowdown: None,
    };
    if report.problem.is_none() {
        match prepare(&planned, ctx).await {
            Ok((image_id, pull)) => {
                report.pull = Some(pull);
                report.tests = run_tests(&planned, &image_id, ctx, slots, network).await;
            }
            Err(problem) => report.problem = Some(problem),
        }
    }
    report.duration = start.elapsed();
    ctx.emit(Event::PlatformFinished {
        report: report.clone(),
    });
    report
}

/// Resolve the platform's child image, check its config, and make it present in the engine.
async fn prepare(
    planned: &PlannedPlatform,
    ctx: &RunContext,
) -> Result<(String, PullReport), Problem> {
    let Some((entry, _)) = &planned.entry else {
        unreachable!("the plan gives every platform without a problem an entry");
    };
    let entry_platform = entry
        .platform
        .clone()
        .unwrap_or_else(|| planned.platform.clone());
    if ctx.cancel.is_cancelled() {
        return Err(interrupted());
    }
    let image = ctx.image.platform_image(entry).await.map_err(|e| Problem {
        kind: ProblemKind::Registry,
        message: e.to_string(),
        hint: Some(e.hint()),
    })?;
    if let Some(message) = image.config_mismatch(&entry_platform) {
        return Err(Problem {
            kind: ProblemKind::ConfigMismatch,
            message,
            hint: Some(
                "the image was built for another platform than its index claims; \
                 rebuild it with the right --platform"
                    .into(),
            ),
        });
    }
    let pulled = tokio::select! {
        r = ctx.engine.ensure_image(&image.pull_reference, &entry_platform, ctx.image.credentials()) => r,
        () = ctx.cancel.cancelled() => return Err(interrupted()),
    }
    .map_err(|e| Problem {
        kind: ProblemKind::Engine,
        message: e.to_string(),
        hint: Some(e.hint()),
    })?;
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
    ))
}

fn interrupted() -> Problem {
    Problem {
        kind: ProblemKind::Interrupted,
        message: "interrupted before this platform ran".into(),
        hint: None,
    }
}

async fn run_tests(
    planned: &PlannedPlatform,
    image_id: &str,
    ctx: &Arc<RunContext>,
    slots: &Arc<Semaphore>,
    network: &Arc<String>,
) -> Vec<TestReport> {
    let runs_as = planned
        .entry
        .as_ref()
        .and_then(|(e, _)| e.platform.clone())
        .unwrap_or_else(|| planned.platform.clone());
    let mut set = JoinSet::new();
    for (i, test) in planned.tests.iter().cloned().enumerate() {
        let request = ContainerRequest {
            image: image_id.to_owned(),
            platform: runs_as.clone(),
            command: test.command.clone(),
            entrypoint: test.entrypoint.clone(),
            env: test.env.iter().chain(&test.secret_env).cloned().collect(),
            labels: HashMap::from([
                (RUN_LABEL.to_owned(), ctx.run_id.clone()),
                (
                    "archsmoke.platform".to_owned(),
                    planned.platform.to_string(),
                ),
                ("archsmoke.test".to_owned(), test.name.clone()),
            ]),
            network: network.to_string(),
            privileged: test.privileged,
            timeout: test.timeout,
            output_limit: ctx.output_limit,
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

async fn run_test(
    test: &PlannedTest,
    request: &ContainerRequest,
    platform: &Platform,
    ctx: &RunContext,
    slots: &Semaphore,
) -> TestReport {
    let mut report = TestReport {
        name: test.name.clone(),
        command: test.command.clone(),
        status: TestStatus::NotRun,
        exit_code: None,
        expected_exit_code: test.expect.exit_code,
        stdout: String::new(),
        stderr: String::new(),
        stdout_dropped: 0,
        stderr_dropped: 0,
        mismatches: Vec::new(),
        duration: Duration::ZERO,
        timeout: test.timeout,
        slowdown: None,
        error: None,
    };
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
        r = ctx.engine.run_container(request) => r,
        () = ctx.cancel.cancelled() => return report,
    };
    match result {
        Ok(r) => {
            report.stdout = r.stdout.text();
            report.stderr = r.stderr.text();
            report.stdout_dropped = r.stdout.dropped;
            report.stderr_dropped = r.stderr.dropped;
            report.duration = r.duration;
            report.exit_code = r.exit_code;
            if r.timed_out {
                report.status = TestStatus::TimedOut;
                report.mismatches.push(Mismatch {
                    check: "timeout".into(),
                    expected: format!("exit within {}", humantime::format_duration(test.timeout)),
                    actual: "still running; killed".into(),
                });
            } else {
                let code = r.exit_code.unwrap_or(-1);
                report.mismatches =
                    output::check(&test.expect, code, &report.stdout, &report.stderr);
                report.status = if report.mismatches.is_empty() {
                    TestStatus::Passed
                } else {
                    TestStatus::Failed
                };
            }
        }
        Err(e) => {
            report.status = TestStatus::Error;
            report.error = Some(format!("{e} ({})", e.hint()));
        }
    }
    report
}
