//! End to end: nothing left behind, nothing lost, bounded resources, faults of the engine and
//! the registry. Every test runs the real binary against the real engine and test registry;
//! faults are injected by a proxy the test owns (`reliability/proxy.rs`), never by touching the
//! shared engine or registries.

mod common;
#[path = "reliability/proxy.rs"]
mod proxy;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, archsmoke, image, json_report, labelled_containers, run, spec};
use proxy::Proxy;

const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// archsmoke running in the background, its output going to files the test can read meanwhile.
struct Background {
    child: Child,
    dir: tempfile::TempDir,
}

impl Background {
    fn start(args: &[&str]) -> Background {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let child = archsmoke()
            .args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("archsmoke starts");
        Background { child, dir }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `ready` holds for (run id, stderr), failing with the output after `limit`.
    fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut(&str, &str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let stderr = self.stderr();
            if let Some(id) = run_id(&stderr)
                && ready(&id, &stderr)
            {
                return id;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("archsmoke exited early ({status}):\n{stderr}");
            }
            assert!(
                start.elapsed() < limit,
                "not ready within {limit:?}:\n{stderr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill -s {signal} failed");
    }

    /// Wait for the exit, at most `limit` (then kill it and fail).
    fn finish(mut self, limit: Duration) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "archsmoke did not exit within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default(),
            stderr: self.stderr(),
        }
    }
}

fn run_id(stderr: &str) -> Option<String> {
    let start = stderr.find("[run ")? + 5;
    Some(stderr[start..].split(']').next()?.to_owned())
}

/// Two tests that sleep far longer than the test: the run is mid-way while they do.
fn slow_spec() -> common::SpecFile {
    spec(
        "slow",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
timeout = "10m"
jobs = 2
[[test]]
name = "slow-1"
command = ["sleep", "600"]
[[test]]
name = "slow-2"
command = ["sleep", "600"]
"#,
            image("multi")
        ),
    )
}

