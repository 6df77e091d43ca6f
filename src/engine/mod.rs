//! The only module that talks to the Docker Engine (through bollard); bollard's types never leave
//! it.
//!
//! It connects (negotiating the API version, since engines as old as 20.10 / API 1.41 are common
//! in CI), describes the engine, pulls one platform's image by digest, and offers the steps of one test
//! container: create, attach before start so no output is lost, wait instead of polling until a
//! deadline, kill, remove. The order of those steps (kill at the deadline, remove whatever
//! happened) is the runner's, through [`crate::backend::Backend`]. Every container carries the run's label
//! so that [`Engine::remove_run`] and `archsmoke gc` can find anything a crash left behind. Under
//! exec isolation it keeps one container per platform and runs tests as execs in it (`exec`). It
//! also loads and removes `docker load` archives: the tiny probe images of `archsmoke doctor
//! --probe` ([`crate::probe`]) and images run from OCI layouts ([`crate::image::layout`]).

mod capture;
pub mod endpoint;
mod exec;
mod listening;
mod service;
mod ssh;
mod start_error;
mod transport;
pub mod trust;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, CreateImageOptions, ImportImageOptions,
    KillContainerOptions, ListContainersOptions, ListImagesOptions, RemoveContainerOptions,
    RemoveImageOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use serde::Serialize;

use capture::Capture;
pub use capture::Captured;
pub use exec::{ExecRequest, KeepaliveRequest};
pub use service::{
    LineSink, ProcessRow, RelayConnection, RelayRequest, RelayStream, RunningService,
    ServiceRequest, ServiceState, Stopped,
};

use crate::diagnostic::printable;

/// An error and its sources on one line, as [`crate::diagnostic::chain`] writes it, made
/// [`printable`]: an engine's words are data, and a hostile one could otherwise write terminal
/// escapes or forged CI commands through them.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    printable(&crate::diagnostic::chain(e))
}
use crate::image::registry::Credentials;
use crate::limits::Limits;
use crate::platform::{self, Platform};
pub use endpoint::{Endpoint, TlsFiles};

/// The label every container archsmoke creates carries; its value is the run id.
pub const RUN_LABEL: &str = "archsmoke.run";
/// bollard's per-request timeout (response headers only; runs have their own deadlines).
const REQUEST_TIMEOUT_SECS: u64 = 120;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest any single engine call about a container may go unanswered when no test timeout
/// says more: an engine that stops answering (a hung daemon, a relay that stops forwarding) must
/// end the run with an error, never hang it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest bound on a call: an engine under load answers a create or a remove in seconds.
const MIN_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadline of one engine call for a test with `timeout`: a test that may take a minute can
/// wait that long for the engine, a 5 s test does not wait a minute for a frozen one.
pub fn call_timeout(timeout: Duration) -> Duration {
    timeout.clamp(MIN_CALL_TIMEOUT, CALL_TIMEOUT)
}

/// `fut` (an engine call), failed with an error naming `op` when the engine does not answer
/// within `limit`.
async fn bounded<T>(
    limit: Duration,
    op: &'static str,
    fut: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(self::op(op)),
        Err(_) => Err(unanswered(op, limit)),
    }
}

