//! The checks of a ready service, run one after another (they share one service, and a probe
//! that disturbed it would confuse the next): probes through relays, the process list, then the
//! spec's `[[test]]` commands as execs inside the service container. Each becomes a
//! [`TestReport`] and a `TestFinished` event; `[logs]` is judged by the caller once the service
//! has stopped, over the whole run.

use std::time::{Duration, Instant};

use super::http::ExchangeError;
use super::{LOGS_TEST, READY_TEST, Relay};
use crate::backend::Backend;
use crate::check::service::{self as check, Process, guest};
use crate::engine::{ExecRequest, RelayConnection};
use crate::event::Event;
use crate::outcome::{Mismatch, TestReport, TestStatus};
use crate::plan::{PlannedPlatform, PlannedService, PlannedTest};
use crate::spec::{HttpRequest, ProbeKind, ProbeSpec, TlsVerify};

/// Every result the platform will have, not run yet: readiness, probes, processes, the tests,
/// and logs. Reports keep this order.
pub(super) fn blank(planned: &PlannedPlatform, service: &PlannedService) -> Vec<TestReport> {
    let mut out = vec![report(READY_TEST, None, service.ready.timeout)];
    out.extend(
        service
            .probes
            .iter()
            .map(|p| report(&format!("probe {}", p.name), None, p.timeout)),
    );
    out.extend(
        service
            .processes
            .iter()
            .map(|p| report(&format!("process {}", p.name), None, Duration::ZERO)),
    );
    out.extend(planned.tests.iter().map(|t| {
        TestReport {
            expected_exit: t.expect.exit_code,
            ..report(
                &t.name,
                t.entrypoint
                    .iter()
                    .chain(&t.command)
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .into(),
                t.timeout,
            )
        }
    }));
    if service.logs.is_some() {
        out.push(report(LOGS_TEST, None, Duration::ZERO));
    }
    out
}

fn report(name: &str, command: Option<Vec<String>>, timeout: Duration) -> TestReport {
    TestReport {
        command,
        timeout,
        error: Some("not run: the service was not ready".into()),
        ..TestReport::new(name.to_owned(), TestStatus::Skipped)
    }
}

pub(super) fn finished(planned: &PlannedPlatform, report: &TestReport) -> Event {
    Event::TestFinished {
        platform: planned.platform.clone(),
        test: report.clone(),
    }
}

/// Run every check but `[logs]`, filling the matching reports.
pub(super) async fn run<B: Backend>(
    relay: &Relay<'_, B>,
    planned: &PlannedPlatform,
    service: &PlannedService,
    id: &str,
    reports: &mut [TestReport],
) {
    let ctx = &relay.ctx;
    let mut at = 1;
    for probe in &service.probes {
        if ctx.cancel.is_cancelled() {
            return;
        }
        start(relay, planned, &reports[at].name);
        let r = &mut reports[at];
        let began = Instant::now();
        run_probe(relay, probe, r).await;
        r.duration = began.elapsed();
        ctx.emit(finished(planned, r));
        at += 1;
    }
    if !service.processes.is_empty() {
        let listed = ctx.engine.top(id).await.map(|rows| {
            rows.into_iter()
                .map(|row| {
                    let g = guest(
                        &row.command,
                        row.executable.as_deref(),
                        service.interpreter.as_ref(),
                    );
                    Process {
                        user: row.user,
                        command: g.command,
                        executable: g.executable,
                    }
                })
                .collect::<Vec<_>>()
        });
        for spec in &service.processes {
            let r = &mut reports[at];
            r.error = None;
            match &listed {
                Ok(list) => {
                    r.mismatches = check::processes(spec, list);
                    r.stdout = list
                        .iter()
                        .map(|p| format!("{} {}\n", p.user, p.command))
                        .collect();
                    r.status = verdict(&r.mismatches);
                }
                Err(e) => {
                    r.status = TestStatus::Error;
                    r.error = Some(format!("{e} ({})", e.hint()));
                }
            }
            ctx.emit(finished(planned, r));
            at += 1;
        }
    }
    for test in &planned.tests {
        if ctx.cancel.is_cancelled() {
            return;
        }
        start(relay, planned, &test.name);
        run_test(relay, id, test, &mut reports[at]).await;
        ctx.emit(finished(planned, &reports[at]));
        at += 1;
    }
}

