//! End to end, the third reliability round: service runs belong to their run (gc spares a live
//! one and cleans a killed one, relay image included), engines and images are untrusted input
//! (a fake engine of the test's own on 127.0.0.1, a hostile index), names cannot carry control
//! characters. Every test runs the real binary; nothing here touches what it did not create.

mod common;
#[path = "round_three/fake_engine.rs"]
mod fake_engine;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, archsmoke, image, labelled_containers, run, spec};
use fake_engine::{FakeEngine, base64_decode};

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

    /// Wait until `ready` holds for the run id, failing with the output after `limit`.
    fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let stderr = self.stderr();
            if let Some(id) = run_id(&stderr)
                && ready(&id)
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
            std::thread::sleep(Duration::from_millis(50));
        }
    }

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

/// The run's relay containers that exist now.
fn relays(id: &str) -> usize {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=archsmoke.run={id}"),
        ])
        .args(["--filter", "label=archsmoke.test=probe relay"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Temporary images (`archsmoke-probe`, `archsmoke-load`) tagged with the run's id.
fn run_images(id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .expect("docker images");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("archsmoke-") && l.contains(&format!(":{id}-")))
        .map(str::to_owned)
        .collect()
}

/// A service run whose probe takes seconds (its relay lives meanwhile) and whose test, an exec
/// inside the service, takes seconds more.
fn slow_service_spec() -> common::SpecFile {
    spec(
        "slow-service",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]

[service]
[service.ready]
tcp = 8080

[[probe]]
name = "slow"
http = {{ port = 8080, path = "/cgi-bin/slow" }}
body_contains = "slow answer"
timeout = "30s"

[[test]]
name = "still here"
command = ["sleep", "4"]
"#,
            image("web")
        ),
    )
}

#[test]
fn gc_of_a_live_service_run_spares_its_service_relay_and_relay_image() {
    let s = slow_service_spec();
    let mut bg = Background::start(&["run", s.path()]);
    let id = bg.wait_until(Duration::from_secs(120), |id| relays(id) > 0);
    let g = run(&["gc", "--run", &id]);
    assert_eq!(g.code, 0, "{}", g.explain());
    assert!(
        g.stdout.contains("of live run(s)") && g.stdout.contains("removed 0 container(s)"),
        "gc took a live service run's containers:\n{}",
        g.explain()
    );
    assert!(
        g.stdout.contains("removed 0 temporary image(s)"),
        "{}",
        g.explain()
    );
    let r = bg.finish(Duration::from_secs(120));
    assert_eq!(r.code, 0, "the live run was disturbed:\n{}", r.explain());
    assert!(labelled_containers(Some(&id)).is_empty(), "{}", r.explain());
    assert!(run_images(&id).is_empty(), "{:?}", run_images(&id));
}

#[test]
fn gc_run_after_kill_9_of_a_service_run_removes_its_containers_and_relay_image() {
    let s = slow_service_spec();
    let mut bg = Background::start(&["run", s.path()]);
    let id = bg.wait_until(Duration::from_secs(120), |id| relays(id) > 0);
    assert!(
        run_images(&id).iter().any(|i| i.contains("-relay-")),
        "no relay image while a relay runs: {:?}",
        run_images(&id)
    );
    bg.child.kill().expect("kill -9");
    let _ = bg.child.wait();
    let g = run(&["gc", "--run", &id]);
    assert_eq!(g.code, 0, "{}", g.explain());
    assert!(labelled_containers(Some(&id)).is_empty(), "{}", g.explain());
    assert_eq!(run_images(&id), Vec::<String>::new(), "{}", g.explain());
}

/// The test bed's htpasswd registry and its user.
const AUTH_REGISTRY: &str = "127.0.0.1:5001";
const PASSWORD: &str = "archsmoke-secret";

