//! How bytes reach an engine, with every reply bounded: an engine is untrusted input, and bollard
//! reads a whole reply (`/version`, `/info`, an inspect, an error body) into memory before it
//! parses it, so an engine streaming an endless body would grow the process without limit.
//!
//! bollard's own transports hide their connections, so archsmoke dials them itself (a unix
//! socket, TCP, TCP with TLS, and ssh in [`super::ssh`]) and hands bollard a custom transport
//! whose every connection is a [`Bounded`] stream. That stream watches the HTTP/1.1 exchange
//! going through it: the request line it writes says what the reply is, and the reply's status
//! line how much of it may come. A reply to a call that answers with one document may be
//! [`REPLY_LIMIT`] long, an error reply (status 400 and up) [`ERROR_LIMIT`]; streams (pull and
//! load progress, attach, logs, `docker save`) are bounded by their readers, and an upgraded
//! connection (attach, exec: status 101) is no longer HTTP at all. A reply over its bound fails
//! the read with an error that says so, and the call fails with it.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest reply to a call that answers with one document. `/info` is a few KiB and a list
/// of every container of a busy engine a few MiB.
pub const REPLY_LIMIT: u64 = 32 << 20;
/// The longest error reply (a status of 400 or more): an error message, never a document.
pub const ERROR_LIMIT: u64 = 1 << 20;
/// The longest TLS file (`ca.pem`, `cert.pem`, `key.pem`) read: a chain of certificates is KiBs.
pub const TLS_FILE_LIMIT: u64 = 1 << 20;

/// The body type of bollard's requests (its alias is private; the request type is not).
pub(super) trait RequestBody {
    type Body;
}
impl<B> RequestBody for http::Request<B> {
    type Body = B;
}
pub(super) type Body = <BollardRequest as RequestBody>::Body;

/// Whether a reply to `method path` (without the API version prefix) is one document rather
/// than a stream.
fn is_document(method: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let path = match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.find('/').map_or("", |i| &rest[i..])
        }
        _ => path,
    };
    const STREAM_ENDS: [&str; 6] = ["/attach", "/logs", "/export", "/get", "/stats", "/archive"];
    const STREAMS: [&str; 6] = [
        "/images/create",
        "/images/load",
        "/images/get",
        "/events",
        "/build",
        "/session",
    ];
    let stream = STREAMS.contains(&path)
        || STREAM_ENDS.iter().any(|e| path.ends_with(e))
        || (path.starts_with("/exec/") && path.ends_with("/start"))
        || (path.starts_with("/images/") && path.ends_with("/push"));
    !(stream || method == "CONNECT")
}

/// Where one connection is in its HTTP/1.1 exchange.
#[derive(Debug, Default)]
struct Exchange {
    /// The request line being written (up to its end or 8 KiB).
    request: Vec<u8>,
    /// The next write starts a request.
    at_request: bool,
    /// The request written: `(method, path)`, until its reply starts.
    asked: Option<(String, String)>,
    /// What the reply being read answers, and its status line's first bytes.
    answering: Option<(String, String)>,
    status: Vec<u8>,
    /// Bytes of the reply read so far and the bound on them.
    read: u64,
    limit: Option<u64>,
    /// Status 101: the connection is a raw stream from here on.
    upgraded: bool,
}

impl Exchange {
    fn new() -> Exchange {
        Exchange {
            at_request: true,
            ..Exchange::default()
        }
    }

    fn wrote(&mut self, bytes: &[u8]) {
        if self.upgraded || !self.at_request {
            return;
        }
        let room = 8192usize.saturating_sub(self.request.len());
        self.request
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        let end = self.request.windows(2).position(|w| w == b"\r\n");
        if end.is_none() && self.request.len() < 8192 {
            return;
        }
        let line = String::from_utf8_lossy(&self.request[..end.unwrap_or(self.request.len())])
            .into_owned();
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        self.asked = Some((method, path));
        self.request.clear();
        self.at_request = false;
    }

