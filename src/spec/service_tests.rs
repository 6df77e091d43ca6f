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
    assert_eq!(
        (http.method.as_str(), http.status),
        ("HEAD", IntRange::exactly(204))
    );
    assert_eq!(http.host, "127.0.0.1:8080");
    assert_eq!(s.probes[0].timeout, DEFAULT_PROBE_TIMEOUT);
    let ProbeKind::Http { request, expect } = &s.probes[0].kind else {
        panic!("an HTTP probe");
    };
    assert_eq!(
        (request.path.as_str(), request.status),
        ("/", IntRange::exactly(200))
    );
    assert_eq!(expect.header_matches[0].0, "content-type");
    assert!(matches!(
        s.probes[1].kind,
        ProbeKind::Tcp {
            port: 9000,
            open: false
        }
    ));
    assert_eq!(s.processes[0].count, Some(IntRange::exactly(1)));
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
        e.message
            .contains("exactly one of `tcp`, `http` and `socket`"),
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
    assert!(e.message.contains("status 99 can never happen"), "{e:?}");
    assert_eq!(e.hint.as_deref(), Some("statuses are 100 to 599"));
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 1, path = \"no slash\" }\n",
    );
    assert!(e.message.contains("bad HTTP path"), "{e:?}");
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 1, host = \"x\\r\\nX-Injected: 1\" }\n",
    );
    assert_eq!(e.line, 5, "{e:?}");
    assert!(e.message.contains("bad HTTP host"), "{e:?}");
    for (table, name) in [
        ("[[probe]]\ntcp = 1", "p\\u001b]0;x\\u0007"),
        ("[[process]]\ncommand_matches = \"x\"", "p\\n::error::x"),
        ("[[probe]]\ntcp = 1", "admin\\u202egpj.exe"),
        ("[[process]]\ncommand_matches = \"x\"", "a\\u200bb"),
    ] {
        let e = error(&format!(
            "image = \"x\"\n[service]\n{table}\nname = \"{name}\"\n"
        ));
        assert_eq!((e.line, e.column), (5, 8), "{name}: {e:?}");
        assert!(e.message.contains("contains the character"), "{e:?}");
    }
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

#[test]
fn https_requests_take_tls_options_with_paths_relative_to_the_spec() {
    let spec = parse(
        Path::new("/specs/web.toml"),
        r#"
image = "x"
[service]
[service.ready]
http = { port = 8443, scheme = "https", insecure = true }
[[probe]]
name = "ca"
http = { port = 8443, scheme = "https", ca = "certs/ca.pem" }
[[probe]]
name = "system roots, name from host"
http = { port = 8443, scheme = "HTTPS", host = "web.example:8443" }
[[probe]]
name = "named"
http = { port = 8443, scheme = "https", server_name = "127.0.0.1", insecure = false }
[[probe]]
name = "plain"
http = { port = 8080, scheme = "http" }
"#,
    )
    .expect("valid");
    let s = spec.service.expect("service");
    let tls = |i: usize| {
        let ProbeKind::Http { request, .. } = &s.probes[i].kind else {
            panic!("an HTTP probe")
        };
        request.tls.clone()
    };
    assert_eq!(
        s.ready.http.expect("http").tls,
        Some(TlsOptions {
            verify: TlsVerify::Insecure,
            server_name: "localhost".into()
        })
    );
    assert_eq!(
        tls(0),
        Some(TlsOptions {
            verify: TlsVerify::Ca("/specs/certs/ca.pem".into()),
            server_name: "localhost".into()
        })
    );
    assert_eq!(
        tls(1),
        Some(TlsOptions {
            verify: TlsVerify::System,
            server_name: "web.example".into()
        })
    );
    assert_eq!(
        tls(2).map(|t| (t.verify, t.server_name)),
        Some((TlsVerify::System, "127.0.0.1".into()))
    );
    assert_eq!(tls(3), None);
}

