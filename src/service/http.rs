//! One HTTP/1.1 exchange over a relay stream, spoken by hyper: the request the spec describes
//! (with `Connection: close`, since each probe gets its own relay), and the answer's status,
//! headers and body, the body bounded like test output (its tail beyond the limit is counted,
//! not kept). With `scheme = "https"`, tokio-rustls runs the TLS handshake over the same relay
//! stream first, verifying the service against the system's roots, a `ca` file, or not at all.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONNECTION, HOST};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::check::service::HttpAnswer;
use crate::engine::RelayStream;
use crate::spec::{HttpRequest, TlsOptions, TlsVerify};

/// Why an exchange gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// The service's TLS is wrong for this request (its certificate does not verify, or it does
    /// not speak TLS at all): a finding about the service, or about the spec's TLS options.
    Tls(String),
    /// Anything else: the connection broke, the answer was not HTTP, a CA file is unreadable.
    Other(String),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(m) | Self::Other(m) => f.write_str(m),
        }
    }
}

impl From<ExchangeError> for String {
    fn from(e: ExchangeError) -> Self {
        e.to_string()
    }
}

/// Send `request` over `stream` and read the whole answer.
pub async fn exchange(
    stream: RelayStream,
    request: &HttpRequest,
    limit: usize,
) -> Result<HttpAnswer, ExchangeError> {
    let io = tokio::io::join(stream.read, stream.write);
    let Some(tls) = &request.tls else {
        return speak(io, request, limit)
            .await
            .map_err(ExchangeError::Other);
    };
    let config = client_config(tls).map_err(ExchangeError::Other)?;
    let name = ServerName::try_from(tls.server_name.clone())
        .map_err(|e| ExchangeError::Other(format!("bad server_name {}: {e}", tls.server_name)))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, io)
        .await
        .map_err(|e| handshake_failed(&e, tls, request.port))?;
    speak(stream, request, limit)
        .await
        .map_err(ExchangeError::Other)
}

/// A client configuration for `tls`, with archsmoke's one crypto provider.
fn client_config(tls: &TlsOptions) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let roots = match &tls.verify {
        TlsVerify::Insecure => {
            return Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth());
        }
        TlsVerify::System => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "this machine has no CA certificates to verify the service with{} (give \
                     `ca = \"ca.pem\"` in the http table, or `insecure = true` for a \
                     self-signed test service)",
                    found
                        .errors
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
            roots
        }
        TlsVerify::Ca(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read the CA file {}: {e} (`ca` is relative to the spec file)",
                    path.display()
                )
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| format!("the CA file {} is not PEM: {e}", path.display()))?;
                roots.add(cert).map_err(|e| {
                    format!(
                        "the CA file {} holds a certificate rustls cannot use: {e}",
                        path.display()
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "the CA file {} holds no certificate (expected PEM blocks \
                     -----BEGIN CERTIFICATE-----)",
                    path.display()
                ));
            }
            roots
        }
    };
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// A failed handshake in the spec's terms: which option to change, or that the service is not
/// a TLS server at all.
fn handshake_failed(e: &std::io::Error, tls: &TlsOptions, port: u16) -> ExchangeError {
    use rustls::{CertificateError, Error};
    let against = match &tls.verify {
        TlsVerify::System => "this machine's CA certificates".to_owned(),
        TlsVerify::Ca(path) => format!("the CA in {}", path.display()),
        TlsVerify::Insecure => "nothing (insecure)".to_owned(),
    };
    let options = "give `ca = \"ca.pem\"` (the CA that signed it, relative to the spec) in the \
                   http table, or `insecure = true` for a self-signed test service";
    let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>());
    match rustls_error {
        Some(Error::InvalidCertificate(CertificateError::NotValidForName))
        | Some(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
            ExchangeError::Tls(format!(
                "the service's certificate on port {port} is not valid for server_name `{}` \
                 ({e}); set `server_name` to a name the certificate holds",
                tls.server_name
            ))
        }
        Some(Error::InvalidCertificate(_)) => ExchangeError::Tls(format!(
            "the service's certificate on port {port} does not verify against {against}: {e}; \
             {options}"
        )),
        Some(Error::InvalidMessage(_)) => ExchangeError::Tls(format!(
            "the service did not speak TLS on port {port}: its answer to the TLS handshake is \
             not TLS ({e}); if it serves plain HTTP there, drop `scheme = \"https\"`"
        )),
        Some(Error::AlertReceived(alert)) => ExchangeError::Tls(format!(
            "the service on port {port} refused the TLS handshake (alert: {alert:?})"
        )),
        Some(other) => ExchangeError::Tls(format!(
            "the TLS handshake with the service on port {port} failed: {other}"
        )),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => ExchangeError::Tls(format!(
            "the service did not speak TLS on port {port}: it closed the connection during the \
             TLS handshake; if it serves plain HTTP there, drop `scheme = \"https\"`"
        )),
        None => ExchangeError::Other(format!(
            "the TLS handshake with the service on port {port} broke off: {e}"
        )),
    }
}

