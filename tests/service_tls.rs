//! HTTPS probes end to end, on the real engine, registry and QEMU: the test bed's `web-tls`
//! fixture (`testbed-tls-server` with a certificate signed by the test bed's own CA, on
//! linux/amd64 natively and linux/arm64 under QEMU) verified with `ca`, or not at all with
//! `insecure`; a certificate that does not verify (system roots, another CA, another name); and
//! TLS asked of the plain `web` fixture. The TLS handshake runs over the relay stream, like
//! plain HTTP.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{image, json_report, labelled_containers, platform, run, spec};
use serde_json::Value;

/// `$STATE/tls`, where up.sh keeps the web-tls fixture's CA (`ca.pem`) and an unrelated CA
/// (`other-ca.pem`).
fn tls_dir() -> PathBuf {
    let state = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    let dir = PathBuf::from(state).join("tls");
    for file in ["ca.pem", "other-ca.pem"] {
        assert!(
            dir.join(file).is_file(),
            "no {}: run `sudo tests/testbed/up.sh` (it generates the web-tls certificates)",
            dir.join(file).display()
        );
    }
    dir
}

/// Run `text` with the test bed's CAs copied beside it under `certs/` (so that `ca` paths are
/// relative to the spec), and return the run and its schema-checked JSON report.
fn run_spec(name: &str, text: &str) -> (common::Run, Value) {
    let s = spec(name, text);
    let certs = s.dir.path().join("certs");
    std::fs::create_dir(&certs).expect("certs dir");
    for file in ["ca.pem", "other-ca.pem"] {
        std::fs::copy(tls_dir().join(file), certs.join(file)).expect("copy CA");
    }
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("utf-8")]);
    let report = json_report(&json);
    let id = r.run_id();
    assert!(
        labelled_containers(Some(&id)).is_empty(),
        "containers left behind:\n{}",
        r.explain()
    );
    let out = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .expect("docker images");
    let images = String::from_utf8_lossy(&out.stdout);
    assert!(
        !images.lines().any(|l| l.contains(&id)),
        "relay image left behind: {images}"
    );
    (r, report)
}

fn test<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} in {p:#}"))
}

/// The one mismatch of a failed probe: (check, expected, actual).
fn mismatch(p: &Value, name: &str) -> (String, String, String) {
    let t = test(p, name);
    assert_eq!(t["status"], "failed", "{name}: {t:#}");
    let m = &t["mismatches"][0];
    let s = |k: &str| m[k].as_str().expect("string").to_owned();
    (s("check"), s("expected"), s("actual"))
}

#[test]
fn https_probes_pass_natively_and_under_qemu_verified_with_ca_or_insecure() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
[service.ready]
http = {{ port = 8443, path = "/health", scheme = "https", ca = "certs/ca.pem" }}
timeout = "60s"

[[probe]]
name = "home over https"
http = {{ port = 8443, scheme = "https", ca = "certs/ca.pem" }}
body_contains = "welcome to archsmoke over TLS"
header_matches = {{ "x-served-by" = "^testbed-tls-server$" }}

[[probe]]
name = "by its IP address"
http = {{ port = 8443, path = "/health", scheme = "https", ca = "certs/ca.pem", server_name = "127.0.0.1" }}
body_contains = "ok"

[[probe]]
name = "self-signed accepted"
http = {{ port = 8443, path = "/nothing", scheme = "https", insecure = true, status = 404 }}
"#,
        image("web-tls")
    );
    let (r, report) = run_spec("https", &text);
    assert_eq!(r.code, 0, "{}", r.explain());
    for (name, mode) in [("linux/amd64", "native"), ("linux/arm64", "emulated")] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "passed", "{name}: {p:#}");
        assert_eq!(p["execution"]["mode"], mode, "{name}: {p:#}");
        for t in [
            "service ready",
            "probe home over https",
            "probe by its IP address",
            "probe self-signed accepted",
        ] {
            assert_eq!(test(p, t)["status"], "passed", "{name} {t}: {p:#}");
        }
        let stdout = test(p, "probe home over https")["stdout"]
            .as_str()
            .expect("stdout");
        assert!(stdout.starts_with("HTTP 200\n"), "{stdout}");
    }
}

#[test]
fn a_certificate_that_does_not_verify_fails_the_probe_and_names_ca_and_insecure() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64"]

[service]
[service.ready]
log = "listening on port 8443"

[[probe]]
name = "system roots"
http = {{ port = 8443, scheme = "https" }}

[[probe]]
name = "another CA"
http = {{ port = 8443, scheme = "https", ca = "certs/other-ca.pem" }}

