//! End-to-end tests of several engines (issue 13) on the test bed's real engines
//! (`tests/testbed/engines.sh`): a second dockerd over its unix socket and over TCP with TLS, a
//! Docker context for it, the main engine over ssh, and podman's Docker-compatible socket.
//! Which engine ran a platform is proven by the report and by which engine's image store holds
//! the pulled digest.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use common::{Run, archsmoke, image, json_report, platform, spec};

/// The endpoints `engines.sh` wrote to `engines/engines.json`.
struct Bed {
    engine2_socket: String,
    engine2_tls: String,
    cert_path: String,
    rogue_cert_path: String,
    docker_config: String,
    context: String,
    ssh: String,
    /// The same sshd, whose far-side docker CLI is pointed at engine2 (`SetEnv DOCKER_HOST`).
    ssh_engine2: String,
    ssh_port: u64,
    ssh_unknown_host: String,
    podman_socket: String,
    /// Held while the test runs: the engine-loss test stops engine2, so it runs alone.
    _turn: Turn,
}

#[allow(dead_code)] // held for its Drop only
enum Turn {
    Shared(RwLockReadGuard<'static, ()>),
    Alone(RwLockWriteGuard<'static, ()>),
}

static ENGINE2: RwLock<()> = RwLock::new(());

fn bed() -> Bed {
    bed_with(Turn::Shared(
        ENGINE2.read().unwrap_or_else(PoisonError::into_inner),
    ))
}

/// For a test that stops engine2: no other test of this binary runs meanwhile.
fn bed_alone() -> Bed {
    bed_with(Turn::Alone(
        ENGINE2.write().unwrap_or_else(PoisonError::into_inner),
    ))
}

fn bed_with(turn: Turn) -> Bed {
    common::require_testbed();
    let dir = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    let path = Path::new(&dir).join("engines/engines.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no {} ({e}): run `sudo tests/testbed/up.sh` (or tests/testbed/engines.sh)",
            path.display()
        )
    });
    let j: serde_json::Value = serde_json::from_str(&text).expect("engines.json parses");
    let s = |k: &str| {
        j[k].as_str()
            .unwrap_or_else(|| panic!("{k} in engines.json"))
            .to_owned()
    };
    Bed {
        engine2_socket: s("engine2_socket"),
        engine2_tls: s("engine2_tls"),
        cert_path: s("cert_path"),
        rogue_cert_path: s("rogue_cert_path"),
        docker_config: s("docker_config"),
        context: s("context"),
        ssh: s("ssh"),
        ssh_engine2: s("ssh_engine2"),
        ssh_port: j["ssh_port"].as_u64().expect("ssh_port"),
        ssh_unknown_host: s("ssh_unknown_host"),
        podman_socket: s("podman_socket"),
        _turn: turn,
    }
}

/// archsmoke with none of the caller's engine selection in its environment.
fn clean() -> Command {
    let mut c = archsmoke();
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_CONFIG",
    ] {
        c.env_remove(var);
    }
    c
}

fn go(mut c: Command) -> Run {
    Run::from(c.output().expect("archsmoke starts"))
}

/// The docker CLI against one engine (test scaffolding may use the CLI).
fn docker_on(host: &str, args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .env_remove("DOCKER_CONTEXT")
        .args(["-H", host])
        .args(args)
        .output()
        .expect("docker CLI runs")
}

/// The digest reference of `tag`'s platform child, as archsmoke pulls it.
fn child_ref(tag: &str, platform_name: &str) -> String {
    let dir = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    let f: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&dir).join("fixtures.json")).expect("fixtures.json"),
    )
    .expect("fixtures.json parses");
    let digest = f["tags"][tag]["platforms"][platform_name]
        .as_str()
        .expect("child digest")
        .to_owned();
    format!("{}/{}@{digest}", common::registry(), common::REPO)
}

fn one_platform_spec() -> common::SpecFile {
    spec(
        "engines",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]

[[test]]
name = "echo"
command = ["sh", "-c", "echo hi"]
stdout = "hi\n"
"#,
            image("multi")
        ),
    )
}

/// Runs the one-platform spec on the default engine chosen by `setup`; returns the run, the
/// JSON report, and the spec (kept alive).
fn run_default(setup: impl FnOnce(&mut Command)) -> (Run, Option<serde_json::Value>) {
    let s = one_platform_spec();
    let json: PathBuf = s.dir.path().join("report.json");
    let mut c = clean();
    c.args(["run", s.path(), "--json", json.to_str().expect("utf-8")]);
    setup(&mut c);
    let r = go(c);
    let report = json.exists().then(|| json_report(&json));
    (r, report)
}

