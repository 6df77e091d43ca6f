//! Which engine this is and since when its daemon runs: what the probe cache
//! ([`crate::pipeline`]'s) is keyed by, so that what a probe container learned about a remote
//! engine's emulators is reused only while it can still be true.
//!
//! The Docker API has no boot id and says nothing about binfmt_misc. What it does say:
//! - `/info` `ID`: the daemon's identity, kept across restarts (its key file, or `engine-id`);
//! - `/info` `KernelVersion`: another kernel (an update and a reboot, or another host);
//! - the `bridge` network's `Id` and `Created`: dockerd creates its default bridge network at
//!   every start, so these change with every daemon restart, and so with every reboot.
//!
//! What none of them shows: QEMU registered or removed on the engine's host while its daemon
//! keeps running (`docker run --privileged tonistiigi/binfmt --install ...`). The cache's short
//! lifetime bounds that, and `--reprobe` skips it.

use super::connect::CONNECT_TIMEOUT;
use super::{Engine, EngineError, bounded, printable};

/// An engine's identity and the start of its daemon, as far as its API tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineBoot {
    /// `/info` `ID`; empty when the engine gives none (then nothing is cached for it).
    pub id: String,
    pub kernel: String,
    pub server_version: String,
    /// The default `bridge` network's id and creation time (`id@created`); empty when the
    /// engine has no such network (`--bridge none`, podman), and then a daemon restart goes
    /// unseen until the cache's lifetime ends.
    pub daemon_start: String,
    /// `/info` `NCPU` (`None` when not given), not part of the identity: a VM's engine under
    /// full system emulation starts a container in seconds per CPU, and what archsmoke asks of
    /// it at once is bounded by this.
    pub cpus: Option<usize>,
}

impl Engine {
    /// Asks the engine who it is and since when its daemon runs (two calls, side by side).
    pub async fn boot(&self) -> Result<EngineBoot, EngineError> {
        let (info, bridge) = tokio::join!(
            bounded(CONNECT_TIMEOUT, "describe itself", self.docker.info()),
            bounded(
                CONNECT_TIMEOUT,
                "inspect its bridge network",
                self.docker.inspect_network(
                    "bridge",
                    None::<bollard::query_parameters::InspectNetworkOptions>
                )
            )
        );
        let info = info?;
        let daemon_start = match bridge {
            Ok(n) => match (n.id, n.created) {
                (Some(id), Some(created)) => printable(&format!("{id}@{created}")),
                _ => String::new(),
            },
            Err(_) => String::new(),
        };
        Ok(EngineBoot {
            id: printable(&info.id.unwrap_or_default()),
            kernel: printable(&info.kernel_version.unwrap_or_default()),
            server_version: printable(&info.server_version.unwrap_or_default()),
            daemon_start,
            cpus: info
                .ncpu
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0),
        })
    }
}
