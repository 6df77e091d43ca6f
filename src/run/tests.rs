//! The runner against a fake engine ([`crate::backend::fake`]): deadlines, cancellation, cleanup and the
//! `jobs` bound, on tokio's paused clock so an hour-long test takes a microsecond.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Isolation, RunContext, execute};
use crate::backend::fake::{Fake, Script};
use crate::emulation::ExecMode;
use crate::event::Event;
use crate::image::{ImageSource, IndexEntry, IndexEntryKind};
use crate::outcome::{PlatformReport, ProblemKind, TestStatus};
use crate::plan::{Plan, PlannedPlatform, PlannedTest, Readiness};
use crate::platform::Platform;
use crate::spec::{Expect, StreamExpect};

const SECOND: Duration = Duration::from_secs(1);

fn test(name: &str, timeout: Duration) -> PlannedTest {
    PlannedTest {
        name: name.to_owned(),
        command: Some(vec![name.to_owned()]),
        entrypoint: None,
        env: Vec::new(),
        secret_env: Vec::new(),
        privileged: false,
        host: Default::default(),
        expect: Expect {
            exit_code: crate::range::IntRange::exactly(0),
            stdout: StreamExpect::default(),
            stderr: StreamExpect::default(),
            overridden: None,
        },
        timeout,
        limits: crate::limits::Limits::default(),
        env_expand: Vec::new(),
        expand_command: false,
        setup: Vec::new(),
        user: None,
    }
}

fn platform(order: usize, arch: &str, tests: &[&str]) -> PlannedPlatform {
    let platform = Platform::new("linux", arch, None);
    PlannedPlatform {
        order,
        engine: crate::outcome::DEFAULT_ENGINE.into(),
        readiness: Readiness::Runnable {
            entry: IndexEntry {
                digest: format!("sha256:{arch}"),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 0,
                platform: Some(platform.clone()),
                kind: IndexEntryKind::Image,
                nested_in: None,
            },
            reason: "exact match".into(),
        },
        platform,
        mode: ExecMode::Native { compat: false },
        tests: tests.iter().map(|t| test(t, 10 * SECOND)).collect(),
        service: None,
        image_checks: 0,
    }
}

fn plan(platforms: Vec<PlannedPlatform>) -> Plan {
    Plan {
        platforms,
        network: "none".into(),
    }
}

fn runs(secs: u64) -> Script {
    Script {
        runs_for: Duration::from_secs(secs),
        ..Script::default()
    }
}

struct Run {
    reports: Vec<PlatformReport>,
    events: Vec<Event>,
}