fn start<B: Backend>(relay: &Relay<'_, B>, planned: &PlannedPlatform, name: &str) {
    relay.ctx.emit(Event::TestStarted {
        platform: planned.platform.clone(),
        test: name.to_owned(),
    });
}

fn verdict(mismatches: &[Mismatch]) -> TestStatus {
    if mismatches.is_empty() {
        TestStatus::Passed
    } else {
        TestStatus::Failed
    }
}

async fn run_probe<B: Backend>(relay: &Relay<'_, B>, probe: &ProbeSpec, r: &mut TestReport) {
    r.error = None;
    let deadline = tokio::time::Instant::now() + probe.timeout;
    let limit = relay.ctx.output_limit;
    match &probe.kind {
        ProbeKind::Tcp { port, open } => {
            let outcome = relay
                .with_connection(*port, false, deadline, async |c| {
                    Ok(match c {
                        RelayConnection::Connected(_) => (true, None),
                        RelayConnection::Failed { errno } => (false, Some(errno)),
                    })
                })
                .await;
            match outcome {
                Ok((connected, errno)) => {
                    r.mismatches = check::tcp(*port, *open, connected, errno);
                    r.status = verdict(&r.mismatches);
                }
                Err(e) => error_or_timeout(r, probe, e),
            }
        }
        ProbeKind::Socket {
            table,
            port,
            open,
            ips,
        } => {
            let read = tokio::time::timeout_at(deadline, relay.engine().sockets(&relay.service));
            match read.await {
                Ok(Ok(Some(found))) => {
                    r.mismatches = check::socket(*table, *port, *open, ips, &found);
                    r.stdout = found
                        .iter()
                        .map(|s| format!("{} {} {}\n", s.table.name(), s.ip, s.port))
                        .collect();
                    r.status = verdict(&r.mismatches);
                }
                Ok(Ok(None)) => {
                    r.status = TestStatus::Error;
                    r.error = Some(
                        "the container's socket table is read from /proc on this machine, and \
                         its engine runs elsewhere (or in another pid namespace): use \
                         `tcp = PORT`, which connects from the service's namespace"
                            .into(),
                    );
                }
                Ok(Err(e)) => {
                    r.status = TestStatus::Error;
                    r.error = Some(format!("{e} ({})", e.hint()));
                }
                Err(_) => error_or_timeout(r, probe, "no answer before the deadline".into()),
            }
        }
        ProbeKind::Http { request, expect } => {
            // Each hop of a redirect is a request of its own, through a relay of its own, with
            // the probe's timeout of its own: a relay's start is archsmoke's cost, not the
            // service's, and would otherwise eat the later hops' time.
            let mut deadline = deadline;
            let mut current: HttpRequest = (**request).clone();
            let mut hops: Vec<String> = Vec::new();
            let answer = loop {
                let answer = relay
                    .with_connection(current.port, false, deadline, async |c| match c {
                        RelayConnection::Connected(stream) => {
                            Ok(super::http::exchange(stream, &current, limit).await)
                        }
                        RelayConnection::Failed { errno } => Err(format!(
                            "nothing accepts connections on port {} (errno {errno}{})",
                            current.port,
                            if errno == 111 { ": refused" } else { "" }
                        )),
                    })
                    .await;
                let Ok(Ok(a)) = &answer else { break answer };
                if !request.follow_redirects {
                    break answer;
                }
                match super::http::next_hop(&current, a) {
                    None => break answer,
                    Some(Ok(next)) if hops.len() < crate::spec::MAX_REDIRECTS => {
                        hops.push(format!("{} {} -> {}", a.status, current.path, next.path));
                        current = next;
                        deadline = tokio::time::Instant::now() + probe.timeout;
                    }
                    Some(next) => {
                        let why = next.err().unwrap_or_else(|| {
                            format!("stopped after {} redirects", crate::spec::MAX_REDIRECTS)
                        });
                        r.mismatches = vec![Mismatch {
                            check: "redirect".into(),
                            expected: "redirects that end on the service itself".into(),
                            actual: why,
                            note: None,
                        }];
                        r.stdout = format!("{}{}", redirects(&hops), a.transcript());
                        r.status = TestStatus::Failed;
                        return;
                    }
                }
            };
            match answer {
                Ok(Ok(a)) => {
                    r.mismatches = check::http(request, expect, &a);
                    r.stdout = format!("{}{}", redirects(&hops), a.transcript());
                    r.stdout_omitted = a.body_dropped;
                    r.status = verdict(&r.mismatches);
                }
                // The service's TLS is what the probe checks, like its status: a finding.
                Ok(Err(ExchangeError::Tls(e))) => {
                    r.mismatches = vec![Mismatch {
                        check: format!("tls {}", request.port),
                        expected: match &request.tls {
                            Some(t) if t.verify == TlsVerify::Insecure => {
                                "a TLS server (its certificate not verified)".to_owned()
                            }
                            t => format!(
                                "a TLS server whose certificate verifies for `{}`",
                                t.as_ref().map_or("", |t| t.server_name.as_str())
                            ),
                        },
                        actual: e,
                        note: None,
                    }];
                    r.status = TestStatus::Failed;
                }
                Ok(Err(ExchangeError::Other(e))) => error_or_timeout(r, probe, e),
                Err(e) if e.starts_with("nothing accepts") => {
                    r.mismatches = vec![Mismatch {
                        check: format!("http {}", request.port),
                        expected: format!("an answer {}", request.status),
                        actual: e,
                        note: None,
                    }];
                    r.status = TestStatus::Failed;
                }
                Err(e) => error_or_timeout(r, probe, e),
            }
        }
    }
}

