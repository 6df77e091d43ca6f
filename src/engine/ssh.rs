//! `ssh://` engines, reached as the docker CLI reaches them: the system `ssh` client runs
//! `docker system dial-stdio` on the remote machine and the HTTP API flows over its stdin and
//! stdout. Using the system client means the user's `~/.ssh/config`, agent, keys and
//! known_hosts apply unchanged (bollard's own `ssh` feature also drives the system client, but
//! through the `openssh` crate's ControlMaster per connection and without a port in the URL).
//!
//! Each HTTP connection is one ssh process; hyper keeps idle ones for reuse, but every attach
//! takes a connection over for good, so a run opens a few per container. Without sharing, each
//! of them is a whole ssh handshake (a key exchange and a login, 0.2-0.5 s on a loaded machine),
//! which made a run over ssh three times as slow as the same engine's unix socket. So the
//! processes of one client share one ssh session: OpenSSH connection multiplexing
//! (`ControlMaster=auto`) with a control socket in a private directory of this process
//! (removed with the client), kept for a few seconds after its last connection
//! (`ControlPersist`); each connection is then a channel of that session, which costs a few
//! milliseconds. What ssh printed on stderr is kept, so that a failed handshake ("Host key
//! verification failed", "Permission denied", "Connection refused") reaches the user instead of
//! hyper's "connection closed".

use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard::{ClientVersion, Docker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::endpoint::SshTarget;

/// What the last ssh process printed on stderr (trimmed), for error messages.
#[derive(Clone, Default)]
pub struct SshStderr(Arc<Mutex<String>>);

impl SshStderr {
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
struct Connector {
    target: SshTarget,
    stderr: SshStderr,
    /// Where the shared session's control socket lives (`None`: every connection is its own
    /// session); the directory goes when the last clone of the connector does.
    control: Option<Arc<tempfile::TempDir>>,
    /// Connections dialled ahead of need. Even as a channel of a shared session, a connection
    /// costs the far side a session and a `docker` process (about half a second on a loaded
    /// machine), and every attach needs a new one; dialled while the previous container runs,
    /// that cost is hidden.
    spares: Arc<Mutex<Vec<tokio::task::JoinHandle<std::io::Result<SshStream>>>>>,
}

/// Connections kept dialled ahead of need.
const SPARES: usize = 2;

/// How long the shared session outlives its last connection: long enough to bridge the gaps
/// between a run's calls, short enough not to linger after the run.
const CONTROL_PERSIST_SECS: u32 = 10;

/// A private directory for the control socket, when its path fits a unix socket address
/// (108 bytes, and ssh appends a 40-character hash and a temporary suffix).
fn control_dir() -> Option<Arc<tempfile::TempDir>> {
    let dir = tempfile::Builder::new()
        .prefix("archsmoke-ssh-")
        .tempdir()
        .ok()?;
    (dir.path().as_os_str().len() < 50).then(|| Arc::new(dir))
}

/// One ssh process as an HTTP connection.
struct SshStream {
    // Killed when the connection is dropped.
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

impl Connector {
    /// A connection: a spare dialled earlier when one is ready to hand, else a new one; then
    /// the spares are topped up (only after a connection worked, so that the first ones do
    /// not race each other to become the shared session's master).
    fn next(&self) -> impl Future<Output = std::io::Result<SshStream>> + Send + use<> {
        let this = self.clone();
        async move {
            let spare = this.spares.lock().ok().and_then(|mut s| s.pop());
            let stream = match spare {
                Some(handle) => match handle.await {
                    Ok(Ok(stream)) => Ok(stream),
                    // A spare that failed says nothing the caller's own attempt would not.
                    _ => this.dial().await,
                },
                None => this.dial().await,
            }?;
            if let Ok(mut spares) = this.spares.lock() {
                while spares.len() < SPARES {
                    spares.push(tokio::spawn(this.dial()));
                }
            }
            Ok(stream)
        }
    }

    /// One ssh process running `docker system dial-stdio`, as a stream.
    fn dial(&self) -> impl Future<Output = std::io::Result<SshStream>> + Send + use<> {
        let target = self.target.clone();
        let stderr_slot = self.stderr.clone();
        let shared: Vec<String> = match &self.control {
            Some(dir) => vec![
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!("ControlPath={}/%C", dir.path().display()),
                "-o".into(),
                format!("ControlPersist={CONTROL_PERSIST_SECS}"),
            ],
            None => Vec::new(),
        };
        async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(shared)
                .args(target.ssh_args())
                .args(["docker", "system", "dial-stdio"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let (Some(stdin), Some(stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(std::io::Error::other("ssh started without its pipes"));
            };
            tokio::spawn(async move {
                let mut text = String::new();
                // Bounded: a chatty remote cannot grow this without limit.
                let _ = (&mut stderr)
                    .take(64 * 1024)
                    .read_to_string(&mut text)
                    .await;
                if !text.trim().is_empty()
                    && let Ok(mut slot) = stderr_slot.0.lock()
                {
                    *slot = text;
                }
            });
            Ok(SshStream {
                _child: child,
                stdin,
                stdout,
            })
        }
    }
}

/// A bollard client whose connections are ssh processes; also returns the stderr slot.
pub fn connect(
    target: SshTarget,
    timeout_secs: u64,
    version: &ClientVersion,
) -> Result<(Docker, SshStderr), bollard::errors::Error> {
    let stderr = SshStderr::default();
    let connector = Connector {
        target,
        stderr: stderr.clone(),
        control: control_dir(),
        spares: Arc::default(),
    };
    // Every connection is an ssh process, its replies bounded like any engine's.
    let dialer = super::transport::Dialer::new(move || connector.next());
    let docker = super::transport::client(dialer, timeout_secs, version)?;
    Ok((docker, stderr))
}
