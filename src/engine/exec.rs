//! Exec isolation: one long-lived container per platform, each test an exec inside it.
//!
//! A `docker run` per test pays create, attach, start, wait and remove every time, and under
//! QEMU a fresh emulator start as well; an exec pays create-exec, start-exec and one inspect.
//! This module owns the keepalive container's lifecycle (created with the run's label so the
//! sweep and `archsmoke gc` find it) and the execs. The engine API has no call that kills an
//! exec'd process, so a test past its deadline is ended by removing the whole container; the
//! runner then starts a fresh one for the tests that remain.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{InspectContainerOptions, StartContainerOptions};

use super::capture::Capture;
use super::chain;
use super::{
    CALL_TIMEOUT, ContainerResult, Engine, EngineError, bounded, call_timeout, drain, op, sandbox,
};
use crate::limits::Limits;
use crate::platform::Platform;

/// How long the exit code of a finished exec may take to appear in its inspection: the output
/// stream can close a moment before the daemon records the code.
const EXIT_CODE_GRACE: Duration = Duration::from_secs(5);

/// The long-lived container of one platform under exec isolation.
#[derive(Debug, Clone)]
pub struct KeepaliveRequest {
    pub image: String,
    pub platform: Platform,
    /// Runs as the container's entrypoint (the image's own entrypoint is replaced) and must
    /// not exit while tests run, e.g. `["sleep", "infinity"]`.
    pub keepalive: Vec<String>,
    pub labels: HashMap<String, String>,
    pub network: String,
    /// The container's limits: every test of the platform runs inside it.
    pub limits: Limits,
}

/// One test run as an exec in a keepalive container.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Duration,
    /// Bytes kept per stream; the tail is kept.
    pub output_limit: usize,
}

impl Engine {
    /// Create and start the keepalive container; returns its id. The container is left to the
    /// caller, who removes it with [`Engine::remove_keepalive`] (or the run's sweep).
    pub async fn start_keepalive(&self, request: &KeepaliveRequest) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(request.image.clone()),
            entrypoint: Some(request.keepalive.clone()),
            cmd: Some(Vec::new()),
            labels: Some(request.labels.clone()),
            tty: Some(false),
            // The same sandbox as a container per test; exec output is captured by attach.
            host_config: Some(sandbox(&request.network, false, request.limits)),
            ..Default::default()
        };
        let id = self
            .create(
                "create the keepalive container",
                &request.platform,
                body,
                CALL_TIMEOUT,
            )
            .await?;
        if let Err(e) = bounded(
            CALL_TIMEOUT,
            "start the keepalive container",
            self.docker
                .start_container(&id, None::<StartContainerOptions>),
        )
        .await
        {
            let _ = tokio::time::timeout(CALL_TIMEOUT, self.force_remove(&id)).await;
            return Err(e);
        }
        // A keepalive that exits at once (a typo, or a command the image lacks) would make
        // every exec fail with "container is not running"; say so here instead.
        let inspect = bounded(
            CALL_TIMEOUT,
            "inspect the keepalive container",
            self.docker
                .inspect_container(&id, None::<InspectContainerOptions>),
        )
        .await?;
        let state = inspect.state.unwrap_or_default();
        if state.running != Some(true) {
            let _ = self.force_remove(&id).await;
            return Err(EngineError::Operation {
                op: "keep the exec container running",
                detail: format!(
                    "exec_keepalive {:?} exited at once (exit code {}{}); it must run until \
                     removed, e.g. [\"sleep\", \"infinity\"]",
                    request.keepalive,
                    state.exit_code.unwrap_or(-1),
                    state
                        .error
                        .filter(|e| !e.is_empty())
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(id)
    }

    /// Why the keepalive container is no longer running, or `None` while it runs. An exec in a
    /// container whose keepalive exited fails (or dies with 137) for reasons that have nothing
    /// to do with the test, so the runner asks when an exec errs or exits with 126 or more.
    pub async fn keepalive_stopped(&self, id: &str) -> Option<String> {
        match bounded(
            CALL_TIMEOUT,
            "inspect the keepalive container",
            self.docker
                .inspect_container(id, None::<InspectContainerOptions>),
        )
        .await
        {
            Ok(inspect) => {
                let state = inspect.state.unwrap_or_default();
                (state.running != Some(true)).then(|| {
                    format!(
                        "the exec container's keepalive command exited (exit code {}); \
                         exec_keepalive must run until removed, e.g. [\"sleep\", \"infinity\"]",
                        state.exit_code.unwrap_or(-1)
                    )
                })
            }
            Err(e) => Some(format!("the exec container is gone: {}", chain(&e))),
        }
    }

    /// Remove a keepalive container (killing it and everything it runs).
    pub async fn remove_keepalive(&self, id: &str) -> Result<(), EngineError> {
        bounded(
            CALL_TIMEOUT,
            "remove the keepalive container",
            self.force_remove(id),
        )
        .await
    }

    /// Run one exec to completion or its deadline. On `timed_out` the exec's process may still
    /// run: the caller must remove the container (the API cannot kill an exec).
    pub async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> Result<ContainerResult, EngineError> {
        let config = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            env: Some(request.env.clone()),
            cmd: Some(request.argv.clone()),
            ..Default::default()
        };
        let call = call_timeout(request.timeout);
        let exec_id = bounded(
            call,
            "create an exec",
            self.docker.create_exec(container, config),
        )
        .await?
        .id;
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + request.timeout;
        let started = self.docker.start_exec(
            &exec_id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        );
        let mut stdout = Capture::new(request.output_limit);
        let mut stderr = Capture::new(request.output_limit);
        let run = async {
            let StartExecResults::Attached { output, .. } =
                started.await.map_err(op("start an exec"))?
            else {
                return Err(EngineError::Operation {
                    op: "start an exec",
                    detail: "the engine detached an exec that was started attached".into(),
                });
            };
            drain(output, &mut stdout, &mut stderr, "stream exec output").await
        };
        let finished = tokio::time::timeout_at(deadline, run).await;
        let duration = start.elapsed();
        let exit_code = match finished {
            Ok(streamed) => {
                streamed?;
                Some(self.exec_exit_code(&exec_id, call).await?)
            }
            Err(_) => None,
        };
        Ok(ContainerResult::ended(exit_code, stdout, stderr, duration))
    }

    async fn exec_exit_code(&self, exec_id: &str, call: Duration) -> Result<i64, EngineError> {
        let give_up = Instant::now() + EXIT_CODE_GRACE;
        loop {
            let inspect =
                bounded(call, "inspect an exec", self.docker.inspect_exec(exec_id)).await?;
            match (inspect.running, inspect.exit_code) {
                (Some(false), Some(code)) => return Ok(code),
                _ if Instant::now() >= give_up => {
                    return Err(EngineError::Operation {
                        op: "read an exec's exit code",
                        detail: format!(
                            "its output ended but the engine reported no exit code within \
                             {EXIT_CODE_GRACE:?}"
                        ),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
}
