//! The runner's view of an engine: the few calls it makes, behind one trait. It sits apart from
//! the runner so that the service runs, which the runner calls, reach the engine through it too.
//!
//! [`Backend`] is what the runner needs from an engine and nothing more: make an image present
//! (pull, load, look up), the steps of one test container (create, attach+start+wait to a
//! deadline, kill, remove), the exec-isolation calls, and what a `[service]` run does (start,
//! watch, list processes, stop and remove the service; create and connect probe relays).
//! [`crate::engine::Engine`] implements it for real; the unit tests implement it with a fake
//! that keeps time with tokio's paused clock, so scheduling, timeouts, cancellation, service
//! lifecycles and cleanup order are tested in milliseconds. The order of a test container's steps lives here, once
//! ([`Backend::run_container`]), for every implementation.

#[cfg(test)]
pub(crate) mod fake;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::{
    ContainerRequest, ContainerResult, Engine, EngineError, ExecRequest, KeepaliveRequest,
    LineSink, LocalImage, ProcessRow, RelayConnection, RelayRequest, RunningService, ServiceState,
    Stopped, call_timeout, unanswered,
};
use crate::image::registry::Credentials;
use crate::platform::Platform;

/// Archive chunks as the image layer streams them to the engine; an `Err` aborts the load.
pub type ArchiveChunks = mpsc::Receiver<std::io::Result<Bytes>>;

