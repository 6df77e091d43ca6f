//! Routing platforms to engines: pins, `--engine`, credentials on a remote pull, an engine lost
//! mid-run, SIGINT cleanup and `gc` on every engine.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A spec pinning `pinned` to engine2 over TLS (its `[[engine]]` table), the rest routed.
fn pinned_spec(platforms: &[&str], pinned: &str, command: &str, b: &Bed) -> common::SpecFile {
    let list = platforms
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    spec(
        "routing",
        &format!(
            r#"
image = "{image}"
platforms = [{list}]

[[engine]]
name = "engine2"
host = "{tls}"
cert_path = "{certs}"
platforms = ["{pinned}"]

[[test]]
name = "machine"
command = ["sh", "-c", "{command}"]
"#,
            image = image("multi"),
            tls = b.engine2_tls,
            certs = b.cert_path,
        ),
    )
}

fn run_json(c: &mut Command, s: &common::SpecFile) -> (Run, serde_json::Value) {
    let json = s.dir.path().join("report.json");
    c.args(["--json", json.to_str().expect("utf-8")]);
    let r = go(std::mem::replace(c, clean()));
    let report = json_report(&json);
    (r, report)
}

#[test]
fn a_pinned_platform_runs_on_its_engine_and_the_others_by_architecture() {
    let b = bed();
    let amd64 = forget_child(&b.engine2_socket);
    let s = pinned_spec(
        &["linux/amd64", "linux/arm64"],
        "linux/amd64",
        "uname -m",
        &b,
    );
    let junit = s.dir.path().join("junit.xml");
    let mut c = clean();
    c.args(["run", s.path(), "--junit", junit.to_str().expect("utf-8")]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(platform(&report, "linux/amd64")["engine"], "engine2");
    assert_eq!(platform(&report, "linux/arm64")["engine"], "default");
    let names: Vec<&str> = report["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "engine2"]);
    // The pulled digest is in engine2's store: engine2 really ran it.
    assert!(holds(&b.engine2_socket, &amd64), "{amd64} on engine2");
    // The matrix, the progress lines, the header and JUnit name the engine too.
    assert!(r.row("linux/amd64").contains("engine2"), "{}", r.stdout);
    assert!(
        r.stderr.contains("[linux/amd64] native on engine2"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout.contains("engine engine2 Docker"),
        "{}",
        r.explain()
    );
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains(r#"name="archsmoke.engine.name" value="engine2""#),
        "{xml}"
    );
}

#[test]
fn engines_from_the_command_line_and_contexts_are_connected_and_listed() {
    let b = bed();
    let s = one_platform_spec();
    let mut c = clean();
    c.env("DOCKER_CONFIG", &b.docker_config).args([
        "run",
        s.path(),
        "--engine",
        &format!("pod={}", b.podman_socket),
        "--engine",
        &format!("ctx=context:{}", b.context),
    ]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 0, "{}", r.explain());
    let endpoints: Vec<(&str, &str)> = report["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or(""),
                e["endpoint"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        endpoints.contains(&("pod", b.podman_socket.as_str())),
        "{endpoints:?}"
    );
    assert!(
        endpoints.contains(&("ctx", b.engine2_tls.as_str())),
        "{endpoints:?}"
    );
    // Native on the default engine, which comes first.
    assert_eq!(platform(&report, "linux/amd64")["engine"], "default");
}

#[test]
fn a_pinned_engine_with_a_bad_certificate_fails_only_its_platform_naming_it() {
    let b = bed();
    let s = spec(
        "badcert",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[[engine]]
name = "rogue"
host = "{}"
cert_path = "{}"
platforms = ["linux/amd64"]

[[test]]
name = "true"
command = ["true"]
"#,
            image("multi"),
            b.engine2_tls,
            b.rogue_cert_path
        ),
    );
    let mut c = clean();
    c.args(["run", s.path()]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 3, "{}", r.explain());
    let amd64 = platform(&report, "linux/amd64");
    assert_eq!(amd64["engine"], "rogue");
    assert_eq!(amd64["result"], "error");
    let message = amd64["problem"]["message"].as_str().expect("message");
    assert!(message.contains("engine \"rogue\""), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert_eq!(platform(&report, "linux/arm64")["result"], "passed");
}

#[test]
fn a_remote_engine_pulls_with_the_credentials_archsmoke_sends() {
    let b = bed();
    let reference = format!(
        "{}/{}@{}",
        common::auth_registry(),
        common::REPO,
        child_ref("multi", "linux/amd64")
            .rsplit_once('@')
            .expect("digest")
            .1
    );
    let _ = docker_on(&b.engine2_socket, &["image", "rm", "-f", &reference]);
    let config = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "YXJjaHNtb2tlOmFyY2hzbW9rZS1zZWNyZXQ="}}}}}}"#,
            common::auth_registry()
        ),
    )
    .expect("config.json");
    let s = pinned_spec(&["linux/amd64"], "linux/amd64", "true", &b);
    let mut c = clean();
    // engine2 is named by the spec: it gets credentials only when trusted on purpose.
    c.env("DOCKER_CONFIG", config.path()).args([
        "run",
        s.path(),
        "--image",
        &format!("{}/archsmoke/busybox:multi", common::auth_registry()),
        "--trust-spec-engines",
    ]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(platform(&report, "linux/amd64")["engine"], "engine2");
    // engine2 has no login of its own: the pull worked with what archsmoke sent.
    assert!(
        holds(&b.engine2_socket, &reference),
        "{reference} on engine2"
    );
}