#[test]
fn tls_options_without_https_and_bad_tls_options_are_positioned_errors() {
    let probe = |http: &str| format!("image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\n{http}\n");
    let e = error(&probe("http = { port = 1, ca = \"ca.pem\" }"));
    assert_eq!((e.line, e.column), (5, 25), "{e:?}");
    assert_eq!(
        e.message,
        "`ca` is a TLS option, and this request is plain HTTP"
    );
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("scheme = \"https\""))
    );
    let e = error(&probe(
        "http = { port = 1, scheme = \"http\", insecure = true }",
    ));
    assert!(e.message.starts_with("`insecure` is a TLS option"), "{e:?}");
    let e = error(
        "image = \"x\"\n[service]\n[service.ready]\nhttp = { port = 1, server_name = \"a\" }\n",
    );
    assert_eq!(e.line, 4);
    assert!(
        e.message.starts_with("`server_name` is a TLS option"),
        "{e:?}"
    );
    let e = error(&probe("http = { port = 1, scheme = \"ftp\" }"));
    assert_eq!((e.line, e.message.as_str()), (5, "unknown scheme `ftp`"));
    let e = error(&probe(
        "http = { port = 1, scheme = \"https\", ca = \"ca.pem\", insecure = true }",
    ));
    assert!(e.message.contains("contradict"), "{e:?}");
    let e = error(&probe(
        "http = { port = 1, scheme = \"https\", server_name = \"not a name\" }",
    ));
    assert_eq!(e.message, "bad server_name `not a name`");
    let e = error(&probe("http = { port = 1, scheme = \"https\", ca = \"\" }"));
    assert_eq!(e.message, "`ca` is empty");
    let e = error(&probe(
        "http = { port = 1, scheme = \"https\", verify = false }",
    ));
    assert!(e.message.contains("unknown key `verify`"), "{e:?}");
}

#[test]
fn the_server_name_comes_from_the_host_header_without_its_port() {
    assert_eq!(host_name("web.example:8443"), "web.example");
    assert_eq!(host_name("web.example"), "web.example");
    assert_eq!(host_name("[::1]:8443"), "::1");
    assert_eq!(host_name("127.0.0.1:1"), "127.0.0.1");
}

#[test]
fn a_socket_probe_names_its_table_port_and_addresses() {
    let spec = load(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"dns\"\nsocket = \"udp:53\"\n\
         ips = [\"0.0.0.0\", \"::\"]\n[[probe]]\nname = \"no tcp6\"\nsocket = \"tcp6:8080\"\nopen = false\n",
    )
    .expect("valid");
    let probes = &spec.service.expect("service").probes;
    let ProbeKind::Socket {
        table,
        port,
        open,
        ips,
    } = &probes[0].kind
    else {
        panic!("{:?}", probes[0].kind);
    };
    assert_eq!((*table, *port, *open), (SocketTable::Udp, 53, true));
    assert_eq!(ips.len(), 2);
    assert!(matches!(
        probes[1].kind,
        ProbeKind::Socket { open: false, .. }
    ));
    for (bad, message) in [
        ("socket = \"sctp:1\"", "bad socket `sctp:1`"),
        ("socket = \"udp:0\"", "bad socket `udp:0`"),
        (
            "socket = \"udp:53\"\nips = [\"localhost\"]",
            "`localhost` is not an IP address",
        ),
        ("socket = \"udp:53\"\ntcp = 53", "`socket` goes alone"),
        ("tcp = 53\nips = [\"::\"]", "`ips` goes with `socket`"),
    ] {
        let e = error(&format!(
            "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\n{bad}\n"
        ));
        assert!(e.message.contains(message), "{bad}: {e:?}");
    }
}

#[test]
fn a_header_may_take_a_list_of_patterns_that_must_all_match() {
    let spec = load(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"home\"\nhttp = { port = 8080 }\n\
         header_matches = { \"Set-Cookie\" = [\"^a=\", \"HttpOnly\"], Server = \"nginx\" }\n",
    )
    .expect("valid");
    let s = spec.service.expect("service");
    let ProbeKind::Http { expect, .. } = &s.probes[0].kind else {
        panic!("an HTTP probe");
    };
    let names: Vec<(&str, &str)> = expect
        .header_matches
        .iter()
        .map(|(n, re)| (n.as_str(), re.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("server", "nginx"),
            ("set-cookie", "^a="),
            ("set-cookie", "HttpOnly")
        ]
    );
    let e = error(
        "image = \"x\"\n[service]\n[[probe]]\nname = \"home\"\nhttp = { port = 8080 }\n\
         header_matches = { Server = [] }\n",
    );
    assert!(
        e.to_string()
            .contains("probe `home`: header `Server` has an empty list of patterns"),
        "{e}"
    );
}
