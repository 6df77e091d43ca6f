//! `ssh://` engines, reached as the docker CLI reaches them: through the system `ssh` client, so
//! that the user's `~/.ssh/config`, agent, keys and known_hosts apply unchanged (bollard's own
//! `ssh` feature also drives the system client, but through the `openssh` crate's ControlMaster
//! per connection and without a port in the URL).
//!
//! A run opens many HTTP connections: hyper keeps idle ones for reuse, but every attach takes a
//! connection over for good, so a run opens about one per container. The docker CLI makes each
//! one an ssh process running `docker system dial-stdio` on the far side: a whole ssh login
//! (key exchange) plus a remote session and a Go program's start, 0.2-0.5 s each on a loaded
//! machine. So a client logs in once, as an OpenSSH connection-sharing master (`ControlMaster`,
//! control socket in a private directory of this process, removed with the client; the master
//! stays a few seconds after its last channel, `ControlPersist`), the login's one session asking
//! the far side's docker CLI which socket it would dial (`docker context inspect`:
//! `DOCKER_HOST`, the current context), and has the master forward that socket to a socket in the
//! same private directory (`ssh -O forward -L`). A connection is then a channel of the shared session to the engine's
//! socket: a local connect and one round trip, no process on either side. The forward is used
//! only once the engine answered `/_ping` through it; when the far side's engine is not on a
//! unix socket, or its sshd refuses forwarding, every connection is `docker system dial-stdio`
//! as a channel of the shared session (with two dialled ahead of need). What ssh printed on
//! stderr is kept, so that a failed login ("Host key verification failed", "Permission
//! denied", "Connection refused") reaches the user instead of hyper's "connection closed".

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bollard::{ClientVersion, Docker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::UnixStream;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::OnceCell;

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

    fn set(&self, text: String) {
        if !text.trim().is_empty()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = text;
        }
    }
}

/// How the login went: in, with what `docker context inspect` printed (or why not), or not.
enum Login {
    In(Result<String, String>),
    Failed(String),
}

/// How a client's connections reach the engine, decided by its first connection.
#[derive(Debug, Clone)]
enum Route {
    /// The far side's engine socket, forwarded by the shared session to this local socket.
    Forwarded(PathBuf),
    /// A `docker system dial-stdio` process per connection.
    Stdio,
    /// The login failed: every connection would fail the same way (ssh's words are in the
    /// stderr slot).
    Failed(String),
}

#[derive(Clone)]
struct Connector {
    target: SshTarget,
    stderr: SshStderr,
    /// Where the shared session's control socket (and the forwarded engine socket) live
    /// (`None`: every connection is its own session); the directory goes when the last clone of
    /// the connector does.
    control: Option<Arc<tempfile::TempDir>>,
    route: Arc<OnceCell<Route>>,
    /// The forwarded socket stopped answering (the master is gone): dial-stdio from then on.
    forward_lost: Arc<AtomicBool>,
    /// Connections dialled ahead of need on the dial-stdio route. Even as a channel of a shared
    /// session, such a connection costs the far side a session and a `docker` process (about
    /// half a second on a loaded machine), and every attach needs a new one; dialled while the
    /// previous container runs, that cost is hidden.
    spares: Arc<Mutex<Vec<tokio::task::JoinHandle<std::io::Result<SshStream>>>>>,
}

/// Connections kept dialled ahead of need (dial-stdio route only).
const SPARES: usize = 2;

/// How long the shared session outlives its last channel: long enough to bridge the gaps
/// between a run's calls (hyper's idle connections are open channels too), short enough not to
/// linger after the run.
const CONTROL_PERSIST_SECS: u32 = 10;

/// The login, the far side's `docker context inspect`, the forward and its `/_ping`: each gets
/// this long (ssh's own `ConnectTimeout` bounds the TCP connect within the login).
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The most of `docker context inspect`'s output read: one context is a few hundred bytes.
const INSPECT_LIMIT: u64 = 64 << 10;