/// The error of an engine call that got no answer within `limit`.
pub fn unanswered(op: &'static str, limit: Duration) -> EngineError {
    EngineError::Operation {
        op,
        detail: format!(
            "no answer within {}: the engine is not responding",
            humantime::format_duration(limit)
        ),
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker Engine at {endpoint} (engine \"{engine}\", from {origin}): {detail}"
    )]
    Unreachable {
        engine: String,
        endpoint: String,
        origin: String,
        detail: String,
        hint: String,
    },
    /// The engine could not even be named: a bad context, an unsupported URL.
    #[error("engine \"{engine}\": {detail}")]
    Config {
        engine: String,
        detail: String,
        hint: String,
    },
    #[error("pulling {reference} failed: {detail}")]
    Pull { reference: String, detail: String },
    #[error("the engine failed to {op}: {detail}")]
    Operation { op: &'static str, detail: String },
    /// The container's command is not in the image: the image's defect, not the engine's.
    #[error("the image has no program {program}: the container could not start it ({detail})")]
    MissingProgram { program: String, detail: String },
}

impl EngineError {
    pub fn hint(&self) -> String {
        match self {
            EngineError::Unreachable { hint, .. } | EngineError::Config { hint, .. } => {
                hint.clone()
            }
            EngineError::Pull { .. } => {
                "check that the engine can reach the registry (loopback registries are allowed \
                 by default; others may need `docker login` or insecure-registries)"
                    .into()
            }
            EngineError::Operation { .. } => {
                "check the engine's log (`journalctl -u docker`)".into()
            }
            EngineError::MissingProgram { .. } => {
                "install the program in the image, or correct the command's path or the \
                 image's PATH"
                    .into()
            }
        }
    }
}

// Beside the error it describes, so that the reports' contract never imports this module.
impl crate::outcome::Problem {
    /// The engine failed an operation or could not be reached.
    pub fn engine(e: &EngineError) -> crate::outcome::Problem {
        crate::outcome::Problem {
            kind: crate::outcome::ProblemKind::Engine,
            message: e.to_string(),
            hint: Some(e.hint()),
        }
    }
}

/// What archsmoke needs to know about the engine it runs on.
#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub endpoint: String,
    /// The engine shares this machine's kernel, so this machine's binfmt entries are its own.
    pub local: bool,
    pub version: String,
    pub api_version: String,
    /// The engine's own platform (from `/info`, never from the CLI's machine).
    pub platform: Platform,
    pub rootless: bool,
}

/// An image present in the engine, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct LocalImage {
    pub id: String,
    /// What the engine says the image is: the pulled config's os/architecture/variant.
    pub platform: Platform,
    /// False when the digest was already present and nothing was downloaded.
    pub pulled: bool,
    pub duration: Duration,
    /// The image config's environment (`KEY=value`), for tests that expand `$VAR` from it.
    #[serde(skip)]
    pub env: Vec<String>,
}

/// Repository of the images a run commits from `setup` containers; the tag starts with the run
/// id, and the images carry the run's label, so the end of the run and `gc` find them.
pub const COMMIT_REPOSITORY: &str = "archsmoke-commit";

/// One container to run.
#[derive(Debug, Clone)]
pub struct ContainerRequest {
    pub image: String,
    pub platform: Platform,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    /// Replaces the image's USER when given.
    pub user: Option<String>,
    pub labels: HashMap<String, String>,
    pub network: String,
    /// Only when the command line allowed it (`--allow-privileged`).
    pub privileged: bool,
    pub timeout: Duration,
    /// Bytes kept per stream; the tail is kept.
    pub output_limit: usize,
    pub limits: Limits,
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
    /// What a test report keeps of it: the streams' tails, what was dropped of them, the exit
    /// code and the time. The one copy, for a test container and an exec in a service alike.
    pub fn fill(&self, report: &mut crate::outcome::TestReport) {
        report.stdout = self.stdout.text();
        report.stderr = self.stderr.text();
        report.stdout_dropped = self.stdout.dropped;
        report.stderr_dropped = self.stderr.dropped;
        report.duration = self.duration;
        report.exit_code = self.exit_code;
    }
}

/// A container carrying [`RUN_LABEL`].
#[derive(Debug, Clone)]
pub struct LabelledContainer {
    pub id: String,
    /// Unix seconds.
    pub created: Option<i64>,
    pub labels: HashMap<String, String>,
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    endpoint: String,
    name: String,
    /// It shares this machine's kernel, so this machine's binfmt entries are its own.
    local: bool,
    /// Why registry credentials must not go to this engine, if they must not.
    withheld: Option<String>,
    /// Creates and loads in flight hold it for reading; the run's final sweep takes it for
    /// writing and sets it: see [`Engine::landing`] and [`Engine::stop_creating`].
    gate: std::sync::Arc<tokio::sync::RwLock<bool>>,
}

impl Engine {
    /// Connect to the default engine: `host` (`--host`), else what the docker CLI would use
    /// (`DOCKER_HOST`, `DOCKER_CONTEXT`, the current context, the default socket), and check
    /// that it answers.
    pub async fn connect(host: Option<&str>) -> Result<Engine, EngineError> {
        let endpoint = endpoint::default_endpoint(host, &endpoint::ProcessEnv).map_err(|e| {
            EngineError::Config {
                engine: crate::outcome::DEFAULT_ENGINE.into(),
                detail: e.what,
                hint: e.hint,
            }
        })?;
        Engine::connect_to(&endpoint).await
    }