fn assert_ran_on(r: &Run, report: Option<&serde_json::Value>, endpoint: &str) {
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = report.expect("a JSON report");
    assert_eq!(report["engine"]["endpoint"], endpoint, "{report:#}");
    assert_eq!(platform(report, "linux/amd64")["result"], "passed");
}

/// Removes the amd64 child from an engine's store so that a run must pull it there.
fn forget_child(host: &str) -> String {
    let reference = child_ref("multi", "linux/amd64");
    let _ = docker_on(host, &["image", "rm", "-f", &reference]);
    assert!(
        !docker_on(host, &["image", "inspect", &reference])
            .status
            .success(),
        "{reference} still on {host}"
    );
    reference
}

fn holds(host: &str, reference: &str) -> bool {
    docker_on(host, &["image", "inspect", reference])
        .status
        .success()
}

#[test]
fn unix_socket_of_a_second_engine_pulls_into_that_engines_store() {
    let b = bed();
    let reference = forget_child(&b.engine2_socket);
    let (r, report) = run_default(|c| {
        c.args(["--host", &b.engine2_socket]);
    });
    assert_ran_on(&r, report.as_ref(), &b.engine2_socket);
    assert!(
        holds(&b.engine2_socket, &reference),
        "engine2 pulled {reference}"
    );
}

#[test]
fn tcp_with_tls_from_docker_tls_verify_and_docker_cert_path() {
    let b = bed();
    let (r, report) = run_default(|c| {
        c.env("DOCKER_HOST", &b.engine2_tls)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &b.cert_path);
    });
    assert_ran_on(&r, report.as_ref(), &b.engine2_tls);
}

#[test]
fn docker_context_from_docker_context_and_from_current_context() {
    let b = bed();
    let (r, report) = run_default(|c| {
        c.env("DOCKER_CONFIG", &b.docker_config)
            .env("DOCKER_CONTEXT", &b.context);
    });
    assert_ran_on(&r, report.as_ref(), &b.engine2_tls);

    // currentContext in a config.json of its own (a copy of the test bed's context store).
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = Command::new("cp")
        .args(["-a", &format!("{}/contexts", b.docker_config)])
        .arg(dir.path())
        .status()
        .expect("cp runs");
    assert!(copy.success());
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"currentContext": "{}"}}"#, b.context),
    )
    .expect("write config.json");
    let (r, report) = run_default(|c| {
        c.env("DOCKER_CONFIG", dir.path());
    });
    assert_ran_on(&r, report.as_ref(), &b.engine2_tls);

    // DOCKER_HOST wins over the context, as with the docker CLI.
    let (r, report) = run_default(|c| {
        c.env("DOCKER_CONFIG", dir.path())
            .env("DOCKER_HOST", &b.engine2_socket);
    });
    assert_ran_on(&r, report.as_ref(), &b.engine2_socket);
}

#[test]
fn ssh_reaches_an_engine_through_docker_system_dial_stdio() {
    let b = bed();
    let (r, report) = run_default(|c| {
        c.args(["--host", &b.ssh]);
    });
    assert_ran_on(&r, report.as_ref(), &b.ssh);
    // User and port in the URL, as buildx nodes write them.
    let url = format!("ssh://root@archsmoke-ssh:{}", b.ssh_port);
    let (r, report) = run_default(|c| {
        c.args(["--host", &url]);
    });
    assert_ran_on(&r, report.as_ref(), &url);
}