/// The name of the forwarded engine socket in the private directory.
const FORWARD_NAME: &str = "engine.sock";

/// A private directory for the control socket, when its path fits a unix socket address
/// (108 bytes, and ssh appends a 40-character hash and a temporary suffix).
fn control_dir() -> Option<Arc<tempfile::TempDir>> {
    let dir = tempfile::Builder::new()
        .prefix("archsmoke-ssh-")
        .tempdir()
        .ok()?;
    (dir.path().as_os_str().len() < 50).then(|| Arc::new(dir))
}

/// The engine socket path in `docker context inspect`'s JSON (an array of contexts, the
/// current one first), when it is a unix socket whose path can go in an `-L` argument.
fn remote_socket(inspect: &str) -> Result<String, String> {
    let json: serde_json::Value =
        serde_json::from_str(inspect).map_err(|e| format!("not JSON ({e})"))?;
    let host = json
        .get(0)
        .and_then(|c| c.pointer("/Endpoints/docker/Host"))
        .and_then(|h| h.as_str())
        .ok_or("no Endpoints.docker.Host")?;
    let path = host
        .strip_prefix("unix://")
        .ok_or_else(|| format!("{host} is not a unix socket"))?;
    // `-L local:remote` splits at ':'; anything beyond a plain path is left to dial-stdio.
    let plain = path.starts_with('/')
        && path.len() < 200
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b));
    if plain {
        Ok(path.to_owned())
    } else {
        Err(format!("{host}: not a plain socket path"))
    }
}

/// Whether `head` starts an HTTP 200 reply.
fn is_ok_reply(head: &[u8]) -> bool {
    head.len() >= 12 && head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// One ssh process as an HTTP connection.
struct SshStream {
    // Killed when the connection is dropped.
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// One connection to the engine: a channel to its forwarded socket, or an ssh process.
enum Link {
    Forwarded(UnixStream),
    Process(Box<SshStream>),
}

impl AsyncRead for Link {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Link::Forwarded(s) => Pin::new(s).poll_read(cx, buf),
            Link::Process(p) => Pin::new(&mut p.stdout).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Link::Forwarded(s) => Pin::new(s).poll_write(cx, buf),
            Link::Process(p) => Pin::new(&mut p.stdin).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Link::Forwarded(s) => Pin::new(s).poll_flush(cx),
            Link::Process(p) => Pin::new(&mut p.stdin).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Link::Forwarded(s) => Pin::new(s).poll_shutdown(cx),
            Link::Process(p) => Pin::new(&mut p.stdin).poll_shutdown(cx),
        }
    }
}

