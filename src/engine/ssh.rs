//! `ssh://` engines, reached as the docker CLI reaches them: the system `ssh` client runs
//! `docker system dial-stdio` on the remote machine and the HTTP API flows over its stdin and
//! stdout. Using the system client means the user's `~/.ssh/config`, agent, keys and
//! known_hosts apply unchanged (bollard's own `ssh` feature also drives the system client, but
//! through the `openssh` crate's ControlMaster per connection and without a port in the URL).
//!
//! Each HTTP connection is one ssh process; hyper keeps idle ones for reuse. What ssh printed on
//! stderr is kept, so that a failed handshake ("Host key verification failed", "Permission
//! denied", "Connection refused") reaches the user instead of hyper's "connection closed".

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
    /// One ssh process running `docker system dial-stdio`, as a stream.
    fn dial(&self) -> impl Future<Output = std::io::Result<SshStream>> + Send + use<> {
        let target = self.target.clone();
        let stderr_slot = self.stderr.clone();
        async move {
            let mut child = tokio::process::Command::new("ssh")
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
    };
    // Every connection is an ssh process, its replies bounded like any engine's.
    let dialer = super::transport::Dialer::new(move || connector.dial());
    let docker = super::transport::client(dialer, timeout_secs, version)?;
    Ok((docker, stderr))
}
