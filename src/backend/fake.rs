//! A fake engine for the runner's unit tests: containers are entries in a table, a test "runs"
//! by sleeping on tokio's clock (paused in the tests, so an hour passes in a microsecond), and
//! every call is written to a log the tests read back. It proves scheduling, deadlines,
//! cancellation and cleanup order; what a real engine does is proven end to end in `tests/`.
//! A service "runs" as a scripted one ([`ServiceScript`]): it prints its lines at start, lists
//! its processes, and stops when told; relays refuse every connection.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{ArchiveChunks, Backend};
use crate::engine::{
    Captured, ContainerRequest, ContainerResult, EngineError, ExecRequest, KeepaliveRequest,
    LineSink, LocalImage, ProcessRow, RelayConnection, RelayRequest, RunningService, ServiceState,
    Stopped,
};
use crate::image::registry::Credentials;
use crate::platform::Platform;

/// How the command named by a test's first argument behaves.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub runs_for: Duration,
    pub exit_code: i64,
    pub stdout: String,
    pub fail_create: bool,
    pub fail_start: bool,
}

/// How a `[service]` container behaves.
#[derive(Debug, Clone, Default)]
pub struct ServiceScript {
    /// Printed at start, one line each (what log readiness and `[logs]` read).
    pub lines: Vec<String>,
    /// The engine's process list of the running service: (user, command line).
    pub processes: Vec<(String, String)>,
}

