//! Readiness: every condition of `[service.ready]` at once, against one deadline, while the
//! container is watched. A service that exits (or is restarted) before it is ready ends the
//! wait at once with its exit code; the caller adds the tail of its logs.
//!
//! - log: the line sink flips a watch channel when every pattern has been seen;
//! - tcp: one relay in retry mode (a connect every 50 ms inside the namespace) until it connects;
//! - http: a relay connection per attempt until the answer has the expected status;
//! - healthcheck: the engine's `State.Health.Status` until `healthy`;
//! - exec: the command inside the service until it exits 0.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Relay;
use crate::backend::Backend;
use crate::engine::{ExecRequest, RelayConnection};
use crate::spec::Ready;

/// How often the container's state is read while waiting (exit, health).
const POLL: Duration = Duration::from_millis(100);
/// Pause between HTTP and exec attempts that did not succeed.
const RETRY: Duration = Duration::from_millis(200);

/// Why a service is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub message: String,
    /// Set when the container exited before it was ready.
    pub exit_code: Option<i64>,
}

/// Wait until every condition holds, the container exits, or the deadline passes.
pub async fn wait<B: Backend>(
    relay: &Relay<'_, B>,
    ready: &Ready,
    log_ready: watch::Receiver<bool>,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + ready.timeout;
    let pending = std::sync::Mutex::new(Vec::<&'static str>::new());
    // Why the last HTTP attempt failed: the deadline's message says it (a certificate that does
    // not verify, a wrong status), not only what was awaited.
    let last_http = std::sync::Mutex::new(String::new());
    let note = |what: &'static str, done: bool| {
        if let Ok(mut p) = pending.lock() {
            p.retain(|w| *w != what);
            if !done {
                p.push(what);
            }
        }
    };
    let conditions = async {
        tokio::try_join!(
            async {
                note("a log line matching", false);
                let mut rx = log_ready;
                rx.wait_for(|seen| *seen)
                    .await
                    .map_err(|_| "the log stream ended".to_owned())?;
                note("a log line matching", true);
                Ok::<(), String>(())
            },
            async {
                if let Some(port) = ready.tcp {
                    note("tcp", false);
                    tcp(relay, port, deadline).await?;
                    note("tcp", true);
                }
                Ok(())
            },
            async {
                if let Some(request) = &ready.http {
                    note("http", false);
                    http(relay, request, deadline, &last_http).await?;
                    note("http", true);
                }
                Ok(())
            },
            async {
                if ready.healthcheck {
                    note("healthcheck", false);
                    healthy(relay, deadline).await?;
                    note("healthcheck", true);
                }
                Ok(())
            },
            async {
                if let Some(argv) = &ready.exec {
                    note("exec", false);
                    exec(relay, argv, deadline).await?;
                    note("exec", true);
                }
                Ok(())
            },
        )
    };
    let describe_pending = || {
        let p = pending.lock().map(|p| p.clone()).unwrap_or_default();
        let last = last_http.lock().map(|l| l.clone()).unwrap_or_default();
        describe(ready, &p, &last)
    };
    tokio::select! {
        r = conditions => match r {
            Ok(_) => Ok(()),
            // A condition fails at once when the service dies under it (its namespace goes
            // with it), often before `exited` polls: the exit is the reason, with its code.
            Err(message) => Err(stopped(relay)
                .await
                .unwrap_or(NotReady { message, exit_code: None })),
        },
        exited = exited(relay) => Err(exited),
        () = tokio::time::sleep_until(deadline) => Err(NotReady {
            message: format!(
                "not ready after {}: still waiting for {}{}",
                humantime::format_duration(ready.timeout),
                describe_pending(),
                listening(relay).await
            ),
            exit_code: None,
        }),
    }
}

/// What the container listens on, for the deadline's message: a service on the wrong port (an
/// arm64 build on 8081 while the spec waits for 8080) shows at once. Empty when the engine is
/// not on this machine or does not answer in time.
async fn listening<B: Backend>(relay: &Relay<'_, B>) -> String {
    let ask = relay.engine().listening_ports(&relay.service);
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(Ok(Some(ports))) => listening_words(&ports),
        _ => String::new(),
    }
}

