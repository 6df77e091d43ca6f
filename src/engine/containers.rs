//! One container from creation to removal: the one request type of tests and services, the
//! create body and its sandbox, attach before start, the wait to a deadline, kill, remove, and
//! whether someone else took a container away.

// One `Engine`, split by job: each part shares the module's imports and helpers.
use super::*;
use bollard::container::LogOutput;

/// The bound on creating, attaching to and starting a test's container, whatever the test's
/// timeout (which starts once its program runs). An engine in a VM under full system emulation
/// (the arm64 tier's guest; a laptop's VM under load) takes over 20 s to start a container
/// while answering everything else: "not started within a 20 s test's timeout" is not "not
/// responding". A frozen engine is still caught, at this bound.
const SETUP_TIMEOUT: Duration = CALL_TIMEOUT;

/// How long a removal someone else started may take before a sweep moves on.
const REMOVAL_WAIT: Duration = Duration::from_secs(20);

/// One container to run: a test's, or a service's (the one request type of both).
#[derive(Debug, Clone)]
pub struct ContainerRequest {
    pub image: String,
    pub platform: Platform,
    /// `None` keeps the image's CMD / ENTRYPOINT.
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    /// Replaces the image's USER when given.
    pub user: Option<String>,
    pub labels: HashMap<String, String>,
    pub network: String,
    /// Only when the command line allowed it (`--allow-privileged`); never for a service.
    pub privileged: bool,
    /// Bind mounts and added capabilities; likewise only with `--allow-privileged`, never for
    /// a service.
    pub host: crate::limits::HostAccess,
    /// A test's deadline; a service has none (it runs until it is stopped) and ignores it.
    pub timeout: Duration,
    /// Bytes kept: per stream, head and tail, for a test; the tail of both streams together
    /// for a service.
    pub output_limit: usize,
    pub limits: Limits,
}

/// The engine's create body for `request`: attached output, no TTY, the sandbox.
pub(super) fn create_body(request: &ContainerRequest) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(request.image.clone()),
        cmd: request.command.clone(),
        entrypoint: request.entrypoint.clone(),
        env: Some(request.env.clone()),
        user: request.user.clone(),
        labels: Some(request.labels.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            binds: (!request.host.binds.is_empty()).then(|| request.host.binds.clone()),
            cap_add: (!request.host.cap_add.is_empty()).then(|| request.host.cap_add.clone()),
            ..sandbox(&request.network, request.privileged, request.limits)
        }),
        ..Default::default()
    }
}

/// How archsmoke attaches to a container it created, before starting it, so that the stream
/// sees every byte: stdout and stderr (and stdin, for a relay). `logs: true` would also replay
/// the log driver's copy, and Docker can deliver the same output through both (seen as
/// doubled stdout on Docker 20.10), so it stays off, as `docker run` has it.
pub(super) fn attach_options(stdin: bool) -> AttachContainerOptions {
    AttachContainerOptions {
        stream: true,
        stdin,
        stdout: true,
        stderr: true,
        logs: false,
        ..Default::default()
    }
}