/// `insecure = true`: any certificate is accepted, signatures are still checked so that the
/// handshake itself is sound.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The HTTP/1.1 exchange itself, over plain or TLS bytes.
async fn speak<S>(io: S, request: &HttpRequest, limit: usize) -> Result<HttpAnswer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(async move {
        // Its end (the server closing, as asked) is not an error worth reporting.
        let _ = connection.await;
    });
    let mut builder = Request::builder()
        .method(request.method.as_str())
        .uri(request.path.as_str())
        .header(HOST, request.host.as_str())
        .header(CONNECTION, "close");
    for (k, v) in &request.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
    let built = builder
        .body(body)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let answer = async {
        let response = sender.send_request(built).await.map_err(|e| {
            let mut message = describe("the service did not answer", &e);
            // A TLS server's alert to a plain request does not parse as HTTP.
            if e.is_parse() && request.tls.is_none() {
                message.push_str(
                    " (the answer is not HTTP; if the service speaks TLS on this port, add \
                         scheme = \"https\" to the http table)",
                );
            }
            message
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let mut dropped = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| describe("the answer's body broke off", &e))?;
            if let Ok(data) = frame.into_data() {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                dropped += data.len().saturating_sub(room) as u64;
            }
        }
        Ok(HttpAnswer {
            status,
            headers,
            body: String::from_utf8_lossy(&kept).into_owned(),
            body_dropped: dropped,
        })
    }
    .await;
    driver.abort();
    answer
}

/// The request a redirect asks for, as Go's HTTP client (goss's) makes it: `None` when `answer`
/// is no redirect (301, 302, 303, 307, 308 with a `Location`); an error, said as a finding,
/// when it leads away from the service (another host, another scheme), which a probe from the
/// service's own network namespace cannot follow.
pub fn next_hop(request: &HttpRequest, answer: &HttpAnswer) -> Option<Result<HttpRequest, String>> {
    if !matches!(answer.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = answer
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.as_str())?;
    let location = location.split('#').next().unwrap_or(location);
    let mut next = request.clone();
    // 301, 302 and 303 turn a request other than HEAD into a GET without a body.
    if matches!(answer.status, 301..=303) && request.method != "HEAD" {
        next.method = "GET".into();
        next.body = None;
    }
    let scheme_and_rest = location
        .strip_prefix("http://")
        .map(|r| (false, r))
        .or_else(|| location.strip_prefix("https://").map(|r| (true, r)))
        .or_else(|| {
            location
                .strip_prefix("//")
                .map(|r| (request.tls.is_some(), r))
        });
    if let Some((https, rest)) = scheme_and_rest {
        if https != request.tls.is_some() {
            return Some(Err(format!(
                "a redirect to {location}: another scheme (archsmoke follows redirects on the \
                 probe's own scheme)"
            )));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, p.parse::<u16>().ok())
            }
            _ => (authority, Some(if https { 443 } else { 80 })),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let own = request
            .host
            .rsplit_once(':')
            .map_or(request.host.as_str(), |(h, _)| h);
        let local = matches!(bare, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0")
            || bare.eq_ignore_ascii_case(own.trim_start_matches('[').trim_end_matches(']'));
        let Some(port) = port.filter(|p| *p > 0 && local) else {
            return Some(Err(format!(
                "a redirect to {location}: another host (archsmoke probes the service itself)"
            )));
        };
        next.port = port;
        next.host = authority.to_owned();
        next.path = path;
    } else if location.starts_with('/') {
        next.path = location.to_owned();
    } else {
        // Relative to the current path's directory.
        let base = request.path.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        next.path = format!("{dir}{location}");
    }
    if next
        .path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Some(Err(format!(
            "a redirect to {location:?}: not a path a request can carry"
        )));
    }
    Some(Ok(next))
}

