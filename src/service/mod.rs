//! Service runs: start the image as it ships on one platform, wait until it is ready, check it
//! while it runs, stop it, and remove it whatever happened.
//!
//! The lifecycle of one platform ([`run`]): one service container (the image's ENTRYPOINT and
//! CMD unless `[service]` overrides them, the run's label, the spec's network, no log driver:
//! its output is read through an attach made before start); readiness ([`ready`]), every
//! condition the spec names, concurrently, against one deadline multiplied under emulation,
//! while the container is watched for an early exit; then the checks ([`checks`]): probes
//! through a relay container joined to the service's network namespace, the engine's process
//! list, `[[test]]` commands as execs in the service, and at the end `[logs]` over every line
//! of the run. Results are ordinary [`TestReport`]s (`service ready`, `probe NAME`,
//! `process NAME`, `logs`, and the tests), so every reporter shows them; the time to ready and
//! the output's tail go to the platform's [`ServiceReport`].
//!
//! Engine calls go through the runner's seam, [`crate::backend::Backend`] (so a fake backend can
//! run a service in a unit test); checks are pure functions in [`crate::check::service`]; HTTP
//! is spoken by hyper ([`http`]). The runner calls this module and hands it what it needs
//! ([`RunSettings`]); this module never names the runner.

mod checks;
pub mod http;
mod ready;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::backend::Backend;
use crate::check::service::LogMatcher;
use crate::engine::ContainerRequest;
use crate::event::Event;
use crate::outcome::{Mismatch, Problem, ProblemKind, ServiceReport, TestReport, TestStatus};
use crate::plan::{PlannedPlatform, PlannedService};
use crate::platform::Platform;
use crate::spec::LogsSpec;

/// Name of the readiness result in reports.
pub const READY_TEST: &str = "service ready";
/// Name of the `[logs]` result in reports.
pub const LOGS_TEST: &str = "logs";
/// How long the output stream may take to end once the container has stopped.
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// Lines of the service's output a readiness failure shows.
const TAIL_LINES: usize = 20;

/// Every result the service and the platform's tests would report, none of them run yet:
/// what a platform that never started lists, so that its counts match the plan's.
pub fn unrun_reports(planned: &PlannedPlatform, service: &PlannedService) -> Vec<TestReport> {
    checks::blank(planned, service)
}

/// What the platforms of one run share: the relay image, loaded once into the engine.
#[derive(Default)]
pub struct Shared {
    relay: OnceCell<Result<(String, Platform), String>>,
}

impl Shared {
    /// The relay image's reference and platform (the engine's own), loading it on first use.
    async fn relay_image<B: Backend>(
        &self,
        engine: &B,
        run_id: &str,
        owner: &[(String, String)],
    ) -> Result<(String, Platform), String> {
        self.relay
            .get_or_init(|| async {
                let platform = engine.own_platform().await.map_err(|e| e.to_string())?;
                let image = crate::probe::relay::relay_image(&platform, run_id, owner)
                    .map_err(|e| format!("cannot build the probe relay image: {e}"))?
                    .ok_or_else(|| {
                        format!(
                            "archsmoke has no probe relay for a {platform} engine (it has one \
                             for {}); TCP and HTTP probes need one",
                            crate::probe::relay::supported().join(", ")
                        )
                    })?;
                engine
                    .load_image(image.archive)
                    .await
                    .map_err(|e| format!("cannot load the probe relay image: {e}"))?;
                Ok((image.reference, platform))
            })
            .await
            .clone()
    }

    /// Remove the relay image if this run loaded it.
    pub async fn cleanup<B: Backend>(&self, engine: &B) {
        if let Some(Ok((reference, _))) = self.relay.get()
            && let Err(e) = engine.remove_image(reference).await
        {
            tracing::warn!(image = %reference, error = %e, "could not remove the probe relay image");
        }
    }
}

/// What a service run needs of its run besides the engine, handed over by the runner (this
/// module never names the runner: the runner calls it).
#[derive(Clone)]
pub struct RunSettings {
    pub run_id: String,
    /// This process's owner labels: `gc` spares a live run's service and relays by them.
    pub owner: Vec<(String, String)>,
    pub output_limit: usize,
    pub cancel: tokio_util::sync::CancellationToken,
    pub events: tokio::sync::mpsc::UnboundedSender<Event>,
    /// What the run's platforms share (the relay image).
    pub shared: Arc<Shared>,
}