#[derive(Default)]
pub struct State {
    next_id: usize,
    /// Containers that exist (created, not yet removed).
    pub live: BTreeSet<String>,
    /// The most containers that existed at once.
    pub max_live: usize,
    /// `op id [detail]`, in call order.
    pub calls: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Fake {
    scripts: Arc<HashMap<String, Script>>,
    service: Arc<ServiceScript>,
    state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn new(scripts: impl IntoIterator<Item = (&'static str, Script)>) -> Fake {
        Fake {
            scripts: Arc::new(
                scripts
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ),
            service: Arc::default(),
            state: Arc::default(),
        }
    }

    /// This fake, with its services behaving as `service` says.
    pub fn with_service(mut self, service: ServiceScript) -> Fake {
        self.service = Arc::new(service);
        self
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake engine state")
    }

    /// The calls made for one container, without its id: `["create", "start", "kill", ...]`.
    pub fn calls_for(&self, id: &str) -> Vec<String> {
        self.state()
            .calls
            .iter()
            .filter_map(|c| {
                let mut words = c.split(' ');
                let op = words.next()?;
                (words.next() == Some(id)).then(|| op.to_owned())
            })
            .collect()
    }

    /// The id of the container created for the command `name` (the first one).
    pub fn container_of(&self, name: &str) -> Option<String> {
        self.state().calls.iter().find_map(|c| {
            let rest = c.strip_prefix("create ")?;
            let (id, command) = rest.split_once(' ')?;
            (command == name).then(|| id.to_owned())
        })
    }

    fn script(&self, argv: Option<&Vec<String>>) -> Script {
        argv.and_then(|a| a.first())
            .and_then(|name| self.scripts.get(name))
            .cloned()
            .unwrap_or_default()
    }

    fn log(&self, call: String) {
        self.state().calls.push(call);
    }

    fn create(&self, command: &str) -> String {
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("c{}", state.next_id);
        state.live.insert(id.clone());
        state.max_live = state.max_live.max(state.live.len());
        state.calls.push(format!("create {id} {command}"));
        id
    }

    /// Sleep as the script says, up to the deadline, like a container's life.
    async fn run(script: &Script, timeout: Duration) -> ContainerResult {
        let start = tokio::time::Instant::now();
        let finished = tokio::time::timeout(timeout, tokio::time::sleep(script.runs_for))
            .await
            .is_ok();
        ContainerResult {
            exit_code: finished.then_some(script.exit_code),
            stdout: Captured {
                bytes: script.stdout.clone().into_bytes(),
                ..Captured::default()
            },
            stderr: Captured::default(),
            timed_out: !finished,
            duration: start.elapsed(),
        }
    }
}

fn failed(op: &'static str) -> EngineError {
    EngineError::Operation {
        op,
        detail: "the fake engine was told to fail".into(),
    }
}

impl Backend for Fake {
    async fn ensure_image(
        &self,
        reference: &str,
        platform: &Platform,
        _credentials: Option<&Credentials>,
    ) -> Result<LocalImage, EngineError> {
        self.log(format!("pull {reference}"));
        Ok(LocalImage {
            id: format!("image-{reference}"),
            platform: platform.clone(),
            pulled: true,
            duration: Duration::ZERO,
            env: Vec::new(),
        })
    }

    async fn load_image_stream(
        &self,
        _chunks: ArchiveChunks,
        _stall: Duration,
    ) -> Result<Vec<String>, EngineError> {
        Err(failed("load an image archive"))
    }

    async fn local_image(&self, _reference: &str) -> Result<Option<LocalImage>, EngineError> {
        Ok(None)
    }

    async fn create_container(&self, request: &ContainerRequest) -> Result<String, EngineError> {
        let command = request.command.as_ref().and_then(|c| c.first());
        if self.script(request.command.as_ref()).fail_create {
            self.log(format!("create-failed - {}", command.map_or("", |c| c)));
            return Err(failed("create a container"));
        }
        Ok(self.create(command.map_or("", |c| c)))
    }

    async fn start_and_wait(
        &self,
        id: &str,
        request: &ContainerRequest,
    ) -> Result<ContainerResult, EngineError> {
        self.log(format!("start {id}"));
        let script = self.script(request.command.as_ref());
        if script.fail_start {
            return Err(failed("start a container"));
        }
        Ok(Fake::run(&script, request.timeout).await)
    }

    async fn kill_container(&self, id: &str) -> Result<(), EngineError> {
        self.log(format!("kill {id}"));
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let mut state = self.state();
        state.live.remove(id);
        state.calls.push(format!("remove {id}"));
        Ok(())
    }

    async fn start_keepalive(&self, _request: &KeepaliveRequest) -> Result<String, EngineError> {
        Ok(self.create("keepalive"))
    }

    async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> Result<ContainerResult, EngineError> {
        let name = request.argv.first().map_or("", String::as_str);
        self.log(format!("exec {container} {name}"));
        Ok(Fake::run(&self.script(Some(&request.argv)), request.timeout).await)
    }

    async fn keepalive_stopped(&self, _id: &str) -> Option<String> {
        None
    }

    async fn remove_keepalive(&self, id: &str) -> Result<(), EngineError> {
        self.remove_container(id).await
    }

    async fn own_platform(&self) -> Result<Platform, EngineError> {
        Ok(Platform::new("linux", "amd64", None))
    }

    async fn load_image(&self, _archive: Vec<u8>) -> Result<Vec<String>, EngineError> {
        self.log("load relay".into());
        Ok(Vec::new())
    }

    async fn start_service(
        &self,
        _request: &ContainerRequest,
        mut sink: LineSink,
    ) -> Result<RunningService, EngineError> {
        let id = self.create("service");
        self.log(format!("start {id}"));
        let mut text = String::new();
        for line in &self.service.lines {
            sink(line);
            text.push_str(line);
            text.push('\n');
        }
        let output = tokio::spawn(async move {
            Captured {
                bytes: text.into_bytes(),
                ..Captured::default()
            }
        });
        Ok(RunningService::new(id, output))
    }

    async fn service_state(&self, id: &str) -> Result<ServiceState, EngineError> {
        Ok(ServiceState {
            running: self.state().live.contains(id),
            exit_code: None,
            restarts: 0,
            health: None,
            oom_killed: false,
            error: None,
        })
    }

    async fn listening_ports(&self, _id: &str) -> Result<Option<BTreeSet<u16>>, EngineError> {
        Ok(None)
    }

    async fn sockets(
        &self,
        _id: &str,
    ) -> Result<Option<Vec<crate::check::service::Socket>>, EngineError> {
        Ok(None)
    }

    async fn top(&self, id: &str) -> Result<Vec<ProcessRow>, EngineError> {
        self.log(format!("top {id}"));
        Ok(self
            .service
            .processes
            .iter()
            .map(|(user, command)| ProcessRow {
                user: user.clone(),
                command: command.clone(),
                executable: None,
            })
            .collect())
    }

    async fn stop_service(&self, id: &str, _grace: Duration) -> Result<Stopped, EngineError> {
        self.log(format!("stop {id}"));
        Ok(Stopped {
            killed: false,
            exit_code: Some(0),
            duration: Duration::ZERO,
        })
    }

    async fn remove_service(&self, id: &str) -> Result<(), EngineError> {
        self.remove_container(id).await
    }

    async fn create_relay(&self, _request: &RelayRequest) -> Result<String, EngineError> {
        Ok(self.create("relay"))
    }

    async fn connect_relay(&self, id: &str) -> Result<RelayConnection, EngineError> {
        self.log(format!("connect {id}"));
        // ECONNREFUSED: nothing listens inside a fake service.
        Ok(RelayConnection::Failed { errno: 111 })
    }
}