impl Connector {
    /// A connection: through the forwarded socket when the route has one, else a dial-stdio
    /// process (a spare dialled earlier when one is ready to hand, else a new one; then the
    /// spares are topped up).
    fn next(&self) -> impl Future<Output = std::io::Result<Link>> + Send + use<> {
        let this = self.clone();
        async move {
            let started = Instant::now();
            let route = this.route.get_or_init(|| this.decide()).await.clone();
            match route {
                Route::Failed(why) => return Err(std::io::Error::other(why)),
                Route::Forwarded(path) if !this.forward_lost.load(Ordering::Relaxed) => {
                    match UnixStream::connect(&path).await {
                        Ok(stream) => {
                            tracing::trace!(elapsed = ?started.elapsed(), "ssh: forwarded connection");
                            return Ok(Link::Forwarded(stream));
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "ssh: the forwarded engine socket is gone; dialling docker system dial-stdio from here on");
                            this.forward_lost.store(true, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
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
            tracing::debug!(elapsed = ?started.elapsed(), "ssh: docker system dial-stdio connection");
            Ok(Link::Process(Box::new(stream)))
        }
    }

    /// The route of every connection of this client: log in once as the shared session's
    /// master (its first session asks the far side's docker CLI for its socket), then forward
    /// that socket when an engine answers through it.
    async fn decide(&self) -> Route {
        let Some(dir) = self.control.clone() else {
            return Route::Stdio;
        };
        let started = Instant::now();
        let inspect = match self.log_in().await {
            Login::Failed(why) => return Route::Failed(why),
            Login::In(inspect) => inspect,
        };
        tracing::debug!(elapsed = ?started.elapsed(), "ssh: logged in (shared session)");
        let local = dir.path().join(FORWARD_NAME);
        let forwarded = match inspect {
            Ok(text) => match remote_socket(&text) {
                Ok(remote) => self.forward(&remote, &local).await.map(|()| remote),
                Err(why) => Err(why),
            },
            Err(why) => Err(why),
        };
        match forwarded {
            Ok(remote) => {
                tracing::debug!(
                    elapsed = ?started.elapsed(),
                    remote = %remote,
                    "ssh: the engine's socket is forwarded; connections are channels of the shared session"
                );
                Route::Forwarded(local)
            }
            Err(why) => {
                tracing::debug!(
                    elapsed = ?started.elapsed(),
                    "ssh: no forwarded socket ({why}); every connection runs docker system dial-stdio"
                );
                Route::Stdio
            }
        }
    }

    /// The options that make an ssh process use (or become) the shared session.
    fn shared(&self, master: &str) -> Vec<String> {
        match &self.control {
            Some(dir) => vec![
                "-o".into(),
                format!("ControlMaster={master}"),
                "-o".into(),
                format!("ControlPath={}/%C", dir.path().display()),
                "-o".into(),
                format!("ControlPersist={CONTROL_PERSIST_SECS}"),
            ],
            None => Vec::new(),
        }
    }

    /// An ssh command: the shared-session options, `extra` options, the target, `remote`.
    fn command(&self, master: &str, extra: &[&str], remote: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ssh");
        command
            .args(self.shared(master))
            .args(extra)
            .args(self.target.ssh_args())
            .args(remote)
            .kill_on_drop(true);
        command
    }

    /// Log in as the shared session's master (which `ControlPersist` moves to the background
    /// and ends after its last channel), its one session running `docker context inspect`: a
    /// session costs the far side a login's worth of setup (PAM, a shell), so the question is
    /// asked in the login's own.
    async fn log_in(&self) -> Login {
        let spawned = self
            .command("yes", &[], &["docker", "context", "inspect"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Login::Failed(format!("cannot run ssh: {e}")),
        };
        // Each read by a task of its own, bounded: an older ssh's background master may keep
        // a pipe open after the login's own process has exited.
        let out = child.stdout.take().map(|stdout| {
            tokio::spawn(async move {
                let mut text = String::new();
                let mut bounded = stdout.take(INSPECT_LIMIT);
                bounded.read_to_string(&mut text).await.map(|_| text)
            })
        });
        let err = child.stderr.take().map(|stderr| {
            let slot = self.stderr.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = stderr.take(64 * 1024).read_to_string(&mut text).await;
                slot.set(text.clone());
                text
            })
        });
        let status = match tokio::time::timeout(STEP_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Login::Failed(format!("ssh: {e}")),
            Err(_) => return Login::Failed(format!("ssh did not log in within {STEP_TIMEOUT:?}")),
        };
        let grace = Duration::from_secs(1);
        // 255 is ssh's own failure (no login); any other status is the remote command's.
        if status.code() == Some(255) {
            let said = match err {
                Some(task) => tokio::time::timeout(grace, task)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default(),
                None => String::new(),
            };
            return Login::Failed(match said.trim() {
                "" => format!("ssh exited with {status}"),
                said => format!("ssh: {said}"),
            });
        }
        if !status.success() {
            return Login::In(Err(format!("docker context inspect exited with {status}")));
        }
        let text = match out {
            Some(task) => match tokio::time::timeout(grace, task).await {
                Ok(Ok(Ok(text))) => Ok(text),
                _ => Err("docker context inspect's output could not be read".to_owned()),
            },
            None => Err("ssh started without its pipes".to_owned()),
        };
        Login::In(text)
    }

    /// Forward the far side's socket `remote` to `local` through the shared session, and check
    /// that an engine answers there.
    async fn forward(&self, remote: &str, local: &Path) -> Result<(), String> {
        let spec = format!("{}:{remote}", local.display());
        let forwarded = self
            .command("no", &["-O", "forward", "-L", &spec], &[])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match tokio::time::timeout(STEP_TIMEOUT, forwarded).await {
            Ok(Ok(status)) if status.success() => {}
            _ => return Err(format!("ssh -O forward of {remote} failed")),
        }
        // A server that refuses forwarding accepts the local connection and then closes it.
        tokio::time::timeout(STEP_TIMEOUT, ping(local))
            .await
            .map_err(|_| format!("no answer to /_ping through the forward of {remote}"))?
            .map_err(|e| format!("/_ping through the forward of {remote}: {e}"))
    }

    /// One ssh process running `docker system dial-stdio`, as a stream.
    fn dial(&self) -> impl Future<Output = std::io::Result<SshStream>> + Send + use<> {
        let command = self.command("auto", &[], &["docker", "system", "dial-stdio"]);
        let stderr_slot = self.stderr.clone();
        async move {
            let mut command = command;
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
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
                stderr_slot.set(text);
            });
            Ok(SshStream {
                _child: child,
                stdin,
                stdout,
            })
        }
    }
}

/// `GET /_ping` on the socket at `path`: Ok when an HTTP 200 reply starts.
async fn ping(path: &Path) -> std::io::Result<()> {
    let mut stream = UnixStream::connect(path).await?;
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = Vec::with_capacity(16);
    (&mut stream).take(12).read_to_end(&mut head).await?;
    if is_ok_reply(&head) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "the reply began {:?}",
            String::from_utf8_lossy(&head)
        )))
    }
}