/// What a service run needs of its run: the engine (through the runner's seam) and the run's
/// settings.
struct Ctx<'a, B> {
    engine: &'a B,
    run_id: String,
    /// This process's owner labels: `gc` spares a live run's service and relays by them.
    owner: Vec<(String, String)>,
    output_limit: usize,
    cancel: tokio_util::sync::CancellationToken,
    events: tokio::sync::mpsc::UnboundedSender<Event>,
    services: Arc<Shared>,
}

impl<B: Backend> Ctx<'_, B> {
    fn emit(&self, event: Event) {
        // A reporter that went away must not stop the run.
        let _ = self.events.send(event);
    }

    /// The labels of every container of the service: the run's (for the sweep and `gc`), its
    /// owner's (for `gc` to tell a live run), the platform's, and what it is.
    fn labels(&self, platform: &Platform, what: &str) -> std::collections::HashMap<String, String> {
        let mut labels = std::collections::HashMap::from([
            (crate::engine::RUN_LABEL.to_owned(), self.run_id.clone()),
            ("archsmoke.platform".to_owned(), platform.to_string()),
            ("archsmoke.test".to_owned(), what.to_owned()),
        ]);
        labels.extend(self.owner.iter().cloned());
        labels
    }
}

/// The log lines' consumers: `[logs]`, log readiness, and the line count.
struct Logs {
    checks: Option<LogMatcher>,
    ready: Option<LogMatcher>,
    lines: u64,
    ready_tx: tokio::sync::watch::Sender<bool>,
}