/// Reads an attached output stream to its end into the two captures (a TTY's console output
/// is stdout); a broken stream fails as `op`. The one reader of a test container and an exec.
pub(super) async fn drain(
    mut output: impl futures_util::Stream<Item = Result<LogOutput, BollardError>> + Unpin,
    stdout: &mut Capture,
    stderr: &mut Capture,
    op: &'static str,
) -> Result<(), EngineError> {
    while let Some(chunk) = output.next().await {
        match chunk.map_err(self::op(op))? {
            LogOutput::StdOut { message } | LogOutput::Console { message } => stdout.push(&message),
            LogOutput::StdErr { message } => stderr.push(&message),
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ContainerResult {
    /// `None` when the container was killed at its deadline.
    pub exit_code: Option<i64>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub timed_out: bool,
    pub duration: Duration,
}

impl ContainerResult {
    /// The result of a container or an exec that ended (`exit_code`) or was still running at
    /// its deadline (`None`: timed out), with what its streams' captures kept.
    pub(super) fn ended(
        exit_code: Option<i64>,
        stdout: Capture,
        stderr: Capture,
        duration: Duration,
    ) -> ContainerResult {
        ContainerResult {
            exit_code,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            timed_out: exit_code.is_none(),
            duration,
        }
    }

    /// What a test report keeps of it: the streams (or their heads and tails, and what was
    /// omitted between them), the exit code and the time. The one copy, for a test container
    /// and an exec in a service alike.
    pub fn fill(&self, report: &mut crate::outcome::TestReport) {
        report.stdout = self.stdout.text();
        report.stderr = self.stderr.text();
        report.stdout_head = self.stdout.head_text();
        report.stderr_head = self.stderr.head_text();
        report.stdout_omitted = self.stdout.omitted;
        report.stderr_omitted = self.stderr.omitted;
        report.duration = self.duration;
        report.exit_code = self.exit_code;
    }
}

/// The host config of every container archsmoke starts: no new privileges, the spec's network,
/// privileged only when the command line allowed it, pids and memory limits, and no log driver.
pub(super) fn sandbox(network: &str, privileged: bool, limits: Limits) -> HostConfig {
    let memory = i64::try_from(limits.memory).unwrap_or(i64::MAX);
    HostConfig {
        pids_limit: Some(limits.pids),
        memory: Some(memory),
        // Equal to `memory`: no swap on top, so the limit is what the test can really use.
        memory_swap: Some(memory),
        network_mode: Some(network.to_owned()),
        security_opt: Some(vec!["no-new-privileges".into()]),
        privileged: Some(privileged),
        // Output is captured through the attach stream (bounded); a log driver would also write
        // every byte to the engine's disk, and a test printing gigabytes would fill it.
        log_config: Some(HostConfigLogConfig {
            typ: Some("none".into()),
            config: None,
        }),
        ..Default::default()
    }
}

impl Engine {
    /// Create one test container (not started). The caller removes it, whatever happens next.
    pub async fn create_container(
        &self,
        request: &ContainerRequest,
    ) -> Result<String, EngineError> {
        self.create(
            "create a container",
            &request.platform,
            create_body(request),
            SETUP_TIMEOUT,
        )
        .await
    }

    /// Creates a container of `platform` from `body`, behind the gate that the run's sweep
    /// closes ([`Engine::landing`]) and bounded by `limit`; returns its id. Every container
    /// archsmoke makes is created here.
    pub(super) async fn create(
        &self,
        op: &'static str,
        platform: &Platform,
        body: ContainerCreateBody,
        limit: Duration,
    ) -> Result<String, EngineError> {
        let options = CreateContainerOptions {
            name: None,
            platform: platform.to_string(),
        };
        let docker = self.docker.clone();
        self.landing(op, async move {
            bounded(limit, op, docker.create_container(Some(options), body))
                .await
                .map(|created| created.id)
        })
        .await
    }

    /// Why a container of this run is gone or being removed by someone else (another `archsmoke
    /// gc`, a `docker rm`), or `None`; asked after a test was killed or its container broke.
    pub async fn vanished(&self, id: &str, limit: Duration) -> Option<String> {
        let short = &id[..id.len().min(12)];
        let taken = format!(
            "container {short} was removed by someone else while its test ran (another \
             `archsmoke gc` or a `docker rm`); the test's result is unknown"
        );
        match tokio::time::timeout(
            limit,
            self.docker.inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            ),
        )
        .await
        {
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => Some(taken),
            Ok(Ok(c))
                if c.state.as_ref().and_then(|s| s.status)
                    == Some(bollard::models::ContainerStateStatusEnum::REMOVING) =>
            {
                Some(taken)
            }
            _ => None,
        }
    }

    /// Attach to a created container, start it, and wait for its exit or its deadline
    /// (`request.timeout`). Past the deadline it returns `timed_out` with the output so far and
    /// leaves the container running: the caller kills and removes it.
    pub async fn start_and_wait(
        &self,
        id: &str,
        request: &ContainerRequest,
    ) -> Result<ContainerResult, EngineError> {
        let call = SETUP_TIMEOUT;
        let output = bounded(
            call,
            "attach to a container",
            self.docker
                .attach_container(id, Some(attach_options(false))),
        )
        .await?
        .output;
        let start = Instant::now();
        bounded(
            call,
            "start a container",
            self.docker
                .start_container(id, None::<StartContainerOptions>),
        )
        .await
        .map_err(|e| match &e {
            EngineError::Operation { detail, .. } => match start_error::missing_program(detail) {
                Some(program) => EngineError::MissingProgram {
                    program,
                    detail: detail.clone(),
                },
                None => e,
            },
            _ => e,
        })?;
        let deadline = tokio::time::Instant::now() + request.timeout;
        let mut stdout = Capture::new(request.output_limit);
        let mut stderr = Capture::new(request.output_limit);
        let drain = drain(output, &mut stdout, &mut stderr, "stream container output");
        let wait = self.wait(id);
        let finished = tokio::time::timeout_at(deadline, async {
            let (drained, code) = tokio::join!(drain, wait);
            drained?;
            code
        })
        .await;
        let duration = start.elapsed();
        let exit_code = match finished {
            Ok(code) => Some(code?),
            Err(_) => None,
        };
        Ok(ContainerResult::ended(exit_code, stdout, stderr, duration))
    }

    pub(super) async fn wait(&self, id: &str) -> Result<i64, EngineError> {
        let mut stream = self.docker.wait_container(id, None::<WaitContainerOptions>);
        match stream.next().await {
            Some(Ok(resp)) => Ok(resp.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(EngineError::Operation {
                op: "wait for a container",
                detail: chain(&e),
            }),
            None => Err(EngineError::Operation {
                op: "wait for a container",
                detail: "the engine closed the wait stream without an exit code".into(),
            }),
        }
    }

    /// Kill a container with SIGKILL (one past its deadline).
    pub async fn kill_container(&self, id: &str) -> Result<(), EngineError> {
        let kill = KillContainerOptions {
            signal: "SIGKILL".into(),
        };
        self.docker
            .kill_container(id, Some(kill))
            .await
            .map_err(op("kill a container"))
    }

    /// Remove a container and its anonymous volumes, killing it if it runs; one that is already
    /// gone is not an error.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        self.force_remove(id)
            .await
            .map_err(op("remove a container"))
    }

    pub(super) async fn force_remove(&self, id: &str) -> Result<(), BollardError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Already gone (removed by a concurrent sweep): nothing left behind.
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Someone else (another `archsmoke gc`, a `docker rm`) is removing it: their removal
            // is ours. Wait for it to finish so that "removed" still means gone when we return.
            Err(BollardError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => {
                self.gone_within(id, REMOVAL_WAIT).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Poll until `id` no longer exists, at most `limit`. A removal that outlasts it is still
    /// the other remover's to finish; the caller's sweep does not fail for it.
    async fn gone_within(&self, id: &str, limit: Duration) {
        let gone = async {
            loop {
                let seen = self
                    .docker
                    .inspect_container(
                        id,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await;
                if let Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) = seen
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let _ = tokio::time::timeout(limit, gone).await;
    }
}