/// What the runner asks of an engine. Every future is `Send`: platforms and tests run as tasks.
pub trait Backend: Send + Sync + 'static {
    /// Make `reference` (a `repo@sha256:...` of one platform) present, pulling only when needed.
    fn ensure_image(
        &self,
        reference: &str,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> impl Future<Output = Result<LocalImage, EngineError>> + Send;

    /// Load a `docker load` archive that arrives in chunks; the references it loaded.
    /// The engine must make progress at least every `stall`.
    fn load_image_stream(
        &self,
        chunks: ArchiveChunks,
        stall: Duration,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;

    /// An image already in the engine, or `None`.
    fn local_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<LocalImage>, EngineError>> + Send;

    /// Create a test container (not started); returns its id.
    fn create_container(
        &self,
        request: &ContainerRequest,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;

    /// Attach, start, and wait for the exit or `request.timeout`; past the deadline the result
    /// is `timed_out` with the output so far, and the container still runs.
    fn start_and_wait(
        &self,
        id: &str,
        request: &ContainerRequest,
    ) -> impl Future<Output = Result<ContainerResult, EngineError>> + Send;

    fn kill_container(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Remove a container (killing it if it runs); one already gone is not an error.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Create and start a platform's keepalive container (exec isolation); returns its id.
    fn start_keepalive(
        &self,
        request: &KeepaliveRequest,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;

    /// Run one exec to completion or its deadline (a timed-out exec may still run: remove the
    /// container).
    fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> impl Future<Output = Result<ContainerResult, EngineError>> + Send;

    /// Why the keepalive container stopped, or `None` while it runs.
    fn keepalive_stopped(&self, id: &str) -> impl Future<Output = Option<String>> + Send;

    fn remove_keepalive(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Why container `id` was taken away by someone else (removed, or being removed), or `None`;
    /// asked within `limit` after a test was killed or its container broke.
    fn vanished(&self, id: &str, limit: Duration) -> impl Future<Output = Option<String>> + Send {
        let _ = (id, limit);
        async { None }
    }

    /// The engine's own platform: what a probe relay container is built for.
    fn own_platform(&self) -> impl Future<Output = Result<Platform, EngineError>> + Send;

    /// Load a whole `docker load` archive held in memory (the probe relay image).
    fn load_image(
        &self,
        archive: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;

    /// Create, attach and start a service container; its lines go to `sink` as they arrive.
    fn start_service(
        &self,
        request: &ContainerRequest,
        sink: LineSink,
    ) -> impl Future<Output = Result<RunningService, EngineError>> + Send;

    /// What the engine says about a service container now.
    fn service_state(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ServiceState, EngineError>> + Send;

    /// The TCP ports the container listens on, when that can be known from here.
    fn listening_ports(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<std::collections::BTreeSet<u16>>, EngineError>> + Send;

    /// The sockets of the container's network namespace (goss's `port`), when that can be
    /// known from here.
    fn sockets(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<crate::check::service::Socket>>, EngineError>> + Send;

    /// The container's processes as the engine lists them.
    fn top(&self, id: &str) -> impl Future<Output = Result<Vec<ProcessRow>, EngineError>> + Send;

    /// Stop a service, killing it after `grace`.
    fn stop_service(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<Stopped, EngineError>> + Send;

    /// Remove a service or relay container (killing it if it runs).
    fn remove_service(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Create a relay container joined to a service's network namespace; returns its id.
    fn create_relay(
        &self,
        request: &RelayRequest,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;

    /// Start a relay and read whether its connection to the service's port succeeded.
    fn connect_relay(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<RelayConnection, EngineError>> + Send;

    /// Commit a stopped container as `archsmoke-commit:<tag>` with the run's labels; the new
    /// image's ID. Backends without images (test fakes) cannot.
    fn commit_container(
        &self,
        _id: &str,
        _tag: &str,
        _labels: &std::collections::HashMap<String, String>,
    ) -> impl Future<Output = Result<String, EngineError>> + Send {
        async {
            Err(EngineError::Operation {
                op: "commit a setup container",
                detail: "this backend cannot commit containers".into(),
            })
        }
    }

    /// Remove an image by reference; one already gone is not an error.
    fn remove_image(
        &self,
        _reference: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Ok(()) }
    }

    /// A `setup` command: run `request` to completion (its exit code does not matter, as in
    /// container-structure-test), commit the container as `archsmoke-commit:<tag>`, remove it;
    /// the committed image's ID.
    fn run_and_commit(
        &self,
        request: &ContainerRequest,
        tag: &str,
    ) -> impl Future<Output = Result<String, EngineError>> + Send {
        async move {
            let id = self.create_container(request).await?;
            let result = match self.start_and_wait(&id, request).await {
                Ok(r) if r.timed_out => {
                    if let Err(e) = self.kill_container(&id).await {
                        tracing::debug!(container = %id, error = %e, "kill after timeout failed");
                    }
                    Err(EngineError::Operation {
                        op: "run a setup command",
                        detail: format!(
                            "still running after {}; killed",
                            humantime::format_duration(request.timeout)
                        ),
                    })
                }
                Ok(_) => self.commit_container(&id, tag, &request.labels).await,
                Err(e) => Err(e),
            };
            if let Err(e) = self.remove_container(&id).await {
                tracing::warn!(container = %id, error = %e, "could not remove container");
            }
            result
        }
    }

    /// One test container from creation to removal: kill it at its deadline, and remove it
    /// whatever happened once it exists (a failed start included). Dropping this future (the
    /// run was cancelled) leaves the container to the run's sweep, which finds it by label.
    fn run_container(
        &self,
        request: &ContainerRequest,
    ) -> impl Future<Output = Result<ContainerResult, EngineError>> + Send {
        async move {
            // Every call after the create has a deadline too (the create and the start bound
            // themselves): an engine that stops answering must end the test, not hang the run.
            let call = call_timeout(request.timeout);
            let id = self.create_container(request).await?;
            let mut result = self.start_and_wait(&id, request).await;
            if matches!(&result, Ok(r) if r.timed_out) {
                match tokio::time::timeout(call, self.kill_container(&id)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(container = %id, error = %e, "kill after timeout failed")
                    }
                    // A frozen engine also looks like a test that never ends: when the kill is
                    // not answered either, the engine is at fault, not the test.
                    Err(_) => result = Err(unanswered("kill a container at its timeout", call)),
                }
            }
            // Killed (137), or its wait or output broke: the container may have been taken
            // away (another `archsmoke gc`, a `docker rm`), which says nothing about the test.
            let suspect = match &result {
                Ok(r) => r.exit_code == Some(137),
                Err(_) => true,
            };
            if suspect && let Some(why) = self.vanished(&id, call).await {
                result = Err(EngineError::Operation {
                    op: "keep a test's container",
                    detail: why,
                });
            }
            // A failure here is logged; the run-wide sweep by label catches the container later.
            match tokio::time::timeout(call, self.remove_container(&id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(container = %id, error = %e, "could not remove container")
                }
                Err(_) => tracing::warn!(container = %id, "the engine did not answer the removal"),
            }
            result
        }
    }
}

impl Backend for Engine {
    async fn own_platform(&self) -> Result<Platform, EngineError> {
        let info = Engine::info(self).await?;
        Ok(Platform::new(
            info.platform.os(),
            info.platform.architecture(),
            None,
        ))
    }

    async fn load_image(&self, archive: Vec<u8>) -> Result<Vec<String>, EngineError> {
        Engine::load_image(self, archive).await
    }

    async fn start_service(
        &self,
        request: &ContainerRequest,
        sink: LineSink,
    ) -> Result<RunningService, EngineError> {
        Engine::start_service(self, request, sink).await
    }

    async fn service_state(&self, id: &str) -> Result<ServiceState, EngineError> {
        Engine::service_state(self, id).await
    }

    async fn listening_ports(
        &self,
        id: &str,
    ) -> Result<Option<std::collections::BTreeSet<u16>>, EngineError> {
        Engine::listening_ports(self, id).await
    }

    async fn sockets(
        &self,
        id: &str,
    ) -> Result<Option<Vec<crate::check::service::Socket>>, EngineError> {
        Engine::sockets(self, id).await
    }

    async fn top(&self, id: &str) -> Result<Vec<ProcessRow>, EngineError> {
        Engine::top(self, id).await
    }

    async fn stop_service(&self, id: &str, grace: Duration) -> Result<Stopped, EngineError> {
        Engine::stop_service(self, id, grace).await
    }

    async fn remove_service(&self, id: &str) -> Result<(), EngineError> {
        Engine::remove_service(self, id).await
    }

    async fn create_relay(&self, request: &RelayRequest) -> Result<String, EngineError> {
        Engine::create_relay(self, request).await
    }

    async fn connect_relay(&self, id: &str) -> Result<RelayConnection, EngineError> {
        Engine::connect_relay(self, id).await
    }

    async fn ensure_image(
        &self,
        reference: &str,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> Result<LocalImage, EngineError> {
        Engine::ensure_image(self, reference, platform, credentials).await
    }

    async fn load_image_stream(
        &self,
        chunks: ArchiveChunks,
        stall: Duration,
    ) -> Result<Vec<String>, EngineError> {
        Engine::load_image_stream(self, chunks, stall).await
    }

    async fn local_image(&self, reference: &str) -> Result<Option<LocalImage>, EngineError> {
        Engine::local_image(self, reference).await
    }

    async fn create_container(&self, request: &ContainerRequest) -> Result<String, EngineError> {
        Engine::create_container(self, request).await
    }

    async fn commit_container(
        &self,
        id: &str,
        tag: &str,
        labels: &std::collections::HashMap<String, String>,
    ) -> Result<String, EngineError> {
        Engine::commit_container(self, id, tag, labels).await
    }

    async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        Engine::remove_image(self, reference).await
    }

    async fn start_and_wait(
        &self,
        id: &str,
        request: &ContainerRequest,
    ) -> Result<ContainerResult, EngineError> {
        Engine::start_and_wait(self, id, request).await
    }

    async fn kill_container(&self, id: &str) -> Result<(), EngineError> {
        Engine::kill_container(self, id).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        Engine::remove_container(self, id).await
    }

    async fn start_keepalive(&self, request: &KeepaliveRequest) -> Result<String, EngineError> {
        Engine::start_keepalive(self, request).await
    }

    async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> Result<ContainerResult, EngineError> {
        Engine::exec(self, container, request).await
    }

    async fn keepalive_stopped(&self, id: &str) -> Option<String> {
        Engine::keepalive_stopped(self, id).await
    }

    async fn remove_keepalive(&self, id: &str) -> Result<(), EngineError> {
        Engine::remove_keepalive(self, id).await
    }

    async fn vanished(&self, id: &str, limit: Duration) -> Option<String> {
        Engine::vanished(self, id, limit).await
    }
}
