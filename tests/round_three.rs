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

/// Another remover (a second `gc`, a `docker rm`) already removing a container is not a
/// failure of this sweep: the engine answers 409 "removal ... already in progress", gc waits
/// for the container to be gone and exits 0. Seen in CI as exit 3 after a kill -9.
#[test]
fn gc_takes_a_removal_already_in_progress_as_its_own() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let id = "c0ffee0000000000000000000000000000000000000000000000000000000000";
    let inspected = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = inspected.clone();
    let engine = FakeEngine::start("x86_64", move |method, path| {
        let json = |status: u16, body: String| Some(fake_engine::Reply::Json(status, body));
        match (method, path) {
            ("GET", "/containers/json") => json(
                200,
                format!(r#"[{{"Id":"{id}","Created":1,"Labels":{{"archsmoke.run":"r-409"}}}}]"#),
            ),
            ("DELETE", p) if p == format!("/containers/{id}") => json(
                409,
                format!(r#"{{"message":"removal of container {id} is already in progress"}}"#),
            ),
            // Still there twice, then gone: the other remover finished.
            ("GET", p) if p == format!("/containers/{id}/json") => {
                if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                    json(
                        200,
                        format!(r#"{{"Id":"{id}","State":{{"Status":"removing"}}}}"#),
                    )
                } else {
                    json(404, format!(r#"{{"message":"No such container: {id}"}}"#))
                }
            }
            _ => None,
        }
    });
    let r = Run::from(
        archsmoke()
            .args(["--host", &engine.url(), "gc", "--run", "r-409"])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("removed 1 container(s)"),
        "{}",
        r.explain()
    );
    assert_eq!(
        inspected.load(Ordering::SeqCst),
        3,
        "gc did not wait for the other removal to finish"
    );
}

/// Two `gc --run` of one run at once on the real engine: both exit 0 and nothing is left,
/// whichever of them removed each container.
#[test]
fn two_gcs_of_one_run_at_once_both_succeed() {
    common::require_testbed();
    let id = format!("race-{}", std::process::id());
    let label = format!("archsmoke.run={id}");
    for _ in 0..12 {
        let out = Command::new("docker")
            .args(["create", "--label", &label, "--network", "none"])
            .arg(image("multi"))
            .args(["sleep", "60"])
            .output()
            .expect("docker create");
        assert!(out.status.success(), "{out:?}");
        let cid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let out = Command::new("docker")
            .args(["start", &cid])
            .output()
            .expect("docker start");
        assert!(out.status.success(), "{out:?}");
    }
    let gcs: Vec<_> = (0..2)
        .map(|_| {
            archsmoke()
                .args(["gc", "--run", &id])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("archsmoke starts")
        })
        .collect();
    for gc in gcs {
        let r = Run::from(gc.wait_with_output().expect("gc output"));
        assert_eq!(r.code, 0, "{}", r.explain());
    }
    assert!(labelled_containers(Some(&id)).is_empty());
}

/// The test bed's htpasswd registry's user.
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
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            common::auth_registry()
        ),
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
image = "{}/{}:multi"
platforms = ["linux/arm64"]

[[engine]]
name = "claims-arm64"
host = "{}"
platforms = ["linux/arm64"]

[[test]]
name = "t"
command = ["true"]
"#,
            common::auth_registry(),
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

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An OCI layout of one image whose index entry and config say `architecture` and whose config
/// says `user`: strings an attacker who publishes an image controls.
fn hostile_layout(architecture: &str, user: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let layer = vec![0u8; 1024]; // an empty tar
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": architecture,
        "os": "linux",
        "config": { "User": user, "Entrypoint": [format!("/bin/{user}")] },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": layer_digest, "size": layer_size }],
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).expect("json"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": { "architecture": architecture, "os": "linux" },
        }],
    });
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("index.json");
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    dir
}

const FORGED: &str = "zz\n[[engine]]\nname = \"evil\"\nhost = \"tcp://203.0.113.9:2375\"\n#";