/// A bollard client whose connections go through ssh; also returns the stderr slot.
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
        route: Arc::default(),
        forward_lost: Arc::default(),
        spares: Arc::default(),
    };
    // Every connection's replies are bounded like any engine's.
    let dialer = super::transport::Dialer::new(move || connector.next());
    let docker = super::transport::client(dialer, timeout_secs, version)?;
    Ok((docker, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_socket_comes_from_the_current_context() {
        let one = r#"[{"Name":"default","Endpoints":{"docker":{"Host":"unix:///run/docker.sock","SkipTLSVerify":false}}}]"#;
        assert_eq!(remote_socket(one).as_deref(), Ok("/run/docker.sock"));
        let user = r#"[{"Endpoints":{"docker":{"Host":"unix:///run/user/1000/docker.sock"}}}]"#;
        assert_eq!(
            remote_socket(user).as_deref(),
            Ok("/run/user/1000/docker.sock")
        );
    }

    #[test]
    fn only_a_plain_unix_socket_path_is_forwarded() {
        for host in [
            "tcp://10.0.0.1:2376",
            "ssh://other",
            "unix://relative.sock",
            "unix:///a:b.sock",
            "unix:///a b.sock",
            "unix:///a\nb",
            "npipe:////./pipe/docker_engine",
        ] {
            let json = format!(r#"[{{"Endpoints":{{"docker":{{"Host":"{host}"}}}}}}]"#);
            assert!(remote_socket(&json).is_err(), "{host}");
        }
        assert!(remote_socket("docker: command not found").is_err());
        assert!(remote_socket("[]").is_err());
    }

    #[test]
    fn only_a_200_status_line_is_an_answer() {
        assert!(is_ok_reply(b"HTTP/1.1 200 OK\r\n"));
        assert!(is_ok_reply(b"HTTP/1.0 200 "));
        assert!(!is_ok_reply(b"HTTP/1.1 404 Not"));
        assert!(!is_ok_reply(b"SSH-2.0-Open"));
        assert!(!is_ok_reply(b""));
    }
}
