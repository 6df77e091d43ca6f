//! The only module that talks to the Docker Engine (through bollard); bollard's types never leave
//! it.
//!
//! It connects (`connect`: negotiating the API version, since engines as old as 20.10 / API 1.41
//! are common in CI), describes the engine, pulls one platform's image by digest (`images`), and
//! offers the steps of one test container (`containers`): create, attach before start so no output is lost, wait instead of polling until a
//! deadline, kill, remove. The order of those steps (kill at the deadline, remove whatever
//! happened) is the runner's, through [`crate::backend::Backend`]. Every container carries the run's label
//! so that [`Engine::remove_run`] and `archsmoke gc` can find anything a crash left behind (`sweep`). Under
//! exec isolation it keeps one container per platform and runs tests as execs in it (`exec`). It
//! also loads and removes `docker load` archives: the tiny probe images of `archsmoke doctor
//! --probe` ([`crate::probe`]) and images run from OCI layouts ([`crate::image::layout`]).

mod capture;
mod connect;
mod containers;
pub mod discover;
pub mod endpoint;
mod exec;
mod identity;
mod images;
mod listening;
pub mod locality;
mod replay;
mod service;
mod ssh;
mod start_error;
mod sweep;
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
pub use identity::EngineBoot;
pub use service::{
    LineSink, ProcessRow, RelayConnection, RelayRequest, RelayStream, RunningService, ServiceState,
    Stopped,
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

pub use containers::{ContainerRequest, ContainerResult};
use containers::{attach_options, create_body, drain, sandbox};
pub use images::{COMMIT_REPOSITORY, LocalImage};
pub use sweep::LabelledContainer;

/// The label every container archsmoke creates carries; its value is the run id.
pub const RUN_LABEL: &str = "archsmoke.run";
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
    /// The engine shares this machine's kernel, so this machine's binfmt entries are its own
    /// ([`locality::judge`]: a unix socket to a VM's engine is not local).
    pub local: bool,
    /// Why `local` is what it is, in one clause (for `doctor`).
    pub local_why: String,
    /// `/info`'s `KernelVersion` (empty when the engine did not say).
    pub kernel: String,
    /// `/info`'s `OperatingSystem`: "Docker Desktop", "OrbStack", "Ubuntu 24.04 LTS", ...
    pub operating_system: String,
    pub version: String,
    pub api_version: String,
    /// The engine's own platform (from `/info`, never from the CLI's machine).
    pub platform: Platform,
    pub rootless: bool,
}

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    endpoint: String,
    name: String,
    /// A unix socket: it may share this machine's kernel ([`Engine::info`] decides).
    local: bool,
    /// Why registry credentials must not go to this engine, if they must not.
    withheld: Option<String>,
    /// Creates and loads in flight hold it for reading; the run's final sweep takes it for
    /// writing and sets it: see [`Engine::landing`] and [`Engine::stop_creating`].
    gate: std::sync::Arc<tokio::sync::RwLock<bool>>,
}

impl Engine {
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
}

/// The error of an engine operation that bollard failed, for `map_err`.
fn op(op: &'static str) -> impl Fn(BollardError) -> EngineError {
    move |e| EngineError::Operation {
        op,
        detail: chain(&e),
    }
}
