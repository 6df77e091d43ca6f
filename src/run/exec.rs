//! Exec isolation for one platform: a keepalive container, then each test as an exec in it.
//!
//! Tests of a platform run one after another in spec order, because they share the container's
//! filesystem and processes: running them concurrently would make one test's leftovers race
//! another's checks, and a timeout (which removes the container) would take innocent tests down
//! with it. Platforms still run concurrently, each exec holding one `jobs` slot.

use std::sync::Arc;

use super::{Backend, RunContext, blank_report, labels, record};
use crate::engine::{ExecRequest, KeepaliveRequest};
use crate::event::Event;
use crate::outcome::{Problem, ProblemKind, TestReport, TestStatus};
use crate::plan::{PlannedPlatform, PlannedTest};

/// Run the platform's tests as execs. `Err` when the keepalive container cannot be started at
/// all: the platform then has a problem instead of ten identical test errors.
pub(super) async fn run_tests<B: Backend>(
    planned: &PlannedPlatform,
    image_id: &str,
    keepalive: &[String],
    ctx: &Arc<RunContext<B>>,
    slots: &crate::slots::Slots,
    network: &str,
) -> Result<Vec<TestReport>, Problem> {
    let request = KeepaliveRequest {
        image: image_id.to_owned(),
        platform: planned.runs_as(),
        keepalive: keepalive.to_vec(),
        labels: labels(ctx, &planned.platform, None),
        network: network.to_owned(),
        limits: planned
            .tests
            .iter()
            .map(|t| t.limits)
            .reduce(crate::limits::Limits::max)
            .unwrap_or_default(),
    };
    let mut reports: Vec<TestReport> = planned.tests.iter().map(blank_report).collect();
    let mut container = {
        let Some(_permit) = acquire(ctx, slots).await else {
            return Ok(reports);
        };
        let started = tokio::select! {
            r = ctx.engine.start_keepalive(&request) => r,
            () = ctx.cancel.cancelled() => return Ok(reports),
        };
        Some(started.map_err(|e| Problem {
            kind: ProblemKind::Engine,
            message: e.to_string(),
            hint: Some(format!(
                "{}; exec isolation needs `exec_keepalive` to run until removed",
                e.hint()
            )),
        })?)
    };
    for (test, report) in planned.tests.iter().zip(reports.iter_mut()) {
        let Some(_permit) = acquire(ctx, slots).await else {
            break;
        };
        ctx.emit(Event::TestStarted {
            platform: planned.platform.clone(),
            test: test.name.clone(),
        });
        // After a timeout removed the container, the remaining tests get a fresh one.
        let id = match &container {
            Some(id) => id.clone(),
            None => match ctx.engine.start_keepalive(&request).await {
                Ok(id) => container.insert(id).clone(),
                Err(e) => {
                    record(report, test, Err(e));
                    ctx.emit(finished(planned, report));
                    continue;
                }
            },
        };
        let exec = exec_request(test, ctx.output_limit);
        let result = tokio::select! {
            r = ctx.engine.exec(&id, &exec) => r,
            // The container is left to the run's sweep, which finds it by its label.
            () = ctx.cancel.cancelled() => break,
        };
        let suspect = match &result {
            Ok(r) => r.exit_code.is_some_and(|c| c >= 126),
            Err(_) => true,
        };
        record(report, test, result);
        if suspect && let Some(why) = ctx.engine.keepalive_stopped(&id).await {
            report.status = TestStatus::Error;
            report.mismatches.clear();
            report.error = Some(why);
            let _ = ctx.engine.remove_keepalive(&id).await;
            container = None;
        } else if report.status == TestStatus::TimedOut {
            // The engine cannot kill an exec: removing the container kills everything in it.
            if let Some(m) = report.mismatches.iter_mut().find(|m| m.check == "timeout") {
                m.actual = "still running; killed with the platform's exec container, \
                            which was replaced for the remaining tests"
                    .into();
            }
            if let Err(e) = ctx.engine.remove_keepalive(&id).await {
                tracing::warn!(container = %id, error = %e, "could not remove a timed-out exec container");
            }
            container = None;
        }
        ctx.emit(finished(planned, report));
    }
    if let Some(id) = container
        && let Err(e) = ctx.engine.remove_keepalive(&id).await
    {
        tracing::warn!(container = %id, error = %e, "could not remove the exec container");
    }
    Ok(reports)
}

async fn acquire<B: Backend>(
    ctx: &RunContext<B>,
    slots: &crate::slots::Slots,
) -> Option<crate::slots::Permit> {
    tokio::select! {
        permit = slots.acquire() => permit.ok(),
        () = ctx.cancel.cancelled() => None,
    }
}

/// An exec has no entrypoint of its own: the test's entrypoint, if any, is the start of argv.
fn exec_request(test: &PlannedTest, output_limit: usize) -> ExecRequest {
    let argv = test
        .entrypoint
        .iter()
        .chain(test.command.iter())
        .flatten()
        .cloned()
        .collect();
    ExecRequest {
        argv,
        env: test.env.iter().chain(&test.secret_env).cloned().collect(),
        timeout: test.timeout,
        output_limit,
    }
}

fn finished(planned: &PlannedPlatform, report: &TestReport) -> Event {
    Event::TestFinished {
        platform: planned.platform.clone(),
        test: report.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::spec::{Expect, StreamExpect};

    fn test(entrypoint: Option<&[&str]>, command: Option<&[&str]>) -> PlannedTest {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        PlannedTest {
            name: "t".into(),
            command: command.map(owned),
            entrypoint: entrypoint.map(owned),
            env: vec!["A=1".into()],
            expect: Expect {
                exit_code: crate::range::IntRange::exactly(0),
                stdout: StreamExpect::default(),
                stderr: StreamExpect::default(),
                overridden: None,
            },
            timeout: Duration::from_secs(3),
            limits: crate::limits::Limits::default(),
            secret_env: Vec::new(),
            env_expand: Vec::new(),
            expand_command: false,
            setup: Vec::new(),
            user: None,
            privileged: false,
            host: Default::default(),
        }
    }

    #[test]
    fn argv_is_the_entrypoint_then_the_command() {
        let r = exec_request(&test(Some(&["sh", "-c"]), Some(&["echo hi"])), 64);
        assert_eq!(r.argv, ["sh", "-c", "echo hi"]);
        assert_eq!(r.env, ["A=1"]);
        assert_eq!((r.timeout, r.output_limit), (Duration::from_secs(3), 64));
        let r = exec_request(&test(None, Some(&["uname", "-m"])), 64);
        assert_eq!(r.argv, ["uname", "-m"]);
    }
}
