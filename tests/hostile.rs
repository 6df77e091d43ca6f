//! End to end: a hostile registry. A tiny HTTP server owned by the test serves crafted manifests
//! and indexes; archsmoke must answer each with exit 3 and a message naming the problem, never a
//! panic or a hang.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{archsmoke, spec};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Serves `/v2/`, `/v2/hostile/manifests/<ref>` and `/v2/hostile/blobs/<digest>` from `docs`
/// (ref or digest → media type, body).
fn serve(docs: HashMap<String, (String, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let docs = Arc::new(docs);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let docs = docs.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let found = path
                    .strip_prefix("/v2/hostile/manifests/")
                    .or_else(|| path.strip_prefix("/v2/hostile/blobs/"))
                    .and_then(|r| docs.get(r));
                let (status, media_type, body) = match (path.as_str(), found) {
                    ("/v2/", _) => ("200 OK", "application/json".to_owned(), b"{}".to_vec()),
                    (_, Some((m, b))) => ("200 OK", m.clone(), b.clone()),
                    _ => (
                        "404 Not Found",
                        "application/json".to_owned(),
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    address
}

fn index_of(children: &[(&str, &str)]) -> Vec<u8> {
    let entries: Vec<String> = children
        .iter()
        .map(|(media_type, digest)| {
            format!(
                r#"{{"mediaType":"{media_type}","digest":"{digest}","size":100,"platform":{{"os":"linux","architecture":"amd64"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

#[test]
fn hostile_manifests_are_exit_3_with_the_reason() {
    let mut docs: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    let mut add = |reference: &str, media_type: &str, body: Vec<u8>| {
        docs.insert(reference.to_owned(), (media_type.to_owned(), body));
    };
    add(
        "badjson",
        INDEX,
        b"{\"schemaVersion\":2,\"manifests\":[".to_vec(),
    );
    add(
        "wrongtype",
        "text/html",
        br#"{"schemaVersion":2,"mediaType":"text/html","manifests":[]}"#.to_vec(),
    );
    // A child served under a digest its content does not have; an index that lists itself is
    // the same thing, since no document can contain its own digest.
    let lie = sha256(b"something else");
    add("mismatch", INDEX, index_of(&[(MANIFEST, &lie)]));
    add(
        &lie,
        MANIFEST,
        br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
    );
    let self_digest = sha256(b"loop");
    add("loop", INDEX, index_of(&[(INDEX, &self_digest)]));
    add(&self_digest, INDEX, index_of(&[(INDEX, &self_digest)]));
    // Six levels of correctly addressed nesting.
    let mut child = sha256(b"leaf");
    let mut body = Vec::new();
    for _ in 0..6 {
        body = index_of(&[(INDEX, &child)]);
        let digest = sha256(&body);
        add(&digest, INDEX, body.clone());
        child = digest;
    }
    add("deep", INDEX, body);
    // A config declaring a petabyte.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":1000000000000000}},"layers":[]}}"#,
        sha256(b"config")
    )
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    add(&manifest_digest, MANIFEST, manifest);
    add(
        "hugeconfig",
        INDEX,
        index_of(&[(MANIFEST, &manifest_digest)]),
    );
    add("huge", INDEX, vec![b' '; 5 << 20]);

    let registry = serve(docs);
    let s = spec("hostile", "[[test]]\nname = \"t\"\ncommand = [\"true\"]\n");
    for (tag, expect) in [
        ("badjson", "malformed"),
        ("wrongtype", "text/html"),
        ("mismatch", "digest"),
        ("loop", "digest"),
        ("deep", "deeper than"),
        ("hugeconfig", "declared size"),
        ("huge", "4 MiB"),
    ] {
        let reference = format!("{registry}/hostile:{tag}");
        let start = Instant::now();
        let out = archsmoke()
            .args([
                "run",
                s.path(),
                "--image",
                &reference,
                "--platform",
                "linux/amd64",
            ])
            .output()
            .expect("archsmoke runs");
        let r = common::Run::from(out);
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{tag} took too long"
        );
        assert_eq!(r.code, 3, "{tag}: {}", r.explain());
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(!all.contains("panicked"), "{tag}: {}", r.explain());
        assert!(
            all.contains(expect),
            "{tag}: expected `{expect}`:\n{}",
            r.explain()
        );
    }
}

/// How much a flooding registry sends before it stalls (keeping the connection open): enough
/// to prove an unbounded read, little enough not to hurt the machine when one happens.
const FLOOD_BYTES: usize = 64 << 20;

/// A registry whose manifests never end: `endless` is a chunked body, `flood` announces 200 MB
/// with a `Content-Length`. Both send [`FLOOD_BYTES`] and then stall.
fn serve_flood() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let chunk = vec![b' '; 64 << 10];
                let head = |framing: &str| {
                    format!("HTTP/1.1 200 OK\r\nContent-Type: {INDEX}\r\n{framing}\r\n\r\n")
                };
                let sent = match path.as_str() {
                    "/v2/hostile/manifests/endless" => {
                        let _ = conn.write_all(head("Transfer-Encoding: chunked").as_bytes());
                        (0..FLOOD_BYTES / chunk.len()).all(|_| {
                            conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                                .and_then(|()| conn.write_all(&chunk))
                                .and_then(|()| conn.write_all(b"\r\n"))
                                .is_ok()
                        })
                    }
                    "/v2/hostile/manifests/flood" => {
                        let _ = conn.write_all(head("Content-Length: 200000000").as_bytes());
                        (0..FLOOD_BYTES / chunk.len()).all(|_| conn.write_all(&chunk).is_ok())
                    }
                    _ => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        );
                        return;
                    }
                };
                if sent {
                    std::thread::sleep(Duration::from_secs(120));
                }
            });
        }
    });
    address
}

