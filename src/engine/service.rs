//! Service containers and the relay that reaches them.
//!
//! A service container runs the image as it ships (its ENTRYPOINT and CMD, unless the spec
//! overrides them) until archsmoke stops it. Its output is read through an attach made before
//! start, with the log driver `none` like every container archsmoke creates: the attach sees
//! every byte, a flood cannot fill the engine's disk through a json-file log, and the stream is
//! matched line by line as it arrives (readiness by log line, `[logs]` over the whole run),
//! while only a bounded tail is kept for reports. `docker logs` is not needed: the container is
//! removed at the end anyway.
//!
//! The relay is a tiny static program of the engine's own architecture ([`crate::probe::relay`])
//! in a container that joins the service's network namespace (`container:<id>`): it connects
//! to `127.0.0.1:PORT` there and copies bytes between the socket and its attached stdio, so a
//! probe reaches the service without a published port, with a remote engine too, and whatever
//! the service image lacks. This module only moves bytes; HTTP is spoken by the caller.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    InspectContainerOptions, StartContainerOptions, StopContainerOptions, TopOptions,
};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::capture::{Capture, Captured};
use super::chain;
use super::{ContainerRequest, Engine, EngineError, op};
use crate::platform::Platform;

/// The relay runs as `nobody` (by number: the relay image has no passwd file).
const RELAY_USER: &str = "65534:65534";
/// Processes a relay may hold: it is one static program.
const RELAY_PIDS: i64 = 16;
/// Memory a relay may use: its buffers are KiBs.
const RELAY_MEMORY: i64 = 64 << 20;

/// Lines longer than this are handed to the line sink in pieces, so a flood without newlines
/// cannot grow a buffer without bound.
const MAX_LINE: usize = 64 << 10;

/// Receives every line the service prints (stdout and stderr, in arrival order), without its
/// line break. Called on the engine's stream task: it must be quick.
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// A started service: its id, and the task that drains its output until it exits.
pub struct RunningService {
    pub id: String,
    output: tokio::task::JoinHandle<Captured>,
}

impl RunningService {
    /// A started service whose output `output` drains (a backend other than the real engine
    /// makes its own).
    pub fn new(id: String, output: tokio::task::JoinHandle<Captured>) -> RunningService {
        RunningService { id, output }
    }

    /// The kept tail of the output; waits (bounded) for the stream to end, which it does once
    /// the container has stopped.
    pub async fn output(self, wait: Duration) -> Captured {
        let abort = self.output.abort_handle();
        match tokio::time::timeout(wait, self.output).await {
            Ok(Ok(captured)) => captured,
            _ => {
                abort.abort();
                Captured::default()
            }
        }
    }
}

/// What the engine says about a service container now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub restarts: i64,
    /// `State.Health.Status` (`starting`, `healthy`, `unhealthy`), `None` without a HEALTHCHECK.
    pub health: Option<String>,
    pub oom_killed: bool,
    pub error: Option<String>,
}

/// One row of the engine's process list of a container (`/containers/{id}/top`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    pub user: String,
    /// The command line as `ps` shows it (under QEMU: the interpreter first).
    pub command: String,
    /// The executable as the kernel ran it (`ps -o exe`, the target of `/proc/<pid>/exe`):
    /// under QEMU, the interpreter. `None` when the engine's `ps` cannot show it.
    pub executable: Option<String>,
}

/// How a service ended when it was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// It outlived the grace period and was killed.
    pub killed: bool,
    pub exit_code: Option<i64>,
    pub duration: Duration,
}

/// A relay container to create, joined to `service`'s network namespace.
#[derive(Debug, Clone)]
pub struct RelayRequest {
    pub image: String,
    pub platform: Platform,
    pub service: String,
    pub port: u16,
    /// Retry refused connections every 50 ms (readiness) instead of reporting the refusal.
    pub wait: bool,
    pub labels: HashMap<String, String>,
}

/// The relay's answer: connected (a byte stream to the service's port), or the errno of the
/// failed connection (111: refused).
pub enum RelayConnection {
    Connected(RelayStream),
    Failed { errno: i64 },
}