fn gc_run(id: &str) {
    let r = run(&["gc", "--run", id]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

fn interrupt_cleans_up(signal: &str) {
    let s = slow_spec();
    let report = s.dir.path().join("report.json");
    let mut bg = Background::start(&["run", s.path(), "--json", report.to_str().expect("utf-8")]);
    let id = bg.wait_until(Duration::from_secs(120), |id, _| {
        labelled_containers(Some(id)).len() == 2
    });
    bg.signal(signal);
    let r = bg.finish(Duration::from_secs(60));
    let left = labelled_containers(Some(&id));
    if !left.is_empty() {
        gc_run(&id);
    }
    assert!(left.is_empty(), "{signal} left {left:?}\n{}", r.explain());
    assert_eq!(r.code, 3, "{}", r.explain());
    let doc = json_report(&report);
    assert_eq!(doc["interrupted"], true, "{doc}");
    assert_eq!(doc["run_id"], id.as_str());
}

#[test]
fn sigint_mid_run_leaves_no_container_and_writes_an_interrupted_report() {
    interrupt_cleans_up("INT");
}

#[test]
fn sigterm_mid_run_leaves_no_container_and_writes_an_interrupted_report() {
    interrupt_cleans_up("TERM");
}

#[test]
fn a_second_signal_forces_exit_while_cleanup_hangs() {
    let s = slow_spec();
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("docker.sock");
    let engine = Proxy::unix(&socket, Path::new(DOCKER_SOCKET));
    let mut bg = Background::start(&["--host", &engine.address, "run", s.path()]);
    let id = bg.wait_until(Duration::from_secs(120), |id, _| {
        labelled_containers(Some(id)).len() == 2
    });
    // A hung engine makes the graceful cleanup wait (up to its bound); the user's second
    // Ctrl-C must not.
    engine.freeze();
    bg.signal("INT");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        bg.child.try_wait().expect("wait").is_none(),
        "the first signal should still be cleaning up against the frozen engine"
    );
    let forced = Instant::now();
    bg.signal("INT");
    let r = bg.finish(Duration::from_secs(10));
    assert!(forced.elapsed() < Duration::from_secs(5), "{}", r.explain());
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(r.stderr.contains("interrupted twice"), "{}", r.explain());
    drop(engine);
    // Nothing was cleaned up; `gc` does it once the engine answers.
    assert_eq!(labelled_containers(Some(&id)).len(), 2);
    gc_run(&id);
    assert!(labelled_containers(Some(&id)).is_empty());
}

#[test]
fn gc_removes_what_a_killed_run_left_and_temporary_images() {
    let s = slow_spec();
    let mut bg = Background::start(&["run", s.path()]);
    let id = bg.wait_until(Duration::from_secs(120), |id, _| {
        labelled_containers(Some(id)).len() == 2
    });
    bg.signal("KILL");
    let r = bg.finish(Duration::from_secs(10));
    assert_eq!(r.code, -1, "SIGKILL has no exit code");
    assert_eq!(
        labelled_containers(Some(&id)).len(),
        2,
        "SIGKILL cannot clean up"
    );
    // Too young for --older-than 1h: a run in progress is never collected.
    let r = run(&["gc", "--older-than", "1h", "--run", &id]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(labelled_containers(Some(&id)).len(), 2, "{}", r.explain());
    gc_run(&id);
    assert!(labelled_containers(Some(&id)).is_empty());

    // A temporary image (the fixtures are dated 2024-01-01, so it is old enough).
    let tag = format!("archsmoke-load:gc-test-{}", std::process::id());
    let fixture = format!(
        "{}@{}",
        image("multi").replace(":multi", ""),
        amd64_digest()
    );
    docker(&["pull", "-q", &fixture]);
    docker(&["tag", &fixture, &tag]);
    let r = run(&["gc", "--older-than", "700d"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let out = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .expect("docker runs");
    assert!(!out.status.success(), "{tag} survived gc:\n{}", r.explain());
}

fn docker(args: &[&str]) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
}

fn amd64_digest() -> String {
    let text = std::fs::read_to_string(common::testbed_dir().join("fixtures.json"))
        .expect("fixtures.json: run `sudo tests/testbed/up.sh`");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("fixtures.json parses");
    doc["tags"]["multi"]["platforms"]["linux/amd64"]
        .as_str()
        .expect("multi has linux/amd64")
        .to_owned()
}

/// Peak resident memory (VmHWM) of a process, in bytes, while it lives.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Nothing is expected of the flood's stdout, so it is never kept whole (a stream with
/// expectations past the documented hard bound is an error instead: see `engine::capture`).
#[test]
fn a_gigabyte_of_output_keeps_memory_bounded_and_the_tail() {
    let s = spec(
        "flood",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
output_limit = "1MiB"
[[test]]
name = "flood"
command = ["sh", "-c", "yes | head -c 1000000000; echo END"]
timeout = "10m"
"#,
            image("multi")
        ),
    );
    let report = s.dir.path().join("report.json");
    let junit = s.dir.path().join("junit.xml");
    // The command line overrides the spec's 1MiB.
    let bg = Background::start(&[
        "run",
        s.path(),
        "--output-limit",
        "64KiB",
        "--json",
        report.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    let pid = bg.pid();
    let mut peak = 0;
    let mut bg = Some(bg);
    let start = Instant::now();
    let r = loop {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
        let b = bg.as_mut().expect("running");
        if b.child.try_wait().expect("wait").is_some() {
            break bg.take().expect("running").finish(Duration::from_secs(1));
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "flood took too long"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(peak > 0, "could not read the peak RSS");
    assert!(
        peak < 100 << 20,
        "peak RSS {} MiB while a test printed 1 GB",
        peak >> 20
    );
    let doc = json_report(&report);
    let test = &doc["platforms"][0]["tests"][0];
    // Half of the limit for the head, half for the tail; the bytes between them counted.
    let head = test["stdout_head"].as_str().expect("stdout_head");
    let tail = test["stdout"].as_str().expect("stdout");
    assert_eq!((head.len(), tail.len()), (32 * 1024, 32 * 1024), "{test}");
    assert!(
        head.starts_with("y\ny\n") && tail.ends_with("y\nEND\n"),
        "{test}"
    );
    assert_eq!(
        test["stdout_dropped_bytes"].as_u64(),
        Some(1_000_000_004 - 64 * 1024)
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains(&format!(
            "[… {} bytes omitted …]",
            1_000_000_004 - 64 * 1024
        )),
        "no truncation marker in the JUnit report"
    );
    eprintln!("peak RSS {} KiB", peak >> 10);
}

#[test]
fn a_container_ignoring_sigterm_is_killed_at_its_timeout() {
    let s = spec(
        "stubborn",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[[test]]
name = "stubborn"
command = ["sh", "-c", "trap '' TERM; sleep 600"]
timeout = "2s"
"#,
            image("multi")
        ),
    );
    let report = s.dir.path().join("report.json");
    let start = Instant::now();
    let r = run(&["run", s.path(), "--json", report.to_str().expect("utf-8")]);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    let doc = json_report(&report);
    assert_eq!(
        doc["platforms"][0]["tests"][0]["status"], "timed_out",
        "{doc}"
    );
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn the_engine_going_away_mid_run_is_exit_3_with_finished_results_kept() {
    let s = spec(
        "engine-dies",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
timeout = "10m"
jobs = 2
[[test]]
name = "quick"
command = ["echo", "hi"]
stdout = "hi\n"
[[test]]
name = "slow"
command = ["sleep", "600"]
"#,
            image("multi")
        ),
    );
    let report = s.dir.path().join("report.json");
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("docker.sock");
    let engine = Proxy::unix(&socket, Path::new(DOCKER_SOCKET));
    let mut bg = Background::start(&[
        "--host",
        &engine.address,
        "run",
        s.path(),
        "--json",
        report.to_str().expect("utf-8"),
    ]);
    let id = bg.wait_until(Duration::from_secs(120), |id, stderr| {
        stderr.contains("pass quick") && labelled_containers(Some(id)).len() == 1
    });
    engine.kill();
    let r = bg.finish(Duration::from_secs(60));
    assert_eq!(r.code, 3, "{}", r.explain());
    let doc = json_report(&report);
    let tests = &doc["platforms"][0]["tests"];
    assert_eq!(tests[0]["name"], "quick");
    assert_eq!(tests[0]["status"], "passed", "{doc}");
    assert_eq!(tests[1]["status"], "error", "{doc}");
    assert!(
        tests[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("engine")),
        "{doc}"
    );
    // The engine is back (the real socket): the run's container is found and removed by label.
    gc_run(&id);
    assert!(labelled_containers(Some(&id)).is_empty());
}

#[test]
fn the_registry_going_away_mid_resolve_is_exit_3_naming_what_failed() {
    let registry = Proxy::tcp(&common::registry(), Some(1));
    let reference = format!("{}/{}:multi", registry.address, common::REPO);
    let s = spec(
        "registry-dies",
        "[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    );
    let report = s.dir.path().join("report.json");
    let r = run(&[
        "run",
        s.path(),
        "--image",
        &reference,
        "--platform",
        "linux/amd64",
        "--json",
        report.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(registry.requests() >= 1, "the proxy saw no request");
    assert!(
        r.stdout.contains(&registry.address) || r.stderr.contains(&registry.address),
        "the error should name the registry:\n{}",
        r.explain()
    );
    let doc = json_report(&report);
    let kind = doc["problem"]["kind"]
        .as_str()
        .or_else(|| doc["platforms"][0]["problem"]["kind"].as_str());
    assert_eq!(kind, Some("registry"), "{doc}");
}

#[test]
fn a_frozen_engine_ends_the_run_with_exit_3_and_its_reports() {
    let s = spec(
        "engine-freezes",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
timeout = "5s"
[[test]]
name = "sleeps"
command = ["sleep", "600"]
"#,
            image("multi")
        ),
    );
    let report = s.dir.path().join("report.json");
    let junit = s.dir.path().join("report.xml");
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("docker.sock");
    let engine = Proxy::unix(&socket, Path::new(DOCKER_SOCKET));
    let mut bg = Background::start(&[
        "--host",
        &engine.address,
        "run",
        s.path(),
        "--json",
        report.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    let id = bg.wait_until(Duration::from_secs(120), |id, _| {
        labelled_containers(Some(id)).len() == 1
    });
    // A relay that stops forwarding: connections stay open, nothing comes back.
    engine.freeze();
    let frozen = Instant::now();
    let r = bg.finish(Duration::from_secs(120));
    eprintln!("ended {:?} after the freeze", frozen.elapsed());
    assert_eq!(r.code, 3, "{}", r.explain());
    let doc = json_report(&report);
    let test = &doc["platforms"][0]["tests"][0];
    assert_eq!(test["status"], "error", "{doc}");
    assert!(
        test["error"]
            .as_str()
            .is_some_and(|e| e.contains("not responding")),
        "{doc}"
    );
    assert!(junit.exists(), "no JUnit report");
    drop(engine);
    gc_run(&id);
    assert!(labelled_containers(Some(&id)).is_empty());
}

#[test]
fn gc_spares_a_live_run_and_a_container_taken_away_is_an_infrastructure_error() {
    let s = spec(
        "taken-away",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]
[settings]
timeout = "10m"
[[test]]
name = "victim"
command = ["sleep", "600"]
"#,
            image("multi")
        ),
    );
    let report = s.dir.path().join("report.json");
    let mut bg = Background::start(&["run", s.path(), "--json", report.to_str().expect("utf-8")]);
    let id = bg.wait_until(Duration::from_secs(120), |id, _| {
        labelled_containers(Some(id)).len() == 1
    });
    // The run is alive on this host: gc leaves it alone and says so.
    let g = run(&["gc", "--run", &id]);
    assert_eq!(g.code, 0, "{}", g.explain());
    assert!(
        g.stdout.contains("skipped 1 container(s) of live run(s)"),
        "{}",
        g.explain()
    );
    let left = labelled_containers(Some(&id));
    assert_eq!(left.len(), 1, "gc took a live run's container");
    // Someone takes it anyway: the test's result is unknown, not a failure.
    docker(&["rm", "-f", &left[0]]);
    let r = bg.finish(Duration::from_secs(60));
    assert_eq!(r.code, 3, "{}", r.explain());
    let doc = json_report(&report);
    let test = &doc["platforms"][0]["tests"][0];
    assert_eq!(test["status"], "error", "{doc}");
    assert!(
        test["error"]
            .as_str()
            .is_some_and(|e| e.contains("removed by someone else")),
        "{doc}"
    );
}

/// A signal while the registry does not answer: the run ends at once with its report.
fn signal_during_resolve(signal: &str) {
    let registry = Proxy::tcp(&common::registry(), None);
    registry.freeze();
    let reference = format!("{}/{}:multi", registry.address, common::REPO);
    let s = spec(
        "slow-registry",
        "[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    );
    let report = s.dir.path().join("report.json");
    let bg = Background::start(&[
        "run",
        s.path(),
        "--image",
        &reference,
        "--json",
        report.to_str().expect("utf-8"),
    ]);
    // Resolving: the registry has the request and keeps it.
    std::thread::sleep(Duration::from_secs(3));
    bg.signal(signal);
    let signalled = Instant::now();
    let r = bg.finish(Duration::from_secs(20));
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{signal} took {:?}",
        signalled.elapsed()
    );
    assert_eq!(r.code, 3, "{signal}: {}", r.explain());
    let doc = json_report(&report);
    assert_eq!(doc["interrupted"], true, "{doc}");
    assert_eq!(doc["problem"]["kind"], "interrupted", "{doc}");
}

#[test]
fn sigterm_while_the_registry_is_slow_ends_the_run_with_a_report() {
    signal_during_resolve("TERM");
}

#[test]
fn sigint_while_the_registry_is_slow_ends_the_run_with_a_report() {
    signal_during_resolve("INT");
}

/// An engine that hangs in the middle of loading an OCI archive's image (a relay that stops
/// forwarding once the load request went through) ends the run with exit 3 and its reports,
/// within the deadline the tests' timeout gives the engine between two signs of progress.
#[test]
fn an_engine_frozen_while_loading_a_layout_image_ends_the_run_with_exit_3() {
    let oci = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".into());
    let archive = format!("oci-archive:{oci}/oci/multi.tar");
    common::require_testbed();
    let s = spec(
        "load-freezes",
        r#"
platforms = ["linux/amd64"]
[settings]
timeout = "5s"
[[test]]
name = "machine"
command = ["uname", "-m"]
"#,
    );
    let report = s.dir.path().join("report.json");
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("docker.sock");
    let engine = Proxy::unix(&socket, Path::new(DOCKER_SOCKET));
    engine.freeze_on("/images/load");
    let started = Instant::now();
    let out = archsmoke()
        .args([
            "--host",
            &engine.address,
            "run",
            s.path(),
            "--image",
            &archive,
        ])
        .arg("--json")
        .arg(&report)
        .output()
        .expect("archsmoke starts");
    let r = Run::from(out);
    let took = started.elapsed();
    assert_eq!(r.code, 3, "{}", r.explain());
    // 10 s without progress (the 5 s timeout, raised to the 10 s floor), plus at most the 20 s
    // of the final sweep against the frozen engine.
    assert!(
        took < Duration::from_secs(45),
        "took {took:?}: {}",
        r.explain()
    );
    let doc = json_report(&report);
    let problem = doc["platforms"][0]["problem"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        problem.contains("load an image archive") && problem.contains("not responding"),
        "{doc:#}"
    );
    drop(engine);
}
