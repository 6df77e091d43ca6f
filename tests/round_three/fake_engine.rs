//! A fake Docker Engine of the test's own on 127.0.0.1 (a free port): enough of the API for
//! archsmoke to connect, describe it and try a pull, with what it says chosen by the test, and
//! every request it received kept for the test to read.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the engine saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
}

/// What the engine answers to one request.
pub enum Reply {
    Json(u16, String),
    /// A 200 whose body never ends (until the client goes away).
    Endless,
}

type Route = dyn Fn(&str, &str) -> Option<Reply> + Send + Sync;

pub struct FakeEngine {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeEngine {
    /// An engine that claims to be `linux/<arch>` (uname machine name, e.g. `aarch64`);
    /// `route` answers first (method, path without the API version), the defaults after it.
    pub fn start(
        machine: &str,
        route: impl Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static,
    ) -> FakeEngine {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let machine = machine.to_owned();
        let route: Arc<Route> = Arc::new(route);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (route, log, machine) = (route.clone(), log.clone(), machine.clone());
                std::thread::spawn(move || serve(stream, &*route, &log, &machine));
            }
        });
        FakeEngine { port, seen }
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve(stream: TcpStream, route: &Route, log: &Mutex<Vec<Seen>>, machine: &str) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = target.split('?').next().unwrap_or_default();
        // `/v1.47/info` → `/info`
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
            None => path,
        }
        .to_owned();
        log.lock().expect("lock").push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers,
        });
        let reply = route(&method, &path).unwrap_or_else(|| default(&method, &path, machine));
        let ok = match reply {
            Reply::Json(status, body) => write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\
                 \r\nApi-Version: 1.43\r\n\r\n{body}",
                body.len()
            )
            .is_ok(),
            Reply::Endless => {
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.43\
                     \r\nTransfer-Encoding: chunked\r\n\r\n"
                );
                let chunk = format!("{:x}\r\n{}\r\n", 65536, "a".repeat(65536));
                let _ = out.write_all(b"5\r\n{\"a\":\r\n");
                while out.write_all(chunk.as_bytes()).is_ok() {}
                false
            }
        };
        if !ok {
            return;
        }
    }
}

fn default(method: &str, path: &str, machine: &str) -> Reply {
    let json = |s: &str| Reply::Json(200, s.to_owned());
    match (method, path) {
        (_, "/_ping") => json("OK"),
        ("GET", "/version") => json(&format!(
            r#"{{"Version":"27.0.0-fake","ApiVersion":"1.43","MinAPIVersion":"1.24","Os":"linux","Arch":"{machine}"}}"#
        )),
        ("GET", "/info") => json(&format!(
            r#"{{"OSType":"linux","Architecture":"{machine}","SecurityOptions":[]}}"#
        )),
        ("GET", "/containers/json") | ("GET", "/images/json") => json("[]"),
        ("POST", "/images/create") => Reply::Json(
            500,
            r#"{"message":"the fake engine pulls nothing"}"#.to_owned(),
        ),
        _ => Reply::Json(404, r#"{"message":"no such object"}"#.to_owned()),
    }
}

/// Standard or URL-safe base64, padded or not, decoded (what `X-Registry-Auth` holds).
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
