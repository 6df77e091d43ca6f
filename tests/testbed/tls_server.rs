//! The test bed's HTTPS server (the `web-tls` fixture's entrypoint): a static binary that
//! answers `GET /` and `GET /health` over TLS, built for linux/amd64 and linux/arm64 by
//! `scripts/release.sh --testbed-tls-server DIR` (which `tests/testbed/up.sh` runs).
//!
//! Usage: testbed-tls-server PORT CERT.pem KEY.pem
//!
//! It is a `[[bin]]` behind the `testbed` feature rather than an example: an example is built
//! with the dev-dependencies' features, which for the musl targets would recompile most of the
//! dependency graph, while a bin shares everything the release build already compiled. The
//! feature keeps it out of `cargo install`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

const INDEX: &str = "welcome to archsmoke over TLS\n";

fn main() {
    if let Err(e) = run() {
        eprintln!("testbed-tls-server: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, cert, key] = args.as_slice() else {
        return Err("usage: testbed-tls-server PORT CERT.pem KEY.pem".into());
    };
    let certs = CertificateDer::pem_slice_iter(&std::fs::read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{cert}: {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(&std::fs::read(key)?).map_err(|e| format!("{key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let config = Arc::new(config);
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>()?))?;
    // PID 1 ignores SIGTERM without a handler; stopping the service must not wait for a kill.
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = runtime {
            rt.block_on(async {
                if let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    term.recv().await;
                    println!("tls-server: stopping");
                    std::process::exit(0);
                }
            });
        }
    });
    println!("tls-server: listening on port {port}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let config = config.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, config) {
                println!("tls-server: connection failed: {e}");
            }
        });
    }
    Ok(())
}

/// One request per connection (`Connection: close`), which is all a probe sends.
fn serve(tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> Result<()> {
    let conn = rustls::ServerConnection::new(config)?;
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut request_line = String::new();
    tls.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if tls.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    println!("tls-server: {}", request_line.trim_end());
    let (status, body) = match path {
        "/" => ("200 OK", INDEX),
        "/health" => ("200 OK", "ok\n"),
        _ => ("404 Not Found", "not found\n"),
    };
    let tls = tls.get_mut();
    write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\nX-Served-By: testbed-tls-server\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(())
}