#[test]
fn init_and_inspect_of_a_hostile_index_print_its_strings_as_data() {
    let layout = hostile_layout(FORGED, "0\u{7f}\u{1b}]0;x\u{7}");
    let source = format!("oci-layout:{}", layout.path().display());
    let init = run(&["init", &source]);
    assert_eq!(init.code, 0, "{}", init.explain());
    let parsed: toml::Table = toml::from_str(&init.stdout)
        .unwrap_or_else(|e| panic!("init wrote invalid TOML ({e}):\n{}", init.stdout));
    assert!(
        !parsed.contains_key("engine"),
        "init wrote a live [[engine]]:\n{}",
        init.stdout
    );
    assert!(
        !init.stdout.contains('\u{1b}') && !init.stdout.contains('\u{7}'),
        "{}",
        init.stdout
    );
    let inspect = run(&["inspect", &source]);
    assert!(
        !inspect
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("[[engine]]") || l.starts_with("name = ")),
        "inspect's table was forged:\n{}",
        inspect.explain()
    );
}

/// A fake engine whose version and architecture carry a terminal escape and a forged workflow
/// command: `doctor` prints them as data.
#[test]
fn a_hostile_engines_strings_reach_the_terminal_escaped() {
    let engine = FakeEngine::start(
        "x86_64\n::error file=a,line=1::forged\u{1b}]0;x\u{7}",
        |m, p| {
            (m == "GET" && p == "/version").then(|| {
                fake_engine::Reply::Json(
                200,
                r#"{"Version":"27\u001b]0;pwned\u0007","ApiVersion":"1.43","MinAPIVersion":"1.24"}"#
                    .into(),
            )
            })
        },
    );
    let r = run(&["doctor", "--host", &engine.url()]);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        !all.contains('\u{1b}') && !all.contains('\u{7}'),
        "{}",
        r.explain()
    );
    assert!(
        !all.lines().any(|l| l.trim_start().starts_with("::error")),
        "{}",
        r.explain()
    );
}

#[test]
fn names_with_control_bidi_or_invisible_characters_are_refused_where_they_are() {
    for (table, line) in [
        ("[[file]]\npath = \"/bin/sh\\n::error::x\"", 3),
        (
            "[[file]]\npath = \"/bin/sh\"\nname = \"a\\u001b]0;x\\u0007\"",
            4,
        ),
        ("[[license]]\nname = \"l\\u202egpj\"\ndebian = true", 3),
        ("[service]\n[[probe]]\nname = \"p\\u200b\"\ntcp = 80", 4),
        (
            "[service]\n[[process]]\nname = \"p\\u0007\"\ncommand_matches = \"x\"",
            4,
        ),
    ] {
        let s = spec("names", &format!("image = \"x\"\n{table}\n"));
        let r = run(&["validate", s.path()]);
        assert_eq!(r.code, 2, "{table}: {}", r.explain());
        assert!(
            r.stderr.contains(&format!("names.toml:{line}:"))
                && r.stderr.contains("contains the character"),
            "{table}: {}",
            r.explain()
        );
    }
}

