//! One HTTP/1.1 exchange over a relay stream, spoken by hyper: the request the spec describes
//! (with `Connection: close`, since each probe gets its own relay), and the answer's status,
//! headers and body, the body bounded like test output (its tail beyond the limit is counted,
//! not kept).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONNECTION, HOST};
use hyper_util::rt::TokioIo;

use crate::check::service::HttpAnswer;
use crate::engine::RelayStream;
use crate::spec::HttpRequest;

/// Send `request` over `stream` and read the whole answer.
pub async fn exchange(
    stream: RelayStream,
    request: &HttpRequest,
    limit: usize,
) -> Result<HttpAnswer, String> {
    let io = TokioIo::new(tokio::io::join(stream.read, stream.write));
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
        let response = sender
            .send_request(built)
            .await
            .map_err(|e| describe("the service did not answer", &e))?;
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
            status: 201,
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
}