pub(super) fn engine2_pid() -> i32 {
    let dir = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    std::fs::read_to_string(Path::new(&dir).join("engines/dockerd2/dockerd.pid"))
        .expect("engine2 pid file")
        .trim()
        .parse()
        .expect("pid")
}

pub(super) fn restart_engine2() {
    let status = Command::new(common::repo_root().join("tests/testbed/engines.sh"))
        .arg("engine2")
        .status()
        .expect("engines.sh runs");
    assert!(status.success(), "engines.sh engine2 brought engine2 back");
}

/// Waits until a container labelled with a run id exists on `host`; returns the run id.
fn wait_for_run_container(host: &str, deadline: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        let out = docker_on(
            host,
            &[
                "ps",
                "--filter",
                "label=archsmoke.run",
                "--format",
                "{{.Label \"archsmoke.run\"}}",
            ],
        );
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            return Some(id.to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Removes every container of run `id` on `host`, and checks none is left.
fn remove_run_containers(host: &str, id: &str) {
    let out = docker_on(
        host,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=archsmoke.run={id}"),
        ],
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for c in &ids {
        let rm = docker_on(host, &["rm", "-f", c]);
        assert!(rm.status.success(), "docker rm -f {c} on {host}: {rm:?}");
    }
    let after = docker_on(
        host,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=archsmoke.run={id}"),
        ],
    );
    assert!(
        String::from_utf8_lossy(&after.stdout).trim().is_empty(),
        "containers of run {id} are still on {host}"
    );
}

#[test]
fn an_engine_lost_mid_run_fails_only_its_platforms() {
    let b = bed_alone();
    let s = pinned_spec(
        &["linux/amd64", "linux/arm64"],
        "linux/amd64",
        "sleep 6",
        &b,
    );
    let json = s.dir.path().join("report.json");
    let child = clean()
        .args(["run", s.path(), "--json", json.to_str().expect("utf-8")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let started = wait_for_run_container(&b.engine2_socket, Duration::from_secs(60));
    // Killed, as a crashed engine or a dropped machine: no goodbye.
    let _ = Command::new("kill")
        .args(["-KILL", &engine2_pid().to_string()])
        .status();
    let out = child.wait_with_output().expect("archsmoke finishes");
    restart_engine2();
    // archsmoke could not remove its container from a dead engine; the restarted engine still
    // holds it, exited. Remove it here so the test leaves engine2 as it found it.
    if let Some(id) = &started {
        remove_run_containers(&b.engine2_socket, id);
    }
    assert!(started.is_some(), "a container started on engine2");
    let r = Run::from(out);
    assert_eq!(r.code, 3, "{}", r.explain());
    let report = json_report(&json);
    let amd64 = platform(&report, "linux/amd64");
    assert_eq!(amd64["engine"], "engine2");
    assert_eq!(amd64["result"], "error", "{amd64:#}");
    assert_eq!(platform(&report, "linux/arm64")["result"], "passed");
}

#[test]
fn sigint_cleans_up_on_every_engine_and_gc_sweeps_every_engine() {
    let b = bed();
    let s = pinned_spec(
        &["linux/amd64", "linux/arm64"],
        "linux/amd64",
        "sleep 60",
        &b,
    );
    let child = clean()
        .args(["run", s.path()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let on_engine2 = wait_for_run_container(&b.engine2_socket, Duration::from_secs(60));
    let on_default = wait_for_run_container("unix:///var/run/docker.sock", Duration::from_secs(60));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("archsmoke finishes");
    let r = Run::from(out);
    let run_id = on_engine2.clone().expect("a container ran on engine2");
    assert!(
        on_default.is_some(),
        "a container ran on the default engine"
    );
    assert_eq!(r.code, 3, "{}", r.explain());
    for host in [b.engine2_socket.as_str(), "unix:///var/run/docker.sock"] {
        let left = docker_on(
            host,
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=archsmoke.run={run_id}"),
            ],
        );
        assert!(
            String::from_utf8_lossy(&left.stdout).trim().is_empty(),
            "run {run_id} left containers on {host}"
        );
    }

    // gc: a container a killed run left on engine2 goes with --engine, by its run id.
    let orphan_run = format!("gc-{run_id}");
    let created = docker_on(
        &b.engine2_socket,
        &[
            "create",
            "--label",
            &format!("archsmoke.run={orphan_run}"),
            &child_ref("multi", "linux/amd64"),
            "true",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let mut c = clean();
    c.args([
        "gc",
        "--run",
        &orphan_run,
        "--engine",
        &format!("engine2={}", b.engine2_socket),
    ]);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("engine engine2: removed 1 container(s)"),
        "{}",
        r.explain()
    );
    let left = docker_on(
        &b.engine2_socket,
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=archsmoke.run={orphan_run}"),
        ],
    );
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());
}

#[test]
fn a_remote_engine_is_probed_once_for_what_it_emulates() {
    let b = bed();
    let s = spec(
        "probe",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/arm64\"]\n\n[[test]]\nname = \"machine\"\n\
             command = [\"uname\", \"-m\"]\nstdout = \"aarch64\\n\"\n",
            image("multi")
        ),
    );
    // A cache of its own: another run's answer would spare the probe this test is about.
    let cache = tempfile::tempdir().expect("temp dir");
    let mut c = clean();
    c.env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &b.cert_path)
        .env("XDG_CACHE_HOME", cache.path())
        .args(["run", s.path(), "--host", &b.engine2_tls]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stderr.contains("probing 1 platform(s) on remote engines"),
        "{}",
        r.explain()
    );
    let arm64 = platform(&report, "linux/arm64");
    assert_eq!(arm64["execution"]["mode"], "emulated", "{arm64:#}");
    // The emulator is named from engine2's process list, as a local engine's QEMU entry is.
    assert_eq!(arm64["mode"], "qemu-aarch64 (probed)", "{arm64:#}");
    assert_eq!(arm64["execution"]["emulator"]["kind"], "qemu", "{arm64:#}");
    // This run's probe image is gone again (other tests' runs may probe engine2 meanwhile).
    let run_id = report["run_id"].as_str().expect("run_id");
    let images = docker_on(
        &b.engine2_socket,
        &["images", "--format", "{{.Tag}}", "archsmoke-probe"],
    );
    let left = String::from_utf8_lossy(&images.stdout);
    assert!(
        !left.lines().any(|t| t.starts_with(run_id)),
        "probe images of run {run_id} left: {left}"
    );
}

/// `--compare-emulation` on a platform no engine of another architecture can emulate (every
/// engine of this test bed is amd64): the native row runs and owns the image checks, the twin
/// row says why it cannot run, lists its tests as not run, and the run is an infrastructure
/// failure, not a pass.
#[test]
fn compare_emulation_without_an_emulating_engine_says_so_in_its_own_row() {
    let _b = bed();
    let s = spec(
        "compare",
        "[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\n",
    );
    let mut c = clean();
    c.args([
        "run",
        s.path(),
        "--image",
        &image("multi"),
        "--platform",
        "linux/amd64",
        "--compare-emulation",
        "linux/amd64",
    ]);
    let (r, report) = run_json(&mut c, &s);
    assert_eq!(r.code, 3, "{}", r.explain());
    let rows: Vec<(String, String, usize)> = report["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .map(|p| {
            (
                p["mode"].as_str().unwrap_or("-").to_owned(),
                p["result"].as_str().unwrap_or("-").to_owned(),
                p["tests"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    // The native row: the test, and the ELF audit once; the twin: its test, not run.
    assert_eq!(
        rows,
        [
            ("native".to_owned(), "passed".to_owned(), 2),
            ("unavailable".to_owned(), "error".to_owned(), 1)
        ],
        "{report:#}"
    );
    assert!(
        r.stdout.contains("no other engine emulates it"),
        "{}",
        r.explain()
    );
    assert_eq!(
        r.stderr.matches("pass audit elf").count(),
        1,
        "{}",
        r.explain()
    );
}
