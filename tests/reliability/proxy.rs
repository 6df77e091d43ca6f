//! A fault-injecting byte proxy for the fault tests: a Unix socket in front of the Docker socket,
//! or a TCP port in front of the registry. It can be killed (listener and every connection
//! closed, as when a daemon dies) or frozen (connections accepted, nothing forwarded, as when a
//! daemon hangs), and can kill itself after N HTTP requests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    fn shutdown(&self, how: Shutdown) {
        // Already closed by the other side is fine: the point is that it is closed.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
enum Upstream {
    Unix(PathBuf),
    Tcp(String),
}

impl Upstream {
    fn connect(&self) -> std::io::Result<Stream> {
        Ok(match self {
            Upstream::Unix(p) => Stream::Unix(UnixStream::connect(p)?),
            Upstream::Tcp(a) => Stream::Tcp(TcpStream::connect(a)?),
        })
    }
}

#[derive(Default)]
struct Shared {
    dead: AtomicBool,
    frozen: AtomicBool,
    requests: AtomicUsize,
    kill_after: Option<usize>,
    /// Freeze once a request carrying these bytes (a request line) goes through.
    freeze_on: Mutex<Option<Vec<u8>>>,
    open: Mutex<Vec<Stream>>,
}

impl Shared {
    fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        for s in self.open.lock().expect("proxy lock").drain(..) {
            s.shutdown(Shutdown::Both);
        }
    }
}

pub struct Proxy {
    shared: Arc<Shared>,
    /// `unix:///...` or `127.0.0.1:PORT`.
    pub address: String,
    socket: Option<PathBuf>,
}

impl Proxy {
    /// A Unix socket at `listen` forwarding to the Unix socket `upstream`.
    pub fn unix(listen: &Path, upstream: &Path) -> Proxy {
        let listener = UnixListener::bind(listen).expect("bind the proxy socket");
        listener.set_nonblocking(true).expect("non-blocking");
        let shared = Arc::new(Shared::default());
        let up = Upstream::Unix(upstream.to_owned());
        let s = shared.clone();
        thread::spawn(move || {
            accept_loop(&s, &up, || {
                listener.accept().map(|(c, _)| {
                    c.set_nonblocking(false).expect("blocking");
                    Stream::Unix(c)
                })
            })
        });
        Proxy {
            shared,
            address: format!("unix://{}", listen.display()),
            socket: Some(listen.to_owned()),
        }
    }

    /// A loopback TCP port forwarding to `upstream` (`host:port`), killing itself once it has
    /// forwarded `kill_after` HTTP requests.
    pub fn tcp(upstream: &str, kill_after: Option<usize>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy port");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("local address").to_string();
        let shared = Arc::new(Shared {
            kill_after,
            ..Shared::default()
        });
        let up = Upstream::Tcp(upstream.to_owned());
        let s = shared.clone();
        thread::spawn(move || {
            accept_loop(&s, &up, || {
                listener.accept().map(|(c, _)| {
                    c.set_nonblocking(false).expect("blocking");
                    Stream::Tcp(c)
                })
            })
        });
        Proxy {
            shared,
            address,
            socket: None,
        }
    }

    /// Close the listener and every connection, as a dying daemon does.
    pub fn kill(&self) {
        self.shared.kill();
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Stop forwarding anything, in either direction, on new and existing connections.
    pub fn freeze(&self) {
        self.shared.frozen.store(true, Ordering::SeqCst);
    }

    /// Freeze (as [`Proxy::freeze`]) as soon as a request containing `marker` is forwarded,
    /// e.g. `/images/load`: a daemon that hangs in the middle of that one call.
    pub fn freeze_on(&self, marker: &str) {
        *self.shared.freeze_on.lock().expect("proxy lock") = Some(marker.as_bytes().to_vec());
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

fn accept_loop(
    shared: &Arc<Shared>,
    upstream: &Upstream,
    mut accept: impl FnMut() -> std::io::Result<Stream>,
) {
    while !shared.dead.load(Ordering::SeqCst) {
        let client = match accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => return,
        };
        let Ok(server) = upstream.connect() else {
            client.shutdown(Shutdown::Both);
            continue;
        };
        {
            let mut open = shared.open.lock().expect("proxy lock");
            open.push(client.try_clone().expect("clone"));
            open.push(server.try_clone().expect("clone"));
        }
        let (c2, s2) = (
            client.try_clone().expect("clone"),
            server.try_clone().expect("clone"),
        );
        let (sh1, sh2) = (shared.clone(), shared.clone());
        thread::spawn(move || pump(&sh1, client, server, true));
        thread::spawn(move || pump(&sh2, s2, c2, false));
    }
}

fn pump(shared: &Shared, mut from: Stream, mut to: Stream, requests: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while shared.frozen.load(Ordering::SeqCst) && !shared.dead.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
        if shared.dead.load(Ordering::SeqCst) {
            break;
        }
        if requests {
            let lines = buf[..n]
                .windows(11)
                .filter(|w| *w == b" HTTP/1.1\r\n")
                .count();
            let total = shared.requests.fetch_add(lines, Ordering::SeqCst) + lines;
            if shared.kill_after.is_some_and(|max| total > max) {
                shared.kill();
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if requests
            && let Some(marker) = shared.freeze_on.lock().expect("proxy lock").as_deref()
            && buf[..n].windows(marker.len()).any(|w| w == marker)
        {
            shared.frozen.store(true, Ordering::SeqCst);
        }
    }
    to.shutdown(Shutdown::Write);
}