[[probe]]
name = "another name"
http = {{ port = 8443, scheme = "https", ca = "certs/ca.pem", server_name = "web.example" }}
"#,
        image("web-tls")
    );
    let (r, report) = run_spec("unverified", &text);
    assert_eq!(r.code, 1, "{}", r.explain());
    let p = platform(&report, "linux/amd64");
    assert_eq!(test(p, "service ready")["status"], "passed", "{p:#}");

    let (check, expected, actual) = mismatch(p, "probe system roots");
    assert_eq!(check, "tls 8443");
    assert_eq!(
        expected,
        "a TLS server whose certificate verifies for `localhost`"
    );
    assert!(
        actual.starts_with(
            "the service's certificate on port 8443 does not verify against this machine's CA \
             certificates"
        ),
        "{actual}"
    );
    assert!(
        actual.contains("`ca = \"ca.pem\"`") && actual.contains("`insecure = true`"),
        "{actual}"
    );

    let (_, _, actual) = mismatch(p, "probe another CA");
    assert!(
        actual.contains("does not verify against the CA in ")
            && actual.contains("certs/other-ca.pem")
            && actual.contains("`insecure = true`"),
        "{actual}"
    );

    let (_, expected, actual) = mismatch(p, "probe another name");
    assert_eq!(
        expected,
        "a TLS server whose certificate verifies for `web.example`"
    );
    assert!(
        actual.contains("is not valid for server_name `web.example`")
            && actual.contains("set `server_name`"),
        "{actual}"
    );
    // The terminal shows the same words.
    assert!(
        r.stdout
            .contains("does not verify against this machine's CA certificates"),
        "{}",
        r.stdout
    );
}

#[test]
fn tls_asked_of_a_plain_http_service_says_it_did_not_speak_tls() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
[service.ready]
tcp = 8080
timeout = "60s"

[[probe]]
name = "https of plain http"
http = {{ port = 8080, scheme = "https", insecure = true }}
"#,
        image("web")
    );
    let (r, report) = run_spec("plain", &text);
    assert_eq!(r.code, 1, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let p = platform(&report, name);
        let (check, expected, actual) = mismatch(p, "probe https of plain http");
        assert_eq!(check, "tls 8080");
        assert_eq!(expected, "a TLS server (its certificate not verified)");
        assert!(
            actual.starts_with("the service did not speak TLS on port 8080")
                && actual.contains("drop `scheme = \"https\"`"),
            "{name}: {actual}"
        );
    }
}

#[test]
fn plain_http_asked_of_a_tls_service_suggests_https() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64"]

[service]
[service.ready]
log = "listening on port 8443"

[[probe]]
name = "plain http of https"
http = {{ port = 8443 }}
"#,
        image("web-tls")
    );
    let (r, report) = run_spec("plain-of-tls", &text);
    assert_ne!(r.code, 0, "{}", r.explain());
    let t = test(
        platform(&report, "linux/amd64"),
        "probe plain http of https",
    );
    assert_eq!(t["status"], "error", "{t:#}");
    let error = t["error"].as_str().expect("error");
    assert!(
        error.contains("the answer is not HTTP") && error.contains("scheme = \"https\""),
        "{error}"
    );
}

#[test]
fn a_tls_option_without_https_is_a_positioned_spec_error() {
    let s = spec(
        "stray-ca",
        "image = \"127.0.0.1:5000/archsmoke/busybox:web-tls\"\n[service]\n[[probe]]\n\
         name = \"p\"\nhttp = { port = 8443, ca = \"ca.pem\" }\n",
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr.contains("stray-ca.toml:5:28")
            && r.stderr
                .contains("`ca` is a TLS option, and this request is plain HTTP")
            && r.stderr.contains("scheme = \"https\""),
        "{}",
        r.stderr
    );
}

#[test]
fn https_readiness_that_never_verifies_says_why_at_its_deadline() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64"]

[service]
[service.ready]
http = {{ port = 8443, path = "/health", scheme = "https", ca = "certs/other-ca.pem" }}
timeout = "3s"
"#,
        image("web-tls")
    );
    let (r, report) = run_spec("ready-unverified", &text);
    assert_eq!(r.code, 1, "{}", r.explain());
    let p = platform(&report, "linux/amd64");
    let (_, _, actual) = mismatch(p, "service ready");
    assert!(
        actual.starts_with(
            "not ready after 3s: still waiting for GET /health on port 8443 (https) to answer 200 \
             (last attempt: the service's certificate on port 8443 does not verify against the \
             CA in "
        ) && actual.contains("`insecure = true`"),
        "{actual}"
    );
}
