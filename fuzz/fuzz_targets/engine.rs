//! An engine is untrusted input (a spec can name one, and a remote daemon can be anything):
//! any reply must give archsmoke's engine calls a value or an error, never a panic or a hang,
//! and what archsmoke keeps of it must be printable (an engine's version or architecture
//! reaches the terminal, the HTML report and JUnit).
//!
//! Every request is answered with the input, through archsmoke's bounded transport and the
//! real bollard client ([`archsmoke::engine::Engine::replaying`]). With the first byte even,
//! the rest is the whole reply as sent on the wire (status line, headers, body); with it odd,
//! the rest is a JSON body that the target wraps in `200 OK` with its length, so that the
//! fuzzer spends its time on what the documents say rather than on HTTP framing.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use archsmoke::engine::Engine;
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn printable(what: &str, s: &str) {
    assert!(!s.chars().any(char::is_control), "{what} {s:?} reached archsmoke unescaped");
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let reply = if kind & 1 == 0 {
        rest.to_vec()
    } else {
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\n\
             Content-Length: {}\r\n\r\n",
            rest.len()
        )
        .into_bytes();
        reply.extend_from_slice(rest);
        reply
    };
    runtime().block_on(async move {
        // Every reply ends when its connection closes, so nothing may wait: a hang is a finding.
        let calls = async {
            let Ok(engine) = Engine::replaying(reply).await else {
                return;
            };
            if let Ok(info) = engine.info().await {
                printable("the engine's version", &info.version);
                printable("the engine's API version", &info.api_version);
                printable("the engine's platform", &info.platform.to_string());
            }
            if let Ok(Some(image)) = engine.local_image("archsmoke-fuzz:latest").await {
                printable("an image's platform", &image.platform.to_string());
            }
            let _ = engine.labelled_containers(None).await;
            let _ = engine.vanished("0123456789ab", Duration::from_secs(5)).await;
        };
        tokio::time::timeout(Duration::from_secs(20), calls)
            .await
            .expect("an engine call hung on a reply that had ended");
    });
});