/// Peak resident memory (VmHWM) of a live process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

#[test]
fn endless_and_oversized_manifests_are_cut_off_at_4_mib_in_bounded_memory() {
    let registry = serve_flood();
    for tag in ["endless", "flood"] {
        let reference = format!("{registry}/hostile:{tag}");
        let mut child = archsmoke()
            .args(["inspect", &reference])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("archsmoke starts");
        let start = Instant::now();
        let mut peak = 0;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            peak = peak.max(peak_rss(child.id()).unwrap_or(0));
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().expect("output");
        let r = common::Run::from(std::process::Output {
            status: status.unwrap_or(out.status),
            ..out
        });
        assert!(status.is_some(), "{tag}: still reading after 30 s");
        assert_eq!(r.code, 3, "{tag}: {}", r.explain());
        assert!(r.stderr.contains("4 MiB"), "{tag}: {}", r.explain());
        assert!(
            peak < 48 << 20,
            "{tag}: peak RSS {} MiB while the registry flooded",
            peak >> 20
        );
        eprintln!(
            "{tag}: exit 3 after {:?}, peak RSS {} MiB",
            start.elapsed(),
            peak >> 20
        );
    }
}

#[test]
fn inspect_of_an_index_with_a_digest_mismatch_is_exit_3() {
    let lie = sha256(b"something else");
    let docs = HashMap::from([
        (
            "mismatch".to_owned(),
            (INDEX.to_owned(), index_of(&[(MANIFEST, &lie)])),
        ),
        (
            lie.clone(),
            (
                MANIFEST.to_owned(),
                br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
            ),
        ),
    ]);
    let registry = serve(docs);
    let out = archsmoke()
        .args(["inspect", &format!("{registry}/hostile:mismatch")])
        .output()
        .expect("archsmoke runs");
    let r = common::Run::from(out);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("does not match its digest"),
        "{}",
        r.explain()
    );
}

/// Entries of the hostile layer: more than the audit keeps (500,000), a few MB compressed.
const MANY_ENTRIES: usize = 700_000;

#[test]
fn a_layer_of_too_many_entries_is_refused_in_bounded_memory() {
    use flate2::{Compression, write::GzEncoder};
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    {
        let mut tar = tar::Builder::new(&mut gz);
        for i in 0..MANY_ENTRIES {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            tar.append_data(&mut header, format!("f/{i:07}"), std::io::empty())
                .expect("append");
        }
        tar.finish().expect("finish");
    }
    let layer = gz.finish().expect("gzip");
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(b"")
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        sha256(&config),
        config.len(),
        sha256(&layer),
        layer.len()
    )
    .into_bytes();
    eprintln!("{MANY_ENTRIES} entries: {} bytes compressed", layer.len());
    let docs = HashMap::from([
        (sha256(&manifest), (MANIFEST.to_owned(), manifest.clone())),
        ("many".to_owned(), (MANIFEST.to_owned(), manifest)),
        (
            sha256(&config),
            ("application/octet-stream".to_owned(), config),
        ),
        (
            sha256(&layer),
            ("application/octet-stream".to_owned(), layer),
        ),
    ]);
    let registry = serve(docs);
    let mut child = archsmoke()
        .args(["audit", &format!("{registry}/hostile:many")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let start = Instant::now();
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the audit did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = common::Run::from(child.wait_with_output().expect("output"));
    eprintln!(
        "exit {} after {:?}, peak RSS {} MiB",
        r.code,
        start.elapsed(),
        peak >> 20
    );
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("more than 500000 entries"),
        "{}",
        r.explain()
    );
    assert!(
        peak < 200 << 20,
        "peak RSS {} MiB while auditing a layer of {MANY_ENTRIES} entries",
        peak >> 20
    );
}