/// Run the platform's service and its checks; `tests` are the spec's `[[test]]`s, run as execs
/// inside the service once it is ready.
pub async fn run<B: Backend>(
    planned: &PlannedPlatform,
    service: &PlannedService,
    image_id: &str,
    engine: &B,
    run: &RunSettings,
    slots: &crate::slots::Slots,
    network: &str,
) -> (Vec<TestReport>, ServiceReport) {
    let mut report = ServiceReport {
        ready_timeout_secs: round(service.ready.timeout.as_secs_f64()),
        ..ServiceReport::default()
    };
    let mut tests = checks::blank(planned, service);
    let ctx = &Ctx {
        engine,
        run_id: run.run_id.clone(),
        owner: run.owner.clone(),
        output_limit: run.output_limit,
        cancel: run.cancel.clone(),
        events: run.events.clone(),
        services: run.shared.clone(),
    };
    let permit = tokio::select! {
        p = slots.acquire() => p.ok(),
        () = ctx.cancel.cancelled() => None,
    };
    let Some(_permit) = permit else {
        not_run(&mut tests);
        return (tests, report);
    };
    ctx.emit(Event::TestStarted {
        platform: planned.platform.clone(),
        test: READY_TEST.into(),
    });
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(service.ready.log.is_empty());
    let logs = Arc::new(Mutex::new(Logs {
        checks: service.logs.as_ref().map(LogMatcher::new),
        ready: (!service.ready.log.is_empty()).then(|| {
            LogMatcher::new(&LogsSpec {
                matches: service.ready.log.clone(),
                ..LogsSpec::default()
            })
        }),
        lines: 0,
        ready_tx,
    }));
    let sink_logs = logs.clone();
    let sink = Box::new(move |line: &str| {
        let Ok(mut l) = sink_logs.lock() else { return };
        l.lines += 1;
        if let Some(m) = &mut l.checks {
            m.push(line);
        }
        let became_ready = match &mut l.ready {
            Some(m) if !m.all_seen() => {
                m.push(line);
                m.all_seen()
            }
            _ => false,
        };
        if became_ready {
            l.ready_tx.send_replace(true);
        }
    });
    let request = ContainerRequest {
        image: image_id.to_owned(),
        platform: planned.runs_as(),
        command: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: service.env.clone(),
        user: service.user.clone(),
        labels: ctx.labels(&planned.platform, "service"),
        network: network.to_owned(),
        privileged: false,
        host: Default::default(),
        // A service has no deadline of its own: it runs until it is stopped.
        timeout: Duration::ZERO,
        output_limit: ctx.output_limit,
        limits: service.limits,
    };
    let started = tokio::select! {
        s = ctx.engine.start_service(&request, sink) => s,
        () = ctx.cancel.cancelled() => {
            not_run(&mut tests);
            return (tests, report);
        }
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => {
            tests[0].status = TestStatus::Error;
            tests[0].error = Some(format!("{e} ({})", e.hint()));
            ctx.emit(checks::finished(planned, &tests[0]));
            return (tests, report);
        }
    };
    let id = running.id.clone();
    let start = Instant::now();
    let relay = Relay {
        ctx,
        service: id.clone(),
        platform: planned.platform.clone(),
        live: Mutex::new(Vec::new()),
    };

    let outcome = tokio::select! {
        r = ready::wait(&relay, &service.ready, ready_rx) => Some(r),
        () = ctx.cancel.cancelled() => None,
    };
    let mut exited_early = false;
    let waited = outcome.is_some();
    match outcome {
        None => {}
        Some(Ok(())) => {
            let took = start.elapsed();
            report.ready = true;
            report.ready_secs = Some(round(took.as_secs_f64()));
            tests[0].status = TestStatus::Passed;
            tests[0].duration = took;
        }
        Some(Err(not_ready)) => {
            tests[0].status = TestStatus::Failed;
            tests[0].duration = start.elapsed();
            tests[0].mismatches.push(Mismatch {
                check: "ready".into(),
                expected: format!(
                    "ready within {}",
                    humantime::format_duration(service.ready.timeout)
                ),
                actual: not_ready.message.clone(),
                note: None,
            });
            tests[0].exit_code = not_ready.exit_code;
            report.exit_code = not_ready.exit_code;
            report.not_ready = Some(not_ready.message);
            exited_early = not_ready.exit_code.is_some();
        }
    }
    if waited {
        tests[0].error = None;
        ctx.emit(checks::finished(planned, &tests[0]));
    }
    if report.ready && !ctx.cancel.is_cancelled() {
        if service.interpreter.is_some() {
            report.native_processes = native_processes(ctx, service, &id).await;
        }
        checks::run(&relay, planned, service, &id, &mut tests).await;
    }

    relay.cleanup().await;
    // Stop, then read what it printed; the container goes whatever happened above.
    if !exited_early && !ctx.cancel.is_cancelled() {
        match ctx.engine.stop_service(&id, service.stop_timeout).await {
            Ok(stopped) => report.killed = stopped.killed,
            Err(e) => tracing::warn!(container = %id, error = %e, "could not stop the service"),
        }
    }
    if let Ok(state) = ctx.engine.service_state(&id).await {
        report.restarts = state.restarts;
    }
    if let Err(e) = ctx.engine.remove_service(&id).await {
        tracing::warn!(container = %id, error = %e, "could not remove the service container");
    }
    let output = running.output(DRAIN_WAIT).await;
    report.logs = output.text();
    report.logs_dropped = output.omitted;
    let logs = logs
        .lock()
        .map(|l| (l.lines, l.checks.as_ref().map(LogMatcher::mismatches)));
    if let Ok((lines, mismatches)) = logs {
        report.log_lines = lines;
        if let (Some(mismatches), Some(t)) =
            (mismatches, tests.iter_mut().find(|t| t.name == LOGS_TEST))
            && report.ready
            && !ctx.cancel.is_cancelled()
        {
            t.status = if mismatches.is_empty() {
                TestStatus::Passed
            } else {
                TestStatus::Failed
            };
            t.mismatches = mismatches;
            // Checked now: the "not run" placeholder no longer holds.
            t.error = None;
            t.stdout = report.logs.clone();
            t.stdout_omitted = report.logs_dropped;
            ctx.emit(checks::finished(planned, t));
        }
    }
    // The readiness failure shows the service's last words, as a test's output would.
    if !report.ready && waited {
        tests[0].stderr = last_lines(&report.logs, TAIL_LINES);
    }
    if ctx.cancel.is_cancelled() {
        not_run(&mut tests);
    }
    (tests, report)
}