    /// Account for `bytes` just read; an error when the reply went over its bound.
    fn read(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.upgraded || bytes.is_empty() {
            return Ok(());
        }
        if let Some(asked) = self.asked.take() {
            // A reply starts; whatever is written next is the next request.
            self.answering = Some(asked);
            self.status.clear();
            self.read = 0;
            self.limit = None;
            self.at_request = true;
        }
        if self.status.len() < 12 {
            let take = (12 - self.status.len()).min(bytes.len());
            self.status.extend_from_slice(&bytes[..take]);
            if self.status.len() == 12 {
                let code = std::str::from_utf8(&self.status[9..12])
                    .ok()
                    .and_then(|c| c.parse::<u16>().ok());
                let (method, path) = self.answering.clone().unwrap_or_default();
                self.limit = match code {
                    Some(101) => {
                        self.upgraded = true;
                        return Ok(());
                    }
                    Some(c) if c >= 400 => Some(ERROR_LIMIT),
                    _ if is_document(&method, &path) => Some(REPLY_LIMIT),
                    _ => None,
                };
            }
        }
        self.read += bytes.len() as u64;
        match self.limit {
            Some(limit) if self.read > limit => {
                let (method, path) = self.answering.clone().unwrap_or_default();
                Err(io::Error::other(format!(
                    "the engine's reply to {method} {} passed {} MiB, archsmoke's bound on one \
                     reply: this is not a Docker Engine, or a broken one",
                    path.split('?').next().unwrap_or_default(),
                    limit >> 20
                )))
            }
            _ => Ok(()),
        }
    }
}

/// A connection to an engine whose replies are bounded (see the module's documentation).
pub struct Bounded<S> {
    inner: S,
    exchange: Exchange,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Bounded<S> {
        Bounded {
            inner,
            exchange: Exchange::new(),
        }
    }
}

impl<S> Connection for Bounded<S> {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => Poll::Ready(this.exchange.read(&buf.filled()[before..])),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.exchange.wrote(&buf[..n]);
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Dialled = TokioIo<Bounded<Pin<Box<dyn Stream>>>>;

/// What a connector dials: a socket, a TLS session or an ssh process.
pub trait Stream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Stream for T {}

type DialFuture = Pin<Box<dyn Future<Output = io::Result<Dialled>> + Send>>;

/// A connector from a function that opens one stream.
#[derive(Clone)]
pub(super) struct Dialer(Arc<dyn Fn() -> DialFuture + Send + Sync>);

impl Dialer {
    pub(super) fn new<F, S>(dial: impl Fn() -> F + Send + Sync + 'static) -> Dialer
    where
        F: Future<Output = io::Result<S>> + Send + 'static,
        S: Stream + 'static,
    {
        Dialer(Arc::new(move || {
            let opened = dial();
            Box::pin(async move {
                let stream: Pin<Box<dyn Stream>> = Box::pin(opened.await?);
                Ok(TokioIo::new(Bounded::new(stream)))
            })
        }))
    }
}

impl tower_service::Service<http::Uri> for Dialer {
    type Response = Dialled;
    type Error = io::Error;
    type Future = DialFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        (self.0)()
    }
}

/// A bollard client whose connections `dialer` opens; `host` is never dialled by bollard, it
/// only forms request URIs.
pub(super) fn client(
    dialer: Dialer,
    timeout_secs: u64,
    version: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let client: Arc<Client<Dialer, Body>> =
        Arc::new(Client::builder(TokioExecutor::new()).build(dialer));
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = Arc::clone(&client);
            Box::pin(async move {
                client
                    .request(request)
                    .await
                    .map_err(|err| bollard::errors::Error::HyperLegacyError { err })
            })
        },
        Some("http://engine"),
        timeout_secs,
        version,
    )
}

/// A unix socket's engine.
pub(super) fn unix(path: &str) -> Dialer {
    let path = path.to_owned();
    Dialer::new(move || tokio::net::UnixStream::connect(path.clone()))
}

/// A plain TCP engine at `address` (`host:port`).
pub(super) fn tcp(address: &str) -> Dialer {
    let address = address.to_owned();
    Dialer::new(move || {
        let address = address.clone();
        async move {
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        }
    })
}