    /// Connect to one named engine and check that it answers.
    pub async fn connect_to(endpoint: &Endpoint) -> Result<Engine, EngineError> {
        install_crypto_provider();
        let unreachable = |detail: String| EngineError::Unreachable {
            engine: endpoint.name.clone(),
            endpoint: endpoint.host.clone(),
            origin: endpoint.origin.clone(),
            hint: connect_hint(endpoint, &detail),
            detail,
        };
        let (docker, ssh_stderr) = open(endpoint).map_err(|e| match e {
            Opened::Config(detail, hint) => EngineError::Config {
                engine: endpoint.name.clone(),
                detail,
                hint,
            },
            Opened::Bollard(e) => unreachable(chain(&e)),
        })?;
        // bollard speaks a newer API than old engines accept; agree on one first.
        let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await;
        let failure = match negotiated {
            Ok(Ok(docker)) => {
                return Ok(Engine {
                    docker,
                    endpoint: endpoint.host.clone(),
                    name: endpoint.name.clone(),
                    local: endpoint.is_local(),
                    withheld: trust::untrusted_transport(endpoint),
                    gate: Default::default(),
                });
            }
            Ok(Err(e)) => chain(&e),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        // ssh's own words ("Host key verification failed.") say more than hyper's.
        if let Some(stderr) = ssh_stderr {
            for _ in 0..20 {
                let text = stderr.text();
                if !text.is_empty() {
                    return Err(unreachable(format!("ssh: {text}")));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(unreachable(failure))
    }

    /// The engine's name: "default", or the name an `[[engine]]` table or `--engine` gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `call` (a create or a load) to its end in a task of its own, even when the caller
    /// is dropped by an interrupt, and holds it against [`Engine::stop_creating`]: a container
    /// or image the engine makes after the run's sweep has listed what to remove would be left
    /// behind (a container in `Created`, the relay image).
    async fn landing<T: Send + 'static>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        let gate = self.gate.clone().read_owned().await;
        if *gate {
            return Err(EngineError::Operation {
                op,
                detail: "the run is ending (interrupted): nothing new is created".into(),
            });
        }
        tokio::spawn(async move {
            let result = call.await;
            drop(gate);
            result
        })
        .await
        .map_err(|e| EngineError::Operation {
            op,
            detail: e.to_string(),
        })?
    }

    /// Waits for every create and load in flight to land, and refuses new ones: what the run's
    /// sweep lists after this is all the run made.
    pub async fn stop_creating(&self) {
        *self.gate.write().await = true;
    }

    /// Never send this engine registry credentials, for the reason `why` (said when a pull
    /// fails).
    pub fn withhold_credentials(&mut self, why: String) {
        if self.withheld.is_none() {
            self.withheld = Some(why);
        }
    }

    pub async fn info(&self) -> Result<EngineInfo, EngineError> {
        let op = op("describe itself");
        let (info, version) = tokio::time::timeout(CONNECT_TIMEOUT, async {
            tokio::try_join!(self.docker.info(), self.docker.version())
        })
        .await
        .map_err(|_| EngineError::Operation {
            op: "describe itself",
            detail: format!(
                "no answer to /info within {CONNECT_TIMEOUT:?}: the engine is not responding"
            ),
        })?
        .map_err(op)?;
        let os = info.os_type.clone().unwrap_or_else(|| "linux".into());
        let machine = info.architecture.clone().unwrap_or_default();
        let rootless = info
            .security_options
            .iter()
            .flatten()
            .any(|o| o.contains("name=rootless"));
        Ok(EngineInfo {
            local: self.local,
            endpoint: self.endpoint.clone(),
            version: printable(&version.version.unwrap_or_default()),
            api_version: printable(&version.api_version.unwrap_or_default()),
            platform: platform::from_uname_machine(&printable(&os), &printable(&machine)),
            rootless,
        })
    }

    /// Make `reference` (a `repo@sha256:...` of one platform) present, pulling only when needed.
    pub async fn ensure_image(
        &self,
        reference: &str,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> Result<LocalImage, EngineError> {
        let start = Instant::now();
        let inspected = tokio::time::timeout(CALL_TIMEOUT, self.inspect_image(reference))
            .await
            .map_err(|_| unanswered("inspect an image", CALL_TIMEOUT))?;
        if let Ok(image) = inspected {
            return Ok(LocalImage {
                duration: start.elapsed(),
                ..image
            });
        }
        // Credentials withheld: the pull is tried without them, and its failure says why.
        let withheld = self.withheld.as_ref().filter(|_| credentials.is_some());
        let pull_error = |detail: String| EngineError::Pull {
            reference: reference.to_owned(),
            detail: match withheld {
                Some(why) => format!("{detail} (registry credentials were not sent: {why})"),
                None => detail,
            },
        };
        let options = CreateImageOptions {
            from_image: Some(reference.to_owned()),
            platform: platform.to_string(),
            ..Default::default()
        };
        let creds = credentials
            .filter(|_| withheld.is_none())
            .map(|c| DockerCredentials {
                username: Some(c.username.clone()),
                password: Some(c.password.clone()),
                ..Default::default()
            });
        let mut progress = self.docker.create_image(Some(options), None, creds);
        // A pull reports progress many times a second; silence this long is a frozen engine.
        while let Some(item) = tokio::time::timeout(CALL_TIMEOUT, progress.next())
            .await
            .map_err(|_| {
                pull_error(format!(
                    "no progress for {}: the engine is not responding",
                    humantime::format_duration(CALL_TIMEOUT)
                ))
            })?
        {
            let info = item.map_err(|e| pull_error(chain(&e)))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(pull_error(detail));
            }
        }
        let image = tokio::time::timeout(CALL_TIMEOUT, self.inspect_image(reference))
            .await
            .map_err(|_| unanswered("inspect an image", CALL_TIMEOUT))?
            .map_err(|e| pull_error(format!("pulled, but cannot inspect it: {}", chain(&e))))?;
        Ok(LocalImage {
            pulled: true,
            duration: start.elapsed(),
            ..image
        })
    }

    /// Load a `docker load` archive (manifest.json + config + layers, the legacy format every
    /// engine accepts) and return the image references the engine reports as loaded.
    /// The archives loaded this way are archsmoke's own small images (the probe and relay
    /// images), so the whole call is bounded by the default deadline.
    pub async fn load_image(&self, archive: Vec<u8>) -> Result<Vec<String>, EngineError> {
        let docker = self.docker.clone();
        self.landing(LOAD, async move {
            let progress =
                docker.import_image(load_options(), bollard::body_full(archive.into()), None);
            tokio::time::timeout(CALL_TIMEOUT, loaded_references(progress, &Activity::new()))
                .await
                .map_err(|_| unanswered(LOAD, CALL_TIMEOUT))?
        })
        .await
    }

    /// Like [`Engine::load_image`], for an archive that arrives in chunks while it is written:
    /// an `Err` chunk aborts the upload, so the engine never loads a partial archive. An image
    /// may be large, so there is no deadline on the whole load; instead the engine must make
    /// progress (take a chunk, or report a step of the load) at least every `stall`.
    pub async fn load_image_stream(
        &self,
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
        stall: Duration,
    ) -> Result<Vec<String>, EngineError> {
        let activity = Activity::new();
        let seen = activity.clone();
        let body = futures_util::stream::unfold(chunks, move |mut rx| {
            let seen = seen.clone();
            async move {
                let chunk = rx.recv().await;
                seen.touch();
                chunk.map(|chunk| (chunk, rx))
            }
        });
        let progress = self.docker.import_image_stream(load_options(), body, None);
        let load = loaded_references(progress, &activity);
        let mut load = std::pin::pin!(load);
        loop {
            tokio::select! {
                done = &mut load => return done,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if activity.idle() > stall {
                        return Err(unanswered(LOAD, stall));
                    }
                }
            }
        }
    }

    /// Write the image as `docker save` does (a tar of `manifest.json`, the config and the
    /// layers) to `out`; returns the bytes written. Each chunk must come within the call
    /// deadline: a large image may take long, a frozen engine may not.
    /// At most `limit` bytes are written: an engine that sends more fails the save.
    pub async fn save_image(
        &self,
        reference: &str,
        out: &mut tokio::fs::File,
        limit: u64,
    ) -> Result<u64, EngineError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        const OP: &str = "save an image";
        let fail = |detail: String| EngineError::Operation {
            op: OP,
            detail: format!("{reference}: {detail}"),
        };
        let mut stream = Box::pin(self.docker.export_image(reference));
        let mut written = 0u64;
        loop {
            let chunk = tokio::time::timeout(CALL_TIMEOUT, stream.next())
                .await
                .map_err(|_| unanswered(OP, CALL_TIMEOUT))?;
            let Some(chunk) = chunk else { break };
            let bytes = chunk.map_err(|e| fail(chain(&e)))?;
            if written + bytes.len() as u64 > limit {
                return Err(fail(format!(
                    "the saved image passed {} MiB, the bound on what `docker save` may write \
                     (set ARCHSMOKE_SAVE_LIMIT to a larger size if the image really is that big)",
                    limit >> 20
                )));
            }
            out.write_all(&bytes)
                .await
                .map_err(|e| fail(format!("cannot write the saved image: {e}")))?;
            written += bytes.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| fail(format!("cannot write the saved image: {e}")))?;
        Ok(written)
    }

    /// Remove an image by reference or id; an image that is already gone is not an error.
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        match tokio::time::timeout(
            CALL_TIMEOUT,
            self.docker.remove_image(reference, Some(options), None),
        )
        .await
        .map_err(|_| unanswered("remove an image", CALL_TIMEOUT))?
        {
            Ok(_) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::Operation {
                op: "remove an image",
                detail: format!("{reference}: {}", chain(&e)),
            }),
        }
    }

    /// Remove every tag of `repository` (runs tag what they load from OCI layouts there), only
    /// the tags: an image the engine also holds under another name stays. Returns how many.
    pub async fn remove_repository_tags(&self, repository: &str) -> Result<usize, EngineError> {
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&HashMap::from([("reference", vec![repository])]))
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(op("list images"))?;
        let prefix = format!("{repository}:");
        let mut removed = 0;
        for tag in images
            .iter()
            .flat_map(|i| i.repo_tags.iter())
            .filter(|t| t.starts_with(&prefix))
        {
            self.remove_image(tag).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// An image already in the engine (by name or ID), or `None` when the engine lacks it.
    pub async fn local_image(&self, reference: &str) -> Result<Option<LocalImage>, EngineError> {
        match self.inspect_image(reference).await {
            Ok(image) => Ok(Some(image)),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::Operation {
                op: "inspect an image",
                detail: format!("{reference}: {}", chain(&e)),
            }),
        }
    }

    async fn inspect_image(&self, reference: &str) -> Result<LocalImage, BollardError> {
        let inspect = self.docker.inspect_image(reference).await?;
        Ok(LocalImage {
            id: inspect.id.unwrap_or_else(|| reference.to_owned()),
            platform: Platform::new(
                inspect.os.as_deref().unwrap_or("linux"),
                inspect.architecture.as_deref().unwrap_or("unknown"),
                inspect.variant.as_deref(),
            ),
            pulled: false,
            duration: Duration::ZERO,
            env: inspect.config.and_then(|c| c.env).unwrap_or_default(),
        })
    }

    /// Commit a stopped container as `archsmoke-commit:<tag>`, labelled with `labels` (the
    /// run's), and return the new image's ID: what a `setup` command leaves behind.
    pub async fn commit_container(
        &self,
        id: &str,
        tag: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let options = bollard::query_parameters::CommitContainerOptionsBuilder::new()
            .container(id)
            .repo(COMMIT_REPOSITORY)
            .tag(tag)
            .build();
        let config = bollard::models::ContainerConfig {
            labels: Some(labels.clone()),
            ..Default::default()
        };
        Ok(self
            .docker
            .commit_container(options, config)
            .await
            .map_err(op("commit a setup container"))?
            .id)
    }

    /// Create one test container (not started). The caller removes it, whatever happens next.
    pub async fn create_container(
        &self,
        request: &ContainerRequest,
    ) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(request.image.clone()),
            cmd: request.command.clone(),
            entrypoint: request.entrypoint.clone(),
            env: Some(request.env.clone()),
            user: request.user.clone(),
            labels: Some(request.labels.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            host_config: Some(sandbox(
                &request.network,
                request.privileged,
                request.limits,
            )),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: None,
            platform: request.platform.to_string(),
        };
        let (docker, limit) = (self.docker.clone(), call_timeout(request.timeout));
        self.landing("create a container", async move {
            bounded(
                limit,
                "create a container",
                docker.create_container(Some(options), body),
            )
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
        // Attached before start, the stream sees every byte. `logs: true` would also replay the
        // log driver's copy, and Docker can deliver the same output through both (seen as
        // doubled stdout on Docker 20.10), so it stays off, as `docker run` has it.
        let attach = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            logs: false,
            ..Default::default()
        };
        let call = call_timeout(request.timeout);
        let mut output = bounded(
            call,
            "attach to a container",
            self.docker.attach_container(id, Some(attach)),
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
        let drain = async {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdOut { message })
                    | Ok(bollard::container::LogOutput::Console { message }) => {
                        stdout.push(&message)
                    }
                    Ok(bollard::container::LogOutput::StdErr { message }) => stderr.push(&message),
                    Ok(bollard::container::LogOutput::StdIn { .. }) => {}
                    Err(e) => return Err(op("stream container output")(e)),
                }
            }
            Ok(())
        };
        let wait = self.wait(id);
        let finished = tokio::time::timeout_at(deadline, async {
            let (drained, code) = tokio::join!(drain, wait);
            drained?;
            code
        })
        .await;
        let duration = start.elapsed();
        let (exit_code, timed_out) = match finished {
            Ok(code) => (Some(code?), false),
            Err(_) => (None, true),
        };
        Ok(ContainerResult {
            exit_code,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            timed_out,
            duration,
        })
    }

    async fn wait(&self, id: &str) -> Result<i64, EngineError> {
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

    async fn force_remove(&self, id: &str) -> Result<(), BollardError> {
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
            Err(e) => Err(e),
        }
    }

    /// Remove every container labelled with `run_id` (or, with `None`, with any run id).
    /// Returns how many were removed.
    pub async fn remove_run(&self, run_id: Option<&str>) -> Result<usize, EngineError> {
        self.remove_containers(run_id, None).await
    }

    /// Remove containers labelled with `run_id` (any run with `None`), only those created before
    /// `created_before` (unix seconds) when given. Returns how many were removed.
    pub async fn remove_containers(
        &self,
        run_id: Option<&str>,
        created_before: Option<i64>,
    ) -> Result<usize, EngineError> {
        let label = match run_id {
            Some(id) => format!("{RUN_LABEL}={id}"),
            None => RUN_LABEL.to_owned(),
        };
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), vec![label])])),
            ..Default::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(op("list containers"))?;
        let mut removed = 0;
        for c in containers {
            if created_before.is_some_and(|t| c.created.is_none_or(|created| created >= t)) {
                continue;
            }
            if let Some(id) = c.id {
                self.remove_container(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Containers labelled with `run_id` (any run with `None`), with their labels, for `gc` to
    /// decide which belong to runs that are gone.
    pub async fn labelled_containers(
        &self,
        run_id: Option<&str>,
    ) -> Result<Vec<LabelledContainer>, EngineError> {
        let label = match run_id {
            Some(id) => format!("{RUN_LABEL}={id}"),
            None => RUN_LABEL.to_owned(),
        };
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), vec![label])])),
            ..Default::default()
        };
        let containers = bounded(
            CALL_TIMEOUT,
            "list containers",
            self.docker.list_containers(Some(options)),
        )
        .await?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                Some(LabelledContainer {
                    id: c.id?,
                    created: c.created,
                    labels: c.labels.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Remove one container (with its anonymous volumes); one already gone is not an error.
    pub async fn remove_container_by_id(&self, id: &str) -> Result<(), EngineError> {
        bounded(CALL_TIMEOUT, "remove a container", self.force_remove(id)).await
    }

    /// Remove every tag of the given repositories (created before `created_before`, unix
    /// seconds, when given) but those `keep` (given the tag and the image's labels) keeps.
    /// Returns how many tags were removed.
    pub async fn remove_images(
        &self,
        repositories: &[&str],
        created_before: Option<i64>,
        keep: impl Fn(&str, &HashMap<String, String>) -> bool,
    ) -> Result<usize, EngineError> {
        let references = repositories.iter().map(|r| format!("{r}:*")).collect();
        let options = ListImagesOptions {
            all: false,
            filters: Some(HashMap::from([("reference".to_owned(), references)])),
            ..Default::default()
        };
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(op("list images"))?;
        let mut removed = 0;
        for image in images {
            if created_before.is_some_and(|t| image.created >= t) {
                continue;
            }
            for tag in &image.repo_tags {
                let repository = tag.rsplit_once(':').map_or(tag.as_str(), |(r, _)| r);
                if repositories.contains(&repository) && !keep(tag, &image.labels) {
                    self.remove_image(tag).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

enum Opened {
    Config(String, String),
    Bollard(BollardError),
}

/// A bollard client for `endpoint` (nothing is dialled yet), and for ssh the slot where the
/// ssh client's stderr lands.
fn open(endpoint: &Endpoint) -> Result<(Docker, Option<ssh::SshStderr>), Opened> {
    let version = bollard::API_DEFAULT_VERSION;
    let host = endpoint.host.as_str();
    if host.starts_with("ssh://") {
        let target = endpoint::SshTarget::parse(host)
            .map_err(|e| Opened::Config(e, "write ssh://[user@]host[:port]".into()))?;
        let (docker, stderr) =
            ssh::connect(target, REQUEST_TIMEOUT_SECS, version).map_err(Opened::Bollard)?;
        return Ok((docker, Some(stderr)));
    }
    // Dialled by archsmoke, so that every reply is bounded ([`transport`]).
    let dialer = if let Some(path) = host.strip_prefix("unix://") {
        transport::unix(path)
    } else if host.starts_with("tcp://")
        || host.starts_with("http://")
        || host.starts_with("https://")
    {
        let address = tcp_address(host, endpoint.tls.is_some());
        match &endpoint.tls {
            Some(tls) => {
                for file in [&tls.ca, &tls.cert, &tls.key] {
                    if !file.is_file() {
                        return Err(Opened::Config(
                            format!("TLS file {} does not exist", file.display()),
                            "give ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH, the context's \
                             TLS files, or ca/cert/key in the [[engine]] table)"
                                .into(),
                        ));
                    }
                }
                transport::tls(&address, tls).map_err(|detail| {
                    Opened::Config(
                        format!("cannot use the TLS files: {detail}"),
                        "give the PEM files Docker uses (ca.pem, cert.pem, key.pem)".into(),
                    )
                })?
            }
            None if host.starts_with("https://") => {
                return Err(Opened::Config(
                    format!("{host} needs TLS files"),
                    "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or give ca/cert/key".into(),
                ));
            }
            None => transport::tcp(&address),
        }
    } else {
        return Err(Opened::Config(
            format!("unsupported engine URL {host}"),
            "use unix:///path, tcp://host:port (with TLS files) or ssh://[user@]host[:port]".into(),
        ));
    };
    let docker = transport::client(dialer, REQUEST_TIMEOUT_SECS, version);
    docker.map(|d| (d, None)).map_err(Opened::Bollard)
}

/// `host:port` of a `tcp://`, `http://` or `https://` engine URL; without a port, Docker's
/// (2376 with TLS, 2375 without).
fn tcp_address(url: &str, tls: bool) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 2376 } else { 2375 })
    }
}

/// What to do about an engine that did not answer, from what went wrong.
fn connect_hint(endpoint: &Endpoint, detail: &str) -> String {
    let d = detail.to_ascii_lowercase();
    if d.contains("host key verification failed") || d.contains("host key") {
        let port = endpoint::SshTarget::parse(&endpoint.host)
            .ok()
            .and_then(|t| t.port.map(|p| format!("-p {p} ")))
            .unwrap_or_default();
        let host = endpoint::SshTarget::parse(&endpoint.host)
            .map(|t| t.host)
            .unwrap_or_default();
        return format!(
            "ssh does not know this host's key: check it, then add it to known_hosts \
             (`ssh-keyscan {port}{host} >> ~/.ssh/known_hosts`, or `ssh {port}{host}` once and \
             accept it)"
        );
    }
    // The engine runs but this user may not open its socket: the most common first error of
    // all, and starting the engine would not fix it.
    if d.contains("permission denied") && !endpoint.is_ssh() {
        let socket = endpoint
            .host
            .strip_prefix("unix://")
            .unwrap_or(&endpoint.host);
        return format!(
            "the engine is running, but this user may not use its socket {socket}: run as root, \
             or join the group that owns it (usually `docker`: `usermod -aG docker $USER`, then \
             log in again)"
        );
    }
    if d.contains("permission denied") {
        return "ssh refused the login: add your public key to the remote user's \
                authorized_keys, or load it in ssh-agent"
            .into();
    }
    if d.contains("certificate") || d.contains("tls") || d.contains("handshake") {
        return format!(
            "the TLS handshake with {} failed: give the CA that signed the engine's certificate \
             and a client certificate the engine trusts (ca.pem, cert.pem, key.pem{})",
            endpoint.host,
            endpoint
                .tls
                .as_ref()
                .map(|t| format!("; used {}", t.ca.display()))
                .unwrap_or_default()
        );
    }
    if endpoint.is_ssh() {
        return "check that `ssh HOST docker version` works from here (the remote side needs the \
                docker CLI, whose `docker system dial-stdio` archsmoke speaks through)"
            .into();
    }
    format!(
        "start the engine (`systemctl start docker`, or `dockerd &` as root), or point {} at \
         one that runs",
        match endpoint.origin.as_str() {
            "--host" => "--host",
            "DOCKER_HOST" => "DOCKER_HOST",
            o if o.starts_with("context") => "the context",
            "the default socket" => "DOCKER_HOST",
            _ => "the engine's URL",
        }
    )
}

/// bollard's TLS and oci-client's share rustls; with one crypto provider compiled in rustls
/// picks it itself, and installing it explicitly keeps that true if another crate ever adds a
/// second provider (rustls then panics at the first handshake instead).
fn install_crypto_provider() {
    // An error means one is installed already: fine either way.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// What a load is called in errors.
const LOAD: &str = "load an image archive";

fn load_options() -> ImportImageOptions {
    ImportImageOptions {
        // The engine's progress lines (one per layer) are how a long load shows it is alive.
        quiet: false,
        ..Default::default()
    }
}

/// When a long engine call last showed progress.
#[derive(Clone)]
struct Activity(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Activity {
    fn new() -> Activity {
        Activity(std::sync::Arc::new(std::sync::Mutex::new(
            std::time::Instant::now(),
        )))
    }

    fn touch(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = std::time::Instant::now();
        }
    }

    fn idle(&self) -> Duration {
        self.0.lock().map_or(Duration::ZERO, |at| at.elapsed())
    }
}

/// Follows a `docker load` to its end: the references it loaded, or why it failed. Each
/// progress line is activity.
async fn loaded_references(
    progress: impl futures_util::Stream<
        Item = Result<bollard::models::BuildInfo, bollard::errors::Error>,
    >,
    activity: &Activity,
) -> Result<Vec<String>, EngineError> {
    let op = |detail: String| EngineError::Operation { op: LOAD, detail };
    let mut progress = std::pin::pin!(progress);
    let mut loaded = Vec::new();
    while let Some(item) = progress.next().await {
        activity.touch();
        let info = item.map_err(|e| op(chain(&e)))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(op(detail));
        }
        // `Loaded image: <ref>` (tagged) or `Loaded image ID: sha256:...` (untagged).
        if let Some(line) = info.stream
            && let Some((_, reference)) = line.trim().split_once(": ")
        {
            loaded.push(reference.to_owned());
        }
    }
    Ok(loaded)
}

/// The error of an engine operation that bollard failed, for `map_err`.
fn op(op: &'static str) -> impl Fn(BollardError) -> EngineError {
    move |e| EngineError::Operation {
        op,
        detail: chain(&e),
    }
}

/// The host config of every container archsmoke starts: no new privileges, the spec's network,
/// privileged only when the command line allowed it, pids and memory limits, and no log driver.
fn sandbox(network: &str, privileged: bool, limits: Limits) -> HostConfig {
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