/// A Docker config directory logged in to the htpasswd registry.
fn logged_in() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let auth: String = {
        // base64("archsmoke:archsmoke-secret"), checked by decoding it back.
        let encoded = "YXJjaHNtb2tlOmFyY2hzbW9rZS1zZWNyZXQ=";
        assert_eq!(
            base64_decode(encoded),
            format!("archsmoke:{PASSWORD}").as_bytes()
        );
        encoded.to_owned()
    };
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{AUTH_REGISTRY}":{{"auth":"{auth}"}}}}}}"#),
    )
    .expect("config.json");
    dir
}

/// Run a spec routing linux/arm64 to a fake arm64 engine the spec names; what the fake engine
/// received as `X-Registry-Auth` on its pull, decoded, with the run.
fn pull_through_spec_engine(extra: &[&str]) -> (Run, Vec<String>) {
    common::require_testbed();
    let engine = FakeEngine::start("aarch64", |_, _| None);
    let s = spec(
        "spec-engine",
        &format!(
            r#"
image = "{AUTH_REGISTRY}/{}:multi"
platforms = ["linux/arm64"]

[[engine]]
name = "claims-arm64"
host = "{}"
platforms = ["linux/arm64"]

[[test]]
name = "t"
command = ["true"]
"#,
            common::REPO,
            engine.url()
        ),
    );
    let config = logged_in();
    let r = Run::from(
        archsmoke()
            .args(["run", s.path()])
            .args(extra)
            .env("DOCKER_CONFIG", config.path())
            .output()
            .expect("archsmoke starts"),
    );
    let pulls: Vec<_> = engine
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST" && s.path == "/images/create")
        .collect();
    assert!(
        !pulls.is_empty(),
        "the fake engine saw no pull:\n{}",
        r.explain()
    );
    let auth = pulls
        .iter()
        .map(|p| {
            p.headers
                .get("x-registry-auth")
                .map(|v| String::from_utf8_lossy(&base64_decode(v)).into_owned())
                .unwrap_or_default()
        })
        .collect();
    (r, auth)
}

#[test]
fn an_engine_the_spec_names_gets_no_registry_credentials_without_the_flag() {
    let (r, auth) = pull_through_spec_engine(&[]);
    assert!(
        auth.iter().all(|a| !a.contains(PASSWORD)),
        "the spec's engine received the password: {auth:?}"
    );
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout.contains("registry credentials were not sent")
            && r.stdout.contains("--trust-spec-engines"),
        "the failed pull does not say why:\n{}",
        r.explain()
    );
    // Trusted on purpose, over loopback: the same engine gets them (so the check above can fail).
    let (_, trusted) = pull_through_spec_engine(&["--trust-spec-engines"]);
    assert!(
        trusted.iter().any(|a| a.contains(PASSWORD)),
        "no credentials even when trusted: {trusted:?}"
    );
}

/// The most memory the process ever held (VmHWM), while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `archsmoke doctor` against a fake engine whose `endless` call streams without end: it ends
/// with exit 3 naming the bound, its memory far below what the stream sent.
fn an_endless_reply_is_cut_at_its_bound(endless: &'static str) {
    let engine = FakeEngine::start("x86_64", move |_, path| {
        (path == endless).then_some(fake_engine::Reply::Endless)
    });
    let started = Instant::now();
    let mut child = archsmoke()
        .args(["doctor", "--host", &engine.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        if peak > 400 * 1024 {
            // Stopped here: an unbounded read would take the machine's memory.
            let _ = child.kill();
            panic!("peak RSS {peak} KiB while the engine streamed {endless}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still running after 120 s, {peak} KiB"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = Run::from(child.wait_with_output().expect("output"));
    assert_eq!(r.code, 3, "{}", r.explain());
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("the engine's reply to GET /")
            && all.contains(&format!("{endless} passed 32 MiB")),
        "the error does not name the bound:\n{}",
        r.explain()
    );
}

#[test]
fn an_endless_version_reply_is_bounded() {
    an_endless_reply_is_cut_at_its_bound("/version");
}

#[test]
fn an_endless_info_reply_is_bounded() {
    an_endless_reply_is_cut_at_its_bound("/info");
}