/// The processes of an emulated platform's service that no interpreter runs (see
/// [`crate::check::service::native_in_emulated`]); none when the list cannot be read (the
/// `[[process]]` checks report that).
async fn native_processes<B: Backend>(
    ctx: &Ctx<'_, B>,
    service: &PlannedService,
    id: &str,
) -> Vec<String> {
    let Ok(rows) = ctx.engine.top(id).await else {
        return Vec::new();
    };
    let list: Vec<(String, crate::check::service::Guest)> = rows
        .into_iter()
        .map(|r| {
            let g = crate::check::service::guest(
                &r.command,
                r.executable.as_deref(),
                service.interpreter.as_ref(),
            );
            (r.command, g)
        })
        .collect();
    crate::check::service::native_in_emulated(&list)
}

/// The problem of an emulated platform whose container ran `lines` outside the emulator.
pub fn native_process_problem(planned: &PlannedPlatform, lines: &[String]) -> Problem {
    let platform = &planned.platform;
    let emulator = match &planned.mode {
        crate::mode::ExecMode::Emulated { emulator } => emulator.entry.clone(),
        _ => "the emulator".to_owned(),
    };
    Problem {
        kind: ProblemKind::NativeProcess,
        message: format!(
            "{} process(es) in {platform}'s container ran natively, not under {emulator}: {}; \
             the image holds a program of the engine's own architecture, which a {platform} \
             machine cannot run",
            lines.len(),
            lines
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        hint: Some(format!(
            "rebuild that program for {platform}; `archsmoke audit IMAGE` lists every program of \
             the wrong architecture in the image"
        )),
    }
}

/// What an interrupt left unrun is not run, not skipped because of the service.
fn not_run(tests: &mut [TestReport]) {
    for t in tests.iter_mut().filter(|t| t.status == TestStatus::Skipped) {
        t.status = TestStatus::NotRun;
        t.error = None;
    }
}

/// Opens relay connections into one service's network namespace.
struct Relay<'a, B> {
    ctx: &'a Ctx<'a, B>,
    service: String,
    platform: Platform,
    /// Relays not removed yet: a wait abandoned at its deadline leaves its relay here.
    live: Mutex<Vec<String>>,
}

impl<B: Backend> Relay<'_, B> {
    fn engine(&self) -> &B {
        self.ctx.engine
    }

    /// Connect to `port` inside the service (retrying refusals when `wait`), then hand the
    /// connection to `then`; the relay container is removed afterwards, and by
    /// [`Relay::cleanup`] if this future is dropped first.
    async fn with_connection<T>(
        &self,
        port: u16,
        wait: bool,
        deadline: tokio::time::Instant,
        then: impl AsyncFnOnce(crate::engine::RelayConnection) -> Result<T, String>,
    ) -> Result<T, String> {
        let (image, platform) = self
            .ctx
            .services
            .relay_image(self.ctx.engine, &self.ctx.run_id, &self.ctx.owner)
            .await?;
        let request = crate::engine::RelayRequest {
            image,
            platform,
            service: self.service.clone(),
            port,
            wait,
            labels: self.ctx.labels(&self.platform, "probe relay"),
        };
        let id = self
            .engine()
            .create_relay(&request)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut live) = self.live.lock() {
            live.push(id.clone());
        }
        let result = tokio::time::timeout_at(deadline, async {
            let connection = self
                .engine()
                .connect_relay(&id)
                .await
                .map_err(|e| e.to_string())?;
            then(connection).await
        })
        .await;
        if let Err(e) = self.engine().remove_service(&id).await {
            tracing::warn!(container = %id, error = %e, "could not remove a probe relay");
        } else if let Ok(mut live) = self.live.lock() {
            live.retain(|l| *l != id);
        }
        result.map_err(|_| "no answer before the deadline".to_owned())?
    }

    /// Remove relays whose users were dropped mid-way.
    async fn cleanup(&self) {
        let left = self.live.lock().map(|l| l.clone()).unwrap_or_default();
        for id in left {
            if let Err(e) = self.engine().remove_service(&id).await {
                tracing::warn!(container = %id, error = %e, "could not remove a probe relay");
            }
        }
    }
}