fn context(
    fake: &Fake,
    jobs: usize,
    isolation: Isolation,
) -> (
    RunContext<Fake>,
    mpsc::UnboundedReceiver<Event>,
    CancellationToken,
) {
    let (events, rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let ctx = RunContext {
        run_id: "run1".into(),
        engine: fake.clone(),
        image: Arc::new(ImageSource::Daemon("fake".into())),
        jobs,
        output_limit: 1024,
        events,
        cancel: cancel.clone(),
        isolation,
        owner: Vec::new(),
        services: Default::default(),
    };
    (ctx, rx, cancel)
}

async fn run(fake: &Fake, jobs: usize, plan: Plan) -> Run {
    let (ctx, mut rx, _cancel) = context(fake, jobs, Isolation::Container);
    let reports = execute(plan, ctx).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Run { reports, events }
}

fn statuses(report: &PlatformReport) -> Vec<(&str, TestStatus)> {
    report
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.status))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_test_past_its_deadline_is_killed_then_removed() {
    let fake = Fake::new([("hang", runs(3600)), ("quick", runs(1))]);
    let mut p = platform(0, "amd64", &["quick"]);
    p.tests.push(test("hang", 2 * SECOND));
    let started = tokio::time::Instant::now();
    let run = run(&fake, 4, plan(vec![p])).await;
    let tests = &run.reports[0].tests;
    assert_eq!(
        statuses(&run.reports[0]),
        [
            ("quick", TestStatus::Passed),
            ("hang", TestStatus::TimedOut)
        ]
    );
    assert_eq!(tests[1].duration, 2 * SECOND);
    assert_eq!(tests[1].exit_code, None);
    assert_eq!(tests[1].mismatches[0].check, "timeout");
    let hang = fake.container_of("hang").expect("hang ran");
    assert_eq!(fake.calls_for(&hang), ["create", "start", "kill", "remove"]);
    let quick = fake.container_of("quick").expect("quick ran");
    assert_eq!(fake.calls_for(&quick), ["create", "start", "remove"]);
    assert!(fake.state().live.is_empty());
    // The deadline, not the hour the command would have taken.
    assert!(started.elapsed() < 3 * SECOND, "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_still_removes_the_container_and_a_failed_create_leaves_none() {
    let fake = Fake::new([
        (
            "nostart",
            Script {
                fail_start: true,
                ..Script::default()
            },
        ),
        (
            "nocreate",
            Script {
                fail_create: true,
                ..Script::default()
            },
        ),
        ("fine", runs(1)),
    ]);
    let run = run(
        &fake,
        2,
        plan(vec![platform(0, "amd64", &["nostart", "nocreate", "fine"])]),
    )
    .await;
    assert_eq!(
        statuses(&run.reports[0]),
        [
            ("nostart", TestStatus::Error),
            ("nocreate", TestStatus::Error),
            ("fine", TestStatus::Passed)
        ]
    );
    let error = run.reports[0].tests[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("start a container"), "{error}");
    let nostart = fake.container_of("nostart").expect("created");
    assert_eq!(fake.calls_for(&nostart), ["create", "start", "remove"]);
    assert_eq!(fake.container_of("nocreate"), None);
    assert!(fake.state().live.is_empty(), "{:?}", fake.state().live);
}

#[tokio::test(start_paused = true)]
async fn never_more_containers_at_once_than_jobs() {
    let fake = Fake::new([
        ("a", runs(3)),
        ("b", runs(1)),
        ("c", runs(2)),
        ("d", runs(5)),
    ]);
    let platforms = ["amd64", "arm64", "s390x"]
        .iter()
        .enumerate()
        .map(|(i, arch)| platform(i, arch, &["a", "b", "c", "d"]))
        .collect();
    let run = run(&fake, 3, plan(platforms)).await;
    let state = fake.state();
    // The bound is reached (the run is concurrent) and never passed.
    assert_eq!(state.max_live, 3);
    assert!(state.live.is_empty());
    assert_eq!(
        state
            .calls
            .iter()
            .filter(|c| c.starts_with("create"))
            .count(),
        12
    );
    drop(state);
    for report in &run.reports {
        assert!(
            report.tests.iter().all(|t| t.status == TestStatus::Passed),
            "{:?}",
            statuses(report)
        );
    }
    let mut running = 0usize;
    for event in &run.events {
        match event {
            Event::TestStarted { .. } => {
                running += 1;
                assert!(running <= 3, "more than jobs tests started at once");
            }
            Event::TestFinished { .. } => running -= 1,
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn one_job_runs_one_container_at_a_time() {
    let fake = Fake::new([("a", runs(1)), ("b", runs(1))]);
    let started = tokio::time::Instant::now();
    run(
        &fake,
        1,
        plan(vec![
            platform(0, "amd64", &["a", "b"]),
            platform(1, "arm64", &["a", "b"]),
        ]),
    )
    .await;
    assert_eq!(fake.state().max_live, 1);
    assert_eq!(started.elapsed(), 4 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn reports_keep_the_order_asked_for_not_the_order_of_finishing() {
    let fake = Fake::new([("slow", runs(9)), ("mid", runs(5)), ("fast", runs(1))]);
    // The plan is ordered for speed; `order` is the user's.
    let run = run(
        &fake,
        8,
        plan(vec![
            platform(2, "s390x", &["fast"]),
            platform(0, "amd64", &["slow", "mid", "fast"]),
            platform(1, "arm64", &["mid"]),
        ]),
    )
    .await;
    let order: Vec<String> = run.reports.iter().map(|r| r.platform.to_string()).collect();
    assert_eq!(order, ["linux/amd64", "linux/arm64", "linux/s390x"]);
    let names: Vec<&str> = run.reports[0]
        .tests
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["slow", "mid", "fast"]);
    // Events tell what happened when: the fast test of amd64 finished first.
    let finished: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TestFinished { platform, test } if platform.architecture() == "amd64" => {
                Some(test.name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(finished, ["fast", "mid", "slow"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_mid_run_starts_nothing_new_and_abandons_what_runs() {
    let fake = Fake::new([
        ("first", runs(10)),
        ("second", runs(10)),
        ("third", runs(10)),
    ]);
    let (ctx, mut rx, cancel) = context(&fake, 1, Isolation::Container);
    let plan = plan(vec![platform(0, "amd64", &["first", "second", "third"])]);
    let running = tokio::spawn(execute(plan, ctx));
    // `first` has finished, `second` is halfway, `third` waits for the one slot.
    tokio::time::sleep(15 * SECOND).await;
    cancel.cancel();
    let reports = running.await.expect("runner task");
    assert_eq!(
        statuses(&reports[0]),
        [
            ("first", TestStatus::Passed),
            ("second", TestStatus::NotRun),
            ("third", TestStatus::NotRun)
        ]
    );
    assert_eq!(fake.container_of("third"), None, "nothing new after cancel");
    // The in-flight container is left to the run's sweep by label, not waited for.
    let second = fake.container_of("second").expect("second started");
    assert_eq!(fake.calls_for(&second), ["create", "start"]);
    assert_eq!(
        fake.state().live.iter().collect::<Vec<_>>(),
        [&second],
        "only the abandoned container is left"
    );
    let mut started = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::TestStarted { test, .. } = e {
            started.push(test);
        }
    }
    assert_eq!(started, ["first", "second"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_before_a_platform_runs_marks_it_interrupted() {
    let fake = Fake::new([]);
    let (ctx, _rx, cancel) = context(&fake, 2, Isolation::Container);
    cancel.cancel();
    let reports = execute(plan(vec![platform(0, "amd64", &["a"])]), ctx).await;
    let problem = reports[0].problem.as_ref().expect("interrupted");
    assert_eq!(problem.kind, ProblemKind::Interrupted);
    // Its tests never reached the engine, and are listed as not run so that they still count.
    let statuses: Vec<_> = reports[0]
        .tests
        .iter()
        .map(|t| (t.name.as_str(), t.status))
        .collect();
    assert_eq!(statuses, [("a", TestStatus::NotRun)]);
    assert!(fake.state().calls.is_empty(), "{:?}", fake.state().calls);
}

#[tokio::test(start_paused = true)]
async fn output_and_exit_code_are_checked_against_the_expectations() {
    let fake = Fake::new([
        (
            "says-hi",
            Script {
                stdout: "hi\n".into(),
                ..Script::default()
            },
        ),
        (
            "fails",
            Script {
                exit_code: 3,
                ..Script::default()
            },
        ),
    ]);
    let mut p = platform(0, "amd64", &["says-hi", "fails"]);
    p.tests[0].expect.stdout.exact = Some("hello\n".into());
    let run = run(&fake, 2, plan(vec![p])).await;
    let tests = &run.reports[0].tests;
    assert_eq!(
        statuses(&run.reports[0]),
        [
            ("says-hi", TestStatus::Failed),
            ("fails", TestStatus::Failed)
        ]
    );
    assert_eq!(tests[0].stdout, "hi\n");
    assert_eq!(tests[1].exit_code, Some(3));
    assert_eq!(tests[1].expected_exit, crate::range::IntRange::exactly(0));
}

#[tokio::test(start_paused = true)]
async fn exec_isolation_replaces_the_container_a_timeout_removed() {
    let fake = Fake::new([("ok", runs(1)), ("hang", runs(3600)), ("after", runs(1))]);
    let (ctx, _rx, _cancel) = context(
        &fake,
        2,
        Isolation::Exec {
            keepalive: vec!["sleep".into(), "infinity".into()],
        },
    );
    let mut p = platform(0, "amd64", &["ok"]);
    p.tests.push(test("hang", 2 * SECOND));
    p.tests.push(test("after", 10 * SECOND));
    let reports = execute(plan(vec![p]), ctx).await;
    assert_eq!(
        statuses(&reports[0]),
        [
            ("ok", TestStatus::Passed),
            ("hang", TestStatus::TimedOut),
            ("after", TestStatus::Passed)
        ]
    );
    let actual = &reports[0].tests[1].mismatches[0].actual;
    assert!(actual.contains("replaced"), "{actual}");
    let calls = fake.state().calls.clone();
    assert_eq!(
        calls[1..],
        [
            "create c1 keepalive",
            "exec c1 ok",
            "exec c1 hang",
            "remove c1",
            "create c2 keepalive",
            "exec c2 after",
            "remove c2",
        ]
    );
    assert!(fake.state().live.is_empty());
}
