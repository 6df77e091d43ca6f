use std::path::Path;

use super::*;
use crate::spec::{Spec, parse};

fn load(text: &str) -> Result<Spec, SpecError> {
    parse(Path::new("web.toml"), text)
}

fn error(text: &str) -> SpecError {
    load(text).expect_err("the spec is refused")
}

#[test]
fn a_full_service_spec_validates_with_defaults() {
    let spec = load(
        r#"
image = "x"
[service]
env = { A = "1" }
user = "33"
[service.ready]
log = ["started", "listening on \\d+"]
tcp = 8080
http = { port = 8080, path = "/health", method = "head", status = 204 }
healthcheck = true
exec = ["test", "-f", "/run/ready"]
[[probe]]
name = "home"
http = { port = 8080, headers = { Accept = "text/html" }, body = "x" }
body_contains = "welcome"
header_matches = { "Content-Type" = "^text/" }
[[probe]]
name = "admin closed"
tcp = 9000
open = false
timeout = "2s"
[[process]]
name = "server"
command_matches = "httpd"
count = 1
[logs]
excludes = "panic"
"#,
    )
    .expect("valid");
    let s = spec.service.expect("service");
    assert_eq!(s.stop_timeout, DEFAULT_STOP_TIMEOUT);
    assert_eq!(s.ready.timeout, DEFAULT_READY_TIMEOUT);
    assert_eq!(s.ready.log.len(), 2);
    let http = s.ready.http.expect("http");
    assert_eq!((http.method.as_str(), http.status), ("HEAD", 204));
    assert_eq!(http.host, "127.0.0.1:8080");
    assert_eq!(s.probes[0].timeout, DEFAULT_PROBE_TIMEOUT);
    let ProbeKind::Http { request, expect } = &s.probes[0].kind else {
        panic!("an HTTP probe");
    };
    assert_eq!((request.path.as_str(), request.status), ("/", 200));
    assert_eq!(expect.header_matches[0].0, "content-type");
    assert!(matches!(
        s.probes[1].kind,
        ProbeKind::Tcp {
            port: 9000,
            open: false
        }
    ));
    assert_eq!(s.processes[0].count, Some(1));
    assert_eq!(s.logs.expect("logs").excludes, ["panic"]);
}

#[test]
fn a_service_alone_is_something_to_check() {
    assert!(load("image = \"x\"\n[service]\n").is_ok());
}

#[test]
fn bad_service_tables_are_positioned_errors() {
    let e = error("image = \"x\"\n[service]\n[service.ready]\ntcp = 70000\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (4, "port 70000 is out of range")
    );
    let e =
        error("image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\ntcp = 1\nhttp = { port = 1 }\n");
    assert!(
        e.message.contains("exactly one of `tcp` and `http`"),
        "{e:?}"
    );
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\ntcp = 1\nbody_contains = \"x\"\n",
    );
    assert!(e.message.contains("over plain TCP"), "{e:?}");
    let e = error("image = \"x\"\n[service]\n[[process]]\nname = \"p\"\ncommand_matches = \"(\"\n");
    assert_eq!(e.line, 5);
    assert!(e.message.contains("bad regex"), "{e:?}");
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 1, status = 99 }\n",
    );
    assert!(e.message.contains("not a status"), "{e:?}");
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 1, path = \"no slash\" }\n",
    );
    assert!(e.message.contains("bad HTTP path"), "{e:?}");
    let e = error("image = \"x\"\n[service]\nstop_timeout = \"soon\"\n");
    assert!(e.message.contains("bad duration"), "{e:?}");
    let e = error("image = \"x\"\n[service]\nredy = 1\n");
    assert!(e.message.contains("unknown key `redy`"), "{e:?}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `ready`?"));
}

#[test]
fn service_checks_without_a_service_are_refused() {
    let e = error("image = \"x\"\n[[probe]]\nname = \"p\"\ntcp = 1\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("has no [service]"), "{e:?}");
    let e = error("image = \"x\"\n[logs]\ncontains = \"x\"\n");
    assert!(e.message.contains("has no [service]"), "{e:?}");
}

#[test]
fn with_a_service_every_test_needs_a_command_and_names_are_unique() {
    let e = error("image = \"x\"\n[service]\n[[test]]\nname = \"t\"\n");
    assert!(
        e.message.contains("runs as execs") || e.message.contains("run as execs"),
        "{e:?}"
    );
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\ntcp = 1\n[[probe]]\nname = \"p\"\ntcp = 2\n",
    );
    assert!(e.message.contains("duplicate probe name"), "{e:?}");
}