fn listening_words(ports: &std::collections::BTreeSet<u16>) -> String {
    if ports.is_empty() {
        return "; the container listens on no TCP port".to_owned();
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!(
        "; the container listens on TCP port{} {}",
        if ports.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// What the service still lacks, in the spec's words.
fn describe(ready: &Ready, pending: &[&str], last_http: &str) -> String {
    let mut out = Vec::new();
    for what in pending {
        out.push(match *what {
            "a log line matching" => format!(
                "a log line matching {}",
                ready
                    .log
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            "tcp" => format!("port {} to accept connections", ready.tcp.unwrap_or(0)),
            "http" => ready.http.as_ref().map_or_else(String::new, |h| {
                let mut s = format!(
                    "{} {} on port {}{} to answer {}",
                    h.method,
                    h.path,
                    h.port,
                    if h.tls.is_some() { " (https)" } else { "" },
                    h.status
                );
                if !last_http.is_empty() {
                    s.push_str(&format!(" (last attempt: {last_http})"));
                }
                s
            }),
            "healthcheck" => "the image's HEALTHCHECK to report healthy".to_owned(),
            "exec" => format!("{:?} to exit 0", ready.exec.clone().unwrap_or_default()),
            other => other.to_owned(),
        });
    }
    if out.is_empty() {
        "nothing (the deadline passed as it became ready)".into()
    } else {
        out.join(", ")
    }
}

/// Resolves when the container is no longer running (or was restarted).
async fn exited<B: Backend>(relay: &Relay<'_, B>) -> NotReady {
    loop {
        if let Some(stopped) = stopped(relay).await {
            return stopped;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Why the service is not running now (exited, restarted, or gone), if it is not.
async fn stopped<B: Backend>(relay: &Relay<'_, B>) -> Option<NotReady> {
    match relay.engine().service_state(&relay.service).await {
        Ok(state) if !state.running || state.restarts > 0 => {
            let code = state.exit_code.unwrap_or(-1);
            let mut message = if state.running {
                format!(
                    "the service restarted ({} times) before it was ready",
                    state.restarts
                )
            } else {
                format!("the service exited with code {code} before it was ready")
            };
            if state.oom_killed {
                message.push_str(" (killed: out of memory)");
            }
            if let Some(e) = state.error {
                message.push_str(&format!(": {e}"));
            }
            Some(NotReady {
                message,
                exit_code: Some(code),
            })
        }
        Ok(_) => None,
        Err(e) => Some(NotReady {
            message: format!("the service container disappeared: {e}"),
            exit_code: None,
        }),
    }
}

async fn tcp<B: Backend>(relay: &Relay<'_, B>, port: u16, deadline: Instant) -> Result<(), String> {
    relay
        .with_connection(port, true, deadline, async |c| match c {
            RelayConnection::Connected(_) => Ok(()),
            RelayConnection::Failed { errno } => Err(format!(
                "connecting to port {port} failed with errno {errno}"
            )),
        })
        .await
        .map_err(|e| format!("port {port}: {e}"))
}

async fn http<B: Backend>(
    relay: &Relay<'_, B>,
    request: &crate::spec::HttpRequest,
    deadline: Instant,
    last_http: &std::sync::Mutex<String>,
) -> Result<(), String> {
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        let limit = relay.ctx.output_limit;
        let answer = relay
            .with_connection(request.port, true, deadline, async |c| match c {
                RelayConnection::Connected(stream) => super::http::exchange(stream, request, limit)
                    .await
                    .map_err(String::from),
                RelayConnection::Failed { errno } => Err(format!("connect failed: errno {errno}")),
            })
            .await;
        match answer {
            Ok(a) if request.status.contains(i64::from(a.status)) => return Ok(()),
            Ok(a) => last = format!("answered {}", a.status),
            Err(e) => last = e,
        }
        if let Ok(mut l) = last_http.lock() {
            l.clone_from(&last);
        }
        tokio::time::sleep(RETRY).await;
    }
    Err(format!(
        "{} {} on port {} never answered {} ({last})",
        request.method, request.path, request.port, request.status
    ))
}

async fn healthy<B: Backend>(relay: &Relay<'_, B>, deadline: Instant) -> Result<(), String> {
    loop {
        let state = relay
            .engine()
            .service_state(&relay.service)
            .await
            .map_err(|e| e.to_string())?;
        match state.health.as_deref() {
            Some("healthy") => return Ok(()),
            None if state.running => {
                return Err(
                    "the image has no HEALTHCHECK, so the engine reports no health; \
                            use another readiness condition"
                        .into(),
                );
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err("the HEALTHCHECK never reported healthy".into());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn exec<B: Backend>(
    relay: &Relay<'_, B>,
    argv: &[String],
    deadline: Instant,
) -> Result<(), String> {
    let mut last = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{argv:?} never exited 0 ({last})"));
        }
        let request = ExecRequest {
            argv: argv.to_vec(),
            env: Vec::new(),
            timeout: left,
            output_limit: 4096,
        };
        match relay.engine().exec(&relay.service, &request).await {
            Ok(r) if r.exit_code == Some(0) => return Ok(()),
            Ok(r) => {
                last = match r.exit_code {
                    Some(c) => format!("last exit code {c}: {}", r.stderr.text().trim()),
                    None => "still running at the deadline".into(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(RETRY).await;
    }
}