#[test]
fn validate_refuses_what_run_refuses_and_a_header_injection() {
    let s = spec(
        "refused",
        "image = \"x\"\n[settings]\nnetwork = \"host\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    );
    let r = run(&["validate", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("--allow-privileged"), "{}", r.explain());
    let r = run(&["validate", "--allow-privileged", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let s = spec(
        "inject",
        "image = \"x\"\n[service]\n[[probe]]\nname = \"p\"\nhttp = { port = 80, host = \"x\\r\\nX-Injected: 1\" }\n",
    );
    let r = run(&["validate", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("bad HTTP host"), "{}", r.explain());
}

/// Special files where a spec or the Docker config is expected: refused or warned about at
/// once, never waited on or read without end.
#[test]
fn special_files_are_refused_or_skipped_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("spec.toml");
    nix_mkfifo(&fifo);
    let started = Instant::now();
    for path in [fifo.to_str().expect("utf-8"), "/dev/zero"] {
        let child = archsmoke()
            .args(["validate", path])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("archsmoke starts");
        let r = wait_at_most(child, Duration::from_secs(60));
        assert_eq!(r.code, 2, "{path}: {}", r.explain());
        assert!(r.stderr.contains("not a regular file"), "{}", r.explain());
    }
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 17 << 20]).expect("write");
    let r = run(&["validate", big.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("larger than"), "{}", r.explain());
    // A Docker config that is a FIFO: doctor warns and goes on.
    let config = dir.path().join("docker");
    std::fs::create_dir(&config).expect("dir");
    nix_mkfifo(&config.join("config.json"));
    let child = archsmoke()
        .arg("doctor")
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let out = wait_at_most(child, Duration::from_secs(60));
    assert!(
        out.stderr.contains("WARN cannot read") && out.stderr.contains("config.json"),
        "{}",
        out.explain()
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

fn nix_mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(ok.success());
}

/// The child's output, or a failure (after killing it) when it runs past `limit`.
fn wait_at_most(mut child: Child, limit: Duration) -> Run {
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: it waits on a special file");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().expect("output"))
}

/// A valid spec of `tests` tests (about 100 bytes each).
fn many_tests(tests: usize) -> String {
    let mut text = String::from("image = \"x\"\n");
    for i in 0..tests {
        text.push_str(&format!(
            "[[test]]\nname = \"test number {i}\"\ncommand = [\"echo\", \"{i}\"]\nstdout = \"{i}\"\n"
        ));
    }
    text
}

fn validate_secs(text: &str) -> f64 {
    let s = spec("many", text);
    let started = Instant::now();
    let r = run(&["validate", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    started.elapsed().as_secs_f64()
}

/// Loading time grows with the spec's size, not with its square: an eight times larger spec,
/// measured side by side, takes far less than 64 times as long.
#[test]
fn loading_a_large_spec_takes_linear_time() {
    let small = many_tests(5_000); // ~0.4 MB
    let large = many_tests(40_000); // ~3.5 MB
    let (s, l) = (validate_secs(&small), validate_secs(&large));
    // Process start and the rest of a run's fixed cost are in both; quadratic loading would
    // make the ratio ~64.
    assert!(
        l / s < 24.0,
        "{s:.2} s for 5k tests, {l:.2} s for 40k: not linear"
    );
}

/// SIGINT at `offset` after the run id appears, on a two-platform service run with a probe.
/// Returns what was left of the run's containers and images once it exited.
fn interrupt_service_run_at(offset: Duration) -> (Run, Vec<String>, Vec<String>) {
    let s = slow_service_spec_on(&["linux/amd64", "linux/arm64"]);
    let mut bg = Background::start(&["run", s.path()]);
    let id = bg.wait_until(Duration::from_secs(120), |_| true);
    std::thread::sleep(offset);
    let pid = bg.child.id().to_string();
    let _ = Command::new("kill").args(["-s", "INT", &pid]).status();
    let r = bg.finish(Duration::from_secs(120));
    (r, labelled_containers(Some(&id)), run_images(&id))
}

fn slow_service_spec_on(platforms: &[&str]) -> common::SpecFile {
    let list: Vec<String> = platforms.iter().map(|p| format!("\"{p}\"")).collect();
    spec(
        "signal",
        &format!(
            r#"
image = "{}"
platforms = [{}]

[service]
[service.ready]
tcp = 8080

[[probe]]
name = "slow"
http = {{ port = 8080, path = "/cgi-bin/slow" }}
timeout = "30s"
"#,
            image("web"),
            list.join(", ")
        ),
    )
}

#[test]
fn sigint_early_in_a_service_run_leaves_nothing_at_any_offset() {
    let mut leaks = Vec::new();
    for millis in [0, 150, 300, 600, 1000, 1500, 2500] {
        let (r, containers, images) = interrupt_service_run_at(Duration::from_millis(millis));
        if !containers.is_empty() || !images.is_empty() {
            leaks.push(format!(
                "at {millis} ms: containers {containers:?}, images {images:?}\n{}",
                r.explain()
            ));
            // Only what this test's run made.
            let id = run_id(&r.stderr).expect("run id");
            let _ = run(&["gc", "--run", &id]);
        }
    }
    assert!(leaks.is_empty(), "leftovers:\n{}", leaks.join("\n"));
}

/// Under GitHub Actions the fence against workflow commands covers stderr too, where progress
/// lines quote names, engine and image text: it opens before the first line and closes last.
#[test]
fn the_stop_commands_fence_covers_stderr() {
    let s = spec(
        "fence",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
            image("multi")
        ),
    );
    let summary = s.dir.path().join("summary.md");
    let r = Run::from(
        archsmoke()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["run", s.path()])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let token = lines
        .first()
        .and_then(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("stderr does not open with the fence:\n{}", r.stderr));
    assert_eq!(
        lines.last().copied(),
        Some(format!("::{token}::").as_str()),
        "{}",
        r.stderr
    );
}