/// An `ssh` first on PATH that logs each invocation's arguments to `ssh.log` beside it and runs
/// the real one; with `refuse_inspect`, the far side's `docker context inspect` is asked for a
/// context that does not exist and fails, as on a host whose docker CLI cannot say which socket
/// it dials (the login itself still succeeds).
fn logging_ssh(refuse_inspect: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let real = ["/usr/bin/ssh", "/bin/ssh"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("the test bed installs openssh-client");
    let log = dir.path().join("ssh.log");
    let refuse = if refuse_inspect {
        "case \"$*\" in *'context inspect') set -- \"$@\" archsmoke-no-such-context ;; esac\n"
    } else {
        ""
    };
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{}'\n{refuse}exec {real} \"$@\"\n",
        log.display()
    );
    let path = dir.path().join("ssh");
    std::fs::write(&path, script).expect("write the ssh wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn ssh_invocations(wrapper: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_to_string(wrapper.path().join("ssh.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Four tests on one platform over `host` with `wrapper`'s ssh first on PATH: at least four
/// containers, each attach a connection of its own.
fn run_over_logged_ssh(host: &str, wrapper: &tempfile::TempDir) -> (Run, serde_json::Value) {
    let s = spec(
        "ssh-route",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]

[[test]]
name = "one"
command = ["echo", "1"]
[[test]]
name = "two"
command = ["echo", "2"]
[[test]]
name = "three"
command = ["echo", "3"]
[[test]]
name = "four"
command = ["echo", "4"]
"#,
            image("multi")
        ),
    );
    let json = s.dir.path().join("report.json");
    let path = format!(
        "{}:{}",
        wrapper.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = clean();
    c.args(["run", s.path(), "--host", host, "--json"])
        .arg(&json)
        .env("PATH", path);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    (r, json_report(&json))
}

#[test]
fn ssh_logs_in_once_and_forwards_the_socket_the_far_sides_docker_cli_dials() {
    let b = bed();
    // The far side's DOCKER_HOST names engine2: the forward must reach it, as dial-stdio would.
    let reference = forget_child(&b.engine2_socket);
    let wrapper = logging_ssh(false);
    let (r, report) = run_over_logged_ssh(&b.ssh_engine2, &wrapper);
    assert_eq!(report["engine"]["endpoint"], b.ssh_engine2.as_str());
    assert_eq!(platform(&report, "linux/amd64")["result"], "passed");
    assert!(
        holds(&b.engine2_socket, &reference),
        "engine2 pulled {reference}: the forwarded socket is the one the far side dials"
    );
    let calls = ssh_invocations(&wrapper);
    // The login (its session asks `docker context inspect`), then `-O forward`; no process
    // per connection.
    assert_eq!(
        calls.len(),
        2,
        "ssh invocations: {calls:#?}\n{}",
        r.explain()
    );
    assert!(
        calls[0].contains("ControlMaster=yes") && calls[0].ends_with("docker context inspect"),
        "{calls:#?}"
    );
    assert!(calls[1].contains("-O forward"), "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c.contains("dial-stdio")),
        "{calls:#?}"
    );
}

#[test]
fn ssh_without_a_forwardable_socket_dials_docker_system_dial_stdio_in_one_session() {
    let b = bed();
    let wrapper = logging_ssh(true);
    let (_, report) = run_over_logged_ssh(&b.ssh, &wrapper);
    assert_eq!(report["engine"]["endpoint"], b.ssh.as_str());
    assert_eq!(platform(&report, "linux/amd64")["result"], "passed");
    let calls = ssh_invocations(&wrapper);
    let dials: Vec<&String> = calls.iter().filter(|c| c.contains("dial-stdio")).collect();
    assert!(
        dials.len() >= 4,
        "a connection per attach at least: {calls:#?}"
    );
    // The login came first, as the session's master, and only once.
    assert!(
        calls[0].contains("ControlMaster=yes") && calls[0].contains("context inspect"),
        "{calls:#?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.contains("ControlMaster=yes"))
            .count(),
        1,
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("-O forward")),
        "{calls:#?}"
    );
}

#[test]
fn podman_socket_is_an_engine() {
    let b = bed();
    let reference = forget_child(&b.podman_socket);
    let (r, report) = run_default(|c| {
        c.args(["--host", &b.podman_socket]);
    });
    assert_ran_on(&r, report.as_ref(), &b.podman_socket);
    assert!(
        holds(&b.podman_socket, &reference),
        "podman pulled {reference}"
    );
}

/// A connection failure: exit 3, the engine and its URL named, and a hint that fits the cause.
fn assert_unreachable(r: &Run, url: &str, cause: &str, hint: &str) {
    assert_eq!(r.code, 3, "{}", r.explain());
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains(url), "names {url}: {}", r.explain());
    assert!(
        all.contains("engine \"default\""),
        "names the engine: {}",
        r.explain()
    );
    assert!(all.contains(cause), "says {cause}: {}", r.explain());
    assert!(all.contains(hint), "hints {hint}: {}", r.explain());
}

#[test]
fn a_certificate_the_engine_does_not_trust_is_exit_3_naming_the_engine() {
    let b = bed();
    let (r, _) = run_default(|c| {
        c.args(["--host", &b.engine2_tls])
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &b.rogue_cert_path);
    });
    assert_unreachable(&r, &b.engine2_tls, "certificate", "TLS handshake");
}

#[test]
fn an_unknown_ssh_host_key_is_exit_3_naming_the_engine() {
    let b = bed();
    let (r, _) = run_default(|c| {
        c.args(["--host", &b.ssh_unknown_host]);
    });
    assert_unreachable(
        &r,
        &b.ssh_unknown_host,
        "Host key verification failed",
        "known_hosts",
    );
}

#[test]
fn a_refused_connection_is_exit_3_naming_the_engine() {
    let (r, _) = run_default(|c| {
        c.args(["--host", "tcp://127.0.0.1:1"]);
    });
    assert_unreachable(&r, "tcp://127.0.0.1:1", "refused", "start the engine");
}

// --- routing -------------------------------------------------------------------------------

#[path = "engines/routing.rs"]
mod routing;

#[path = "engines/merge.rs"]
mod merge;

#[path = "engines/probe_cache.rs"]
mod probe_cache;