/// The last `n` lines of `text`, at most 4 KiB: what a failure shows of the service's output.
fn last_lines(text: &str, n: usize) -> String {
    let start = text
        .trim_end()
        .rmatch_indices('\n')
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i + 1);
    let tail = &text[start..];
    let mut cut = tail.len().saturating_sub(4096);
    while !tail.is_char_boundary(cut) {
        cut += 1;
    }
    tail[cut..].to_owned()
}

fn round(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb", 5), "a\nb");
        assert_eq!(last_lines("", 3), "");
        assert_eq!(last_lines(&"é".repeat(5000), 1).len(), 4096);
    }

    /// A service behind the runner's seam: the fake backend starts it, its log makes it ready,
    /// its process list and its whole log are judged, and it is stopped and removed, in that
    /// order, with nothing left.
    #[tokio::test(start_paused = true)]
    async fn a_service_runs_through_the_backend_and_is_removed() {
        use crate::backend::fake::{Fake, ServiceScript};
        use crate::image::{IndexEntry, IndexEntryKind};
        use crate::mode::ExecMode;
        use crate::plan::Readiness;

        let spec = crate::spec::parse(
            std::path::Path::new("web.toml"),
            "image = \"x\"\n[service]\n[service.ready]\nlog = [\"listening on \\\\d+\"]\n\
             [[process]]\nname = \"server\"\ncommand_matches = \"^httpd -f$\"\n\
             [logs]\nexcludes = [\"panic\"]\n",
        )
        .expect("a valid spec");
        let platform = Platform::new("linux", "amd64", None);
        let mode = ExecMode::Native { compat: false };
        let service = crate::plan::plan_service(
            spec.service.as_ref().expect("a service"),
            &platform,
            &mode,
            1.0,
            1.0,
            crate::limits::Limits::default(),
        );
        let planned = PlannedPlatform {
            order: 0,
            platform: platform.clone(),
            engine: crate::outcome::DEFAULT_ENGINE.into(),
            readiness: Readiness::Runnable {
                entry: IndexEntry {
                    digest: "sha256:amd64".into(),
                    media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                    size: 0,
                    platform: Some(platform),
                    kind: IndexEntryKind::Image,
                    nested_in: None,
                },
                reason: "exact match".into(),
            },
            mode,
            tests: Vec::new(),
            service: Some(service.clone()),
            image_checks: 0,
        };
        let fake = Fake::default().with_service(ServiceScript {
            lines: vec!["listening on 8080".into()],
            processes: vec![("root".into(), "httpd -f".into())],
        });
        let (events, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let settings = RunSettings {
            run_id: "r1".into(),
            owner: Vec::new(),
            output_limit: 1 << 20,
            cancel: tokio_util::sync::CancellationToken::new(),
            events,
            shared: Arc::default(),
        };
        let slots = crate::slots::Slots::for_platform(&Arc::new(tokio::sync::Semaphore::new(1)));
        let (tests, report) = run(
            &planned, &service, "image-x", &fake, &settings, &slots, "none",
        )
        .await;

        let results: Vec<(&str, TestStatus)> =
            tests.iter().map(|t| (t.name.as_str(), t.status)).collect();
        assert_eq!(
            results,
            [
                (READY_TEST, TestStatus::Passed),
                ("process server", TestStatus::Passed),
                (LOGS_TEST, TestStatus::Passed),
            ]
        );
        assert!(report.ready && !report.killed, "{report:?}");
        assert_eq!(report.log_lines, 1);
        let id = fake.container_of("service").expect("a service container");
        assert_eq!(
            fake.calls_for(&id),
            ["create", "start", "top", "stop", "remove"]
        );
        assert!(fake.state().live.is_empty(), "nothing is left");
        let mut finished = 0;
        while let Ok(event) = seen.try_recv() {
            finished += usize::from(matches!(event, Event::TestFinished { .. }));
        }
        assert_eq!(finished, 3, "every result is an event");
    }
}