/// A TCP engine at `address` behind TLS: its certificate must be signed by `ca`, and archsmoke
/// shows `cert` and `key`, as the docker CLI does with `--tlsverify`.
pub(super) fn tls(address: &str, files: &super::TlsFiles) -> Result<Dialer, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let ca = read_bounded(&files.ca)?;
    let cert = read_bounded(&files.cert)?;
    let key = read_bounded(&files.key)?;
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_slice_iter(&ca)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", files.ca.display()))?;
    let (added, _) = roots.add_parsable_certificates(cas);
    if added == 0 {
        return Err(format!(
            "{} holds no usable certificate",
            files.ca.display()
        ));
    }
    let chain = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("{}: no PEM private key: {e}", files.key.display()))?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let host = address
        .rsplit_once(':')
        .map_or(address, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = ServerName::try_from(host.clone())
        .map_err(|e| format!("{host} is not a name TLS can verify: {e}"))?;
    let address = address.to_owned();
    Ok(Dialer::new(move || {
        let (address, name, connector) = (address.clone(), name.clone(), connector.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(address).await?;
            tcp.set_nodelay(true)?;
            connector.connect(name, tcp).await
        }
    }))
}

/// A TLS file ([`crate::userfile`]: regular, at most [`TLS_FILE_LIMIT`]).
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    crate::userfile::read(path, TLS_FILE_LIMIT).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(request: &str, reply: &[&[u8]]) -> io::Result<()> {
        let mut e = Exchange::new();
        e.wrote(request.as_bytes());
        for chunk in reply {
            e.read(chunk)?;
        }
        Ok(())
    }

    #[test]
    fn documents_and_streams_are_told_apart() {
        assert!(is_document("GET", "/v1.47/version"));
        assert!(is_document("GET", "/v1.47/containers/abc/json?size=false"));
        assert!(is_document("GET", "/containers/abc/top"));
        assert!(!is_document("POST", "/v1.47/images/create?fromImage=x"));
        assert!(!is_document(
            "POST",
            "/v1.47/containers/abc/attach?stream=1"
        ));
        assert!(!is_document("GET", "/v1.47/images/x/get"));
        assert!(!is_document("POST", "/v1.47/exec/abc/start"));
    }

    #[test]
    fn a_document_reply_is_bounded_and_a_stream_is_not() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let big = vec![b'a'; (REPLY_LIMIT + 1) as usize];
        let err = exchange("GET /v1.47/version HTTP/1.1\r\n", &[head, &big]).expect_err("bound");
        assert!(
            err.to_string().contains("GET /v1.47/version passed 32 MiB"),
            "{err}"
        );
        exchange("GET /v1.47/images/x/get HTTP/1.1\r\n", &[head, &big]).expect("a stream");
    }

    #[test]
    fn an_error_reply_is_bounded_on_any_call() {
        let head = b"HTTP/1.1 500 Internal Server Error\r\n\r\n";
        let big = vec![b'a'; (ERROR_LIMIT + 1) as usize];
        let err = exchange("POST /images/create HTTP/1.1\r\n", &[head, &big]).expect_err("bound");
        assert!(err.to_string().contains("passed 1 MiB"), "{err}");
    }

    #[test]
    fn an_upgraded_connection_is_a_raw_stream() {
        let head = b"HTTP/1.1 101 UPGRADED\r\n\r\n";
        let mut e = Exchange::new();
        e.wrote(b"POST /containers/x/attach HTTP/1.1\r\n");
        e.read(head).expect("head");
        // What the relay's client writes looks like a request; it is data now.
        e.wrote(b"GET / HTTP/1.1\r\n");
        e.read(&vec![b'a'; (REPLY_LIMIT * 2) as usize])
            .expect("unbounded");
    }

    #[test]
    fn each_reply_on_a_kept_connection_is_counted_from_its_start() {
        let mut e = Exchange::new();
        let part = vec![b'a'; (REPLY_LIMIT / 2) as usize];
        for _ in 0..4 {
            e.wrote(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
            e.read(b"HTTP/1.1 200 OK\r\n\r\n").expect("head");
            e.read(&part).expect("under the bound");
        }
    }
}
