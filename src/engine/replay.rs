//! An engine made of one reply: every request, on every connection, is answered with the same
//! bytes, through the same bounded transport ([`super::transport`]) and bollard client a real
//! engine gets. The `engine` fuzz target (`fuzz/fuzz_targets/engine.rs`) drives archsmoke's
//! engine calls with it, so that hostile replies reach exactly the code a hostile engine would
//! reach. archsmoke itself never uses it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connect::REQUEST_TIMEOUT_SECS;
use super::{Engine, EngineError, chain, transport};

/// The most of a request the replaying side reads before it answers (a request head is small).
const REQUEST_HEAD_LIMIT: usize = 64 << 10;

impl Engine {
    /// An engine whose every reply is `reply` (status line, headers and body as sent on the
    /// wire), after the API version negotiation a real connection does. Each connection is
    /// closed after its one reply.
    #[doc(hidden)]
    pub async fn replaying(reply: Vec<u8>) -> Result<Engine, EngineError> {
        let reply = std::sync::Arc::new(reply);
        let dialer = transport::Dialer::new(move || {
            let reply = std::sync::Arc::clone(&reply);
            async move {
                let (client, mut server) = tokio::io::duplex(REQUEST_HEAD_LIMIT);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n")
                        && head.len() < REQUEST_HEAD_LIMIT
                    {
                        match server.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = server.write_all(&reply).await;
                    let _ = server.shutdown().await;
                });
                Ok(client)
            }
        });
        let docker = transport::client(dialer, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| EngineError::Operation {
                op: "connect",
                detail: chain(&e),
            })?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| EngineError::Operation {
                op: "negotiate the API version",
                detail: chain(&e),
            })?;
        Ok(Engine {
            docker,
            endpoint: "replay://".into(),
            name: "replay".into(),
            local: false,
            withheld: None,
            gate: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed `/version` reply serves every call that reads one document; a reply that
    /// is not HTTP is an error, not a hang.
    #[tokio::test]
    async fn a_replayed_engine_answers_through_the_real_client() {
        let body = r#"{"Version":"20.10.24","ApiVersion":"1.41","Os":"linux","Arch":"amd64","Architecture":"x86_64","OSType":"linux"}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let engine = Engine::replaying(reply.into_bytes())
            .await
            .expect("negotiates");
        let info = engine.info().await.expect("describes itself");
        assert_eq!(info.version, "20.10.24");
        assert_eq!(info.platform.to_string(), "linux/amd64");
        let garbage = Engine::replaying(b"\x00\x01 not http".to_vec()).await;
        if let Ok(engine) = garbage {
            engine.info().await.expect_err("garbage is an error");
        }
    }
}