/// The service's socket, as seen through the relay's stdio.
pub struct RelayStream {
    pub read: Pin<Box<dyn AsyncRead + Send>>,
    pub write: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Engine {
    /// Create, attach and start the service container. Its lines go to `sink` as they arrive;
    /// the output's tail is kept for [`RunningService::output`].
    pub async fn start_service(
        &self,
        request: &ContainerRequest,
        mut sink: LineSink,
    ) -> Result<RunningService, EngineError> {
        let id = self
            .create(
                "create the service container",
                &request.platform,
                super::create_body(request),
                super::CALL_TIMEOUT,
            )
            .await?;
        let mut output = match self
            .docker
            .attach_container(&id, Some(super::attach_options(false)))
            .await
        {
            Ok(a) => a.output,
            Err(e) => {
                let _ = self.force_remove(&id).await;
                return Err(op("attach to the service container")(e));
            }
        };
        let limit = request.output_limit;
        let drain = tokio::spawn(async move {
            let mut kept = Capture::tail_only(limit);
            let mut lines = LineSplitter::default();
            while let Some(chunk) = output.next().await {
                let message = match chunk {
                    Ok(LogOutput::StdOut { message })
                    | Ok(LogOutput::StdErr { message })
                    | Ok(LogOutput::Console { message }) => message,
                    Ok(LogOutput::StdIn { .. }) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "service output stream ended");
                        break;
                    }
                };
                kept.push(&message);
                lines.push(&message, &mut sink);
            }
            lines.finish(&mut sink);
            kept.finish()
        });
        if let Err(e) = self
            .docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            drain.abort();
            let _ = self.force_remove(&id).await;
            return Err(op("start the service container")(e));
        }
        Ok(RunningService { id, output: drain })
    }

    pub async fn service_state(&self, id: &str) -> Result<ServiceState, EngineError> {
        let inspect = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(op("inspect the service container"))?;
        let state = inspect.state.unwrap_or_default();
        Ok(ServiceState {
            running: state.running == Some(true),
            exit_code: state.exit_code,
            restarts: inspect.restart_count.unwrap_or(0),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            oom_killed: state.oom_killed == Some(true),
            error: state.error.filter(|e| !e.is_empty()),
        })
    }

    /// The TCP ports the container listens on, when its engine is on this machine (read from
    /// its first process's network namespace); `None` when that cannot be known from here.
    pub async fn listening_ports(
        &self,
        id: &str,
    ) -> Result<Option<std::collections::BTreeSet<u16>>, EngineError> {
        let (pid, full_id) = self.first_process(id).await?;
        Ok(super::listening::of_process(
            std::path::Path::new("/proc"),
            pid,
            &full_id,
        ))
    }

    /// The sockets of the container's network namespace as goss's `port` reads them, when its
    /// engine is on this machine; `None` when that cannot be known from here.
    pub async fn sockets(
        &self,
        id: &str,
    ) -> Result<Option<Vec<crate::check::service::Socket>>, EngineError> {
        let (pid, full_id) = self.first_process(id).await?;
        Ok(super::listening::sockets_of_process(
            std::path::Path::new("/proc"),
            pid,
            &full_id,
        ))
    }

    /// The pid (on the engine's machine) of the container's first process, and its full id.
    async fn first_process(&self, id: &str) -> Result<(i64, String), EngineError> {
        let inspect = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(op("inspect the service container"))?;
        let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0);
        Ok((pid, inspect.id.unwrap_or_else(|| id.to_owned())))
    }

    /// The container's processes as the engine lists them: user, executable and command line
    /// (`ps -eo pid,user,exe,args`), or the `ps -ef` columns from an engine whose `ps` has no
    /// `exe` (busybox's, older procps).
    pub async fn top(&self, id: &str) -> Result<Vec<ProcessRow>, EngineError> {
        let top = |args: &str| {
            self.docker.top_processes(
                id,
                Some(TopOptions {
                    ps_args: args.into(),
                }),
            )
        };
        let top = match top("-eo pid,user,exe,args").await {
            Ok(t) => t,
            Err(_) => top("-ef")
                .await
                .map_err(op("list the service's processes"))?,
        };
        let titles = top.titles.unwrap_or_default();
        let exe = titles.iter().position(|t| t == "EXE");
        let column = |names: &[&str]| titles.iter().position(|t| names.contains(&t.as_str()));
        let (Some(user), Some(command)) = (column(&["UID", "USER"]), column(&["CMD", "COMMAND"]))
        else {
            return Err(EngineError::Operation {
                op: "list the service's processes",
                detail: format!(
                    "the engine's process list has no user or command column: {titles:?}"
                ),
            });
        };
        Ok(top
            .processes
            .unwrap_or_default()
            .into_iter()
            .map(|row| ProcessRow {
                user: row.get(user).cloned().unwrap_or_default(),
                // ps pads the last column; a command with spaces spans the rest of the row.
                command: row.get(command..).map(|c| c.join(" ")).unwrap_or_default(),
                // `-` for a process whose executable is gone (a zombie).
                executable: exe
                    .and_then(|i| row.get(i))
                    .filter(|e| e.starts_with('/'))
                    .cloned(),
            })
            .collect())
    }

    /// Stop the service: SIGTERM (or the image's STOPSIGNAL), SIGKILL after `grace`.
    pub async fn stop_service(&self, id: &str, grace: Duration) -> Result<Stopped, EngineError> {
        let start = Instant::now();
        let options = StopContainerOptions {
            signal: None,
            t: Some(grace.as_secs().clamp(0, i32::MAX as u64) as i32),
        };
        // The engine kills at `t`; the margin covers its own round trips on a loaded machine.
        let bound = grace + Duration::from_secs(15);
        match tokio::time::timeout(bound, self.docker.stop_container(id, Some(options))).await {
            Ok(Ok(())) => {}
            // 304: already stopped.
            Ok(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            })) => {}
            Ok(Err(e)) => return Err(op("stop the service container")(e)),
            Err(_) => {
                return Err(EngineError::Operation {
                    op: "stop the service container",
                    detail: format!("no answer within {bound:?}"),
                });
            }
        }
        let duration = start.elapsed();
        let state = self.service_state(id).await?;
        // 137 is SIGKILL: the service outlived the grace period (or was killed before).
        let killed = state.exit_code == Some(137) && duration + Duration::from_millis(200) >= grace;
        Ok(Stopped {
            killed,
            exit_code: state.exit_code,
            duration,
        })
    }

    /// Remove a service or relay container (killing it); an absent one is not an error.
    pub async fn remove_service(&self, id: &str) -> Result<(), EngineError> {
        self.force_remove(id)
            .await
            .map_err(op("remove the service container"))
    }

    /// Create a relay container (not started), confined by [`RELAY_USER`], [`RELAY_PIDS`] and
    /// [`RELAY_MEMORY`]; remove it with [`Engine::remove_service`].
    pub async fn create_relay(&self, request: &RelayRequest) -> Result<String, EngineError> {
        let mut argv = vec![request.port.to_string()];
        if request.wait {
            argv.push("wait".into());
        }
        let body = ContainerCreateBody {
            image: Some(request.image.clone()),
            cmd: Some(argv),
            labels: Some(request.labels.clone()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            tty: Some(false),
            // The relay only connects to a port and copies bytes: no root, no capabilities,
            // no writes, a handful of processes and little memory, whatever the service does.
            user: Some(RELAY_USER.into()),
            host_config: Some(HostConfig {
                network_mode: Some(format!("container:{}", request.service)),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: Some(vec!["ALL".into()]),
                readonly_rootfs: Some(true),
                pids_limit: Some(RELAY_PIDS),
                memory: Some(RELAY_MEMORY),
                memory_swap: Some(RELAY_MEMORY),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("none".into()),
                    config: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create(
            "create a probe relay container",
            &request.platform,
            body,
            super::CALL_TIMEOUT,
        )
        .await
    }

    /// Attach to and start a created relay; returns once it has connected or failed. The
    /// caller bounds this with its own deadline and removes the relay afterwards.
    pub async fn connect_relay(&self, id: &str) -> Result<RelayConnection, EngineError> {
        let attached = self
            .docker
            .attach_container(id, Some(super::attach_options(true)))
            .await
            .map_err(op("attach to a probe relay"))?;
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(op("start a probe relay"))?;
        let bytes = attached.output.filter_map(|chunk| async move {
            match chunk {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    Some(Ok(message))
                }
                Ok(_) => None,
                Err(e) => Some(Err(std::io::Error::other(chain(&e)))),
            }
        });
        let mut read: Pin<Box<dyn AsyncRead + Send>> =
            Box::pin(tokio_util::io::StreamReader::new(Box::pin(bytes)));
        let mut first = [0u8; 1];
        let n = read
            .read(&mut first)
            .await
            .map_err(|e| EngineError::Operation {
                op: "read from a probe relay",
                detail: e.to_string(),
            })?;
        if n == 1 && first[0] == b'+' {
            return Ok(RelayConnection::Connected(RelayStream {
                read,
                write: attached.input,
            }));
        }
        // The relay exits with the errno of its failed connect().
        let errno = self.wait(id).await?;
        Ok(RelayConnection::Failed { errno })
    }
}

/// Splits a byte stream into lines for the sink, bounded by [`MAX_LINE`].
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, mut chunk: &[u8], sink: &mut LineSink) {
        while let Some(i) = chunk.iter().position(|b| *b == b'\n') {
            self.pending.extend_from_slice(&chunk[..i]);
            self.emit(sink);
            chunk = &chunk[i + 1..];
        }
        self.pending.extend_from_slice(chunk);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            self.emit(sink);
            self.pending = rest;
        }
    }

    fn emit(&mut self, sink: &mut LineSink) {
        let line = String::from_utf8_lossy(&self.pending);
        sink(line.trim_end_matches('\r'));
        self.pending.clear();
    }

    fn finish(&mut self, sink: &mut LineSink) {
        if !self.pending.is_empty() {
            self.emit(sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn collect() -> (Arc<Mutex<Vec<String>>>, LineSink) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        (
            lines,
            Box::new(move |line: &str| l.lock().expect("lock").push(line.to_owned())),
        )
    }

    #[test]
    fn lines_are_split_across_chunks_and_the_last_one_is_flushed() {
        let (lines, mut sink) = collect();
        let mut s = LineSplitter::default();
        s.push(b"hel", &mut sink);
        s.push(b"lo\r\nwor", &mut sink);
        s.push(b"ld\n\nend", &mut sink);
        s.finish(&mut sink);
        assert_eq!(*lines.lock().expect("lock"), ["hello", "world", "", "end"]);
    }

    #[test]
    fn a_flood_without_newlines_is_cut_into_bounded_pieces() {
        let (lines, mut sink) = collect();
        let mut s = LineSplitter::default();
        for _ in 0..10 {
            s.push(&vec![b'x'; MAX_LINE / 2 + 1], &mut sink);
            assert!(s.pending.len() < MAX_LINE);
        }
        s.finish(&mut sink);
        let lines = lines.lock().expect("lock");
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(
            lines.iter().map(String::len).sum::<usize>(),
            10 * (MAX_LINE / 2 + 1)
        );
    }
}