/// The redirects a probe followed, as the first lines of its transcript.
fn redirects(hops: &[String]) -> String {
    hops.iter().map(|h| format!("redirect {h}\n")).collect()
}

/// A probe that ran out of time failed (the service is too slow: a finding); any other
/// failure to probe is an error of the tooling.
fn error_or_timeout(r: &mut TestReport, probe: &ProbeSpec, e: String) {
    if e.contains("before the deadline") {
        r.status = TestStatus::TimedOut;
        r.mismatches = vec![Mismatch {
            check: "timeout".into(),
            expected: format!(
                "an answer within {}",
                humantime::format_duration(probe.timeout)
            ),
            actual: "no answer; the probe was abandoned".into(),
            note: None,
        }];
    } else {
        r.status = TestStatus::Error;
        r.error = Some(e);
    }
}

async fn run_test<B: Backend>(
    relay: &Relay<'_, B>,
    id: &str,
    test: &PlannedTest,
    r: &mut TestReport,
) {
    r.error = None;
    let request = ExecRequest {
        argv: test
            .entrypoint
            .iter()
            .chain(test.command.iter())
            .flatten()
            .cloned()
            .collect(),
        env: test.env.iter().chain(&test.secret_env).cloned().collect(),
        timeout: test.timeout,
        output_limit: relay.ctx.output_limit,
    };
    match relay.engine().exec(id, &request).await {
        Ok(result) => {
            result.fill(r);
            if result.timed_out {
                r.status = TestStatus::TimedOut;
                r.mismatches = vec![Mismatch::timeout(
                    test.timeout,
                    "still running; it ends with the service",
                )];
            } else {
                // Matched on the whole output, as a test container's is (not the kept tail).
                crate::check::output::judge(
                    r,
                    &test.expect,
                    result.exit_code.unwrap_or(-1),
                    [
                        result.stdout.for_matching(!test.expect.stdout.is_empty()),
                        result.stderr.for_matching(!test.expect.stderr.is_empty()),
                    ],
                );
            }
        }
        Err(e) => {
            r.status = TestStatus::Error;
            r.error = Some(format!("{e} ({})", e.hint()));
        }
    }
}