fn describe(what: &str, e: &hyper::Error) -> String {
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hyper over an in-memory pipe, the way it runs over a relay's stdio.
    #[tokio::test]
    async fn a_request_goes_out_as_written_and_the_answer_comes_back_bounded() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(ours);
        let server = tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let mut got = vec![0u8; 4096];
            let n = r.read(&mut got).await.expect("read");
            got.truncate(n);
            w.write_all(
                b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            )
            .await
            .expect("write");
            String::from_utf8(got).expect("utf-8")
        });
        let request = HttpRequest {
            port: 8080,
            method: "POST".into(),
            path: "/submit?x=1".into(),
            host: "127.0.0.1:8080".into(),
            headers: vec![("X-Token".into(), "abc".into())],
            body: Some("payload".into()),
            status: crate::range::IntRange::exactly(201),
            follow_redirects: false,
            tls: None,
        };
        let stream = RelayStream {
            read: Box::pin(read),
            write: Box::pin(write),
        };
        let answer = exchange(stream, &request, 8).await.expect("answer");
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body, "hello wo");
        assert_eq!(answer.body_dropped, 3);
        assert!(
            answer
                .headers
                .contains(&("content-type".into(), "text/plain".into()))
        );
        let sent = server.await.expect("server");
        assert!(sent.starts_with("POST /submit?x=1 HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("host: 127.0.0.1:8080\r\n"), "{sent}");
        assert!(sent.contains("connection: close\r\n"), "{sent}");
        assert!(sent.contains("x-token: abc\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\npayload"), "{sent}");
    }

    fn https(port: u16) -> HttpRequest {
        HttpRequest {
            port,
            method: "GET".into(),
            path: "/".into(),
            host: format!("127.0.0.1:{port}"),
            headers: Vec::new(),
            body: None,
            status: crate::range::IntRange::exactly(200),
            follow_redirects: false,
            tls: Some(TlsOptions {
                verify: TlsVerify::Insecure,
                server_name: "localhost".into(),
            }),
        }
    }

    /// A server that answers the ClientHello with `reply` and closes.
    async fn against(reply: &'static [u8]) -> ExchangeError {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (read, write) = tokio::io::split(ours);
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let mut hello = vec![0u8; 4096];
            let _ = r.read(&mut hello).await;
            let _ = w.write_all(reply).await;
            let _ = w.shutdown().await;
        });
        let stream = RelayStream {
            read: Box::pin(read),
            write: Box::pin(write),
        };
        exchange(stream, &https(8080), 1024)
            .await
            .expect_err("no TLS")
    }

    #[test]
    fn a_redirect_is_followed_as_gos_client_follows_it_to_the_service_only() {
        let request = HttpRequest {
            method: "POST".into(),
            body: Some("x".into()),
            path: "/a/b?q=1".into(),
            ..https(8080)
        };
        let plain = HttpRequest {
            tls: None,
            ..request.clone()
        };
        let answer = |status: u16, location: &str| HttpAnswer {
            status,
            headers: vec![("location".into(), location.into())],
            body: String::new(),
            body_dropped: 0,
        };
        let next = |r: &HttpRequest, status, location| {
            next_hop(r, &answer(status, location))
                .map(|n| n.map(|n| (n.method, n.port, n.path, n.body)))
        };
        assert_eq!(next(&plain, 200, "/x"), None);
        assert_eq!(
            next(&plain, 302, "/new#frag"),
            Some(Ok(("GET".into(), 8080, "/new".into(), None)))
        );
        // 307 and 308 keep the method and the body.
        assert_eq!(
            next(&plain, 307, "c"),
            Some(Ok(("POST".into(), 8080, "/a/c".into(), Some("x".into()))))
        );
        assert_eq!(
            next(&plain, 301, "http://localhost:9090/z"),
            Some(Ok(("GET".into(), 9090, "/z".into(), None)))
        );
        assert_eq!(
            next(&request, 308, "https://127.0.0.1/"),
            Some(Ok(("POST".into(), 443, "/".into(), Some("x".into()))))
        );
        for (r, location) in [
            (&plain, "https://localhost:8443/"),
            (&plain, "http://example.com/"),
            (&request, "http://localhost/"),
        ] {
            let e = next(r, 302, location)
                .expect("a redirect")
                .expect_err(location);
            assert!(e.contains(location), "{e}");
        }
        // No Location: the answer stands.
        let bare = HttpAnswer {
            headers: Vec::new(),
            ..answer(302, "")
        };
        assert!(next_hop(&plain, &bare).is_none());
    }

    #[tokio::test]
    async fn a_plain_http_server_asked_for_tls_did_not_speak_tls() {
        for reply in [
            &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
            &b""[..],
        ] {
            let ExchangeError::Tls(message) = against(reply).await else {
                panic!("a TLS finding for {reply:?}")
            };
            assert!(
                message.starts_with("the service did not speak TLS on port 8080"),
                "{message}"
            );
            assert!(message.contains("drop `scheme = \"https\"`"), "{message}");
        }
    }

    #[test]
    fn an_unreadable_ca_names_the_file_and_where_relative_paths_start() {
        let tls = TlsOptions {
            verify: TlsVerify::Ca("/nonexistent/ca.pem".into()),
            server_name: "localhost".into(),
        };
        let e = client_config(&tls).expect_err("no file");
        assert!(
            e.starts_with("cannot read the CA file /nonexistent/ca.pem")
                && e.contains("relative to the spec"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let tls = TlsOptions {
            verify: TlsVerify::Ca(empty),
            ..tls
        };
        let e = client_config(&tls).expect_err("no certificate");
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
