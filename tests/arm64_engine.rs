//! The opt-in slow tier (issue 13): a real arm64 engine, a Debian arm64 system booted under
//! `qemu-system-aarch64` by `tests/testbed/arm64-engine.sh`, next to the amd64 main engine and
//! its QEMU user emulation. It is also the Mac's topology (issue 31): used alone, it is an arm64
//! engine whose amd64 emulation lives inside its own kernel (the guest's qemu-user-static),
//! invisible from here. Ignored by default (the guest takes ~30 min to build and ~3 min to
//! boot); run with
//!
//! ```text
//! tests/testbed/arm64-engine.sh up
//! cargo test --test arm64_engine -- --ignored
//! ```
//!
//! Run without the engine up, every test fails with that command: never a skip.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use common::{Run, archsmoke, json_report, platform, spec};

/// The guest's engine: `ARM64_PORT` as `tests/testbed/arm64-engine.sh` chose it.
fn arm64_engine() -> String {
    format!(
        "tcp://127.0.0.1:{}",
        common::testbed_port("ARM64_PORT", 23764)
    )
}

/// One test at a time on the guest: two emulated CPUs, and the compared timings are its own.
static GUEST: Mutex<()> = Mutex::new(());

fn guest() -> MutexGuard<'static, ()> {
    GUEST.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The engine answers and says aarch64, else the test fails with the command that fixes it.
fn require_arm64_engine() {
    let engine = arm64_engine();
    let url = engine.replacen("tcp://", "http://", 1);
    let get = |path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10", &format!("{url}{path}")])
            .output()
            .expect("curl runs");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        )
    };
    let (ping, err) = get("/_ping");
    assert_eq!(
        ping, "OK",
        "no arm64 engine on {engine} ({err}): run `tests/testbed/arm64-engine.sh up` (as root) first"
    );
    let (info, _) = get("/info");
    let info: serde_json::Value = serde_json::from_str(&info).expect("/info is JSON");
    assert_eq!(
        info["Architecture"], "aarch64",
        "the engine on {engine} is not the arm64 guest: {info:#}"
    );
}

/// The six-platform busybox fixture as an OCI archive: streamed with `docker load` to whichever
/// engine runs a platform, so the guest needs no registry.
fn oci_archive() -> String {
    common::require_testbed();
    let dir = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".to_owned());
    let f: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&dir).join("fixtures.json")).expect("fixtures.json"),
    )
    .expect("fixtures.json parses");
    let archive = f["oci"]["archive"]
        .as_str()
        .expect("oci.archive")
        .to_owned();
    assert!(Path::new(&archive).is_file(), "no OCI archive at {archive}");
    format!("oci-archive:{archive}")
}

/// The guest's engine as a docker CLI command (the tests' look at what a run left there).
fn guest_docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .args(["-H", &arm64_engine()])
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} on the guest: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of run `run_id` is left in the guest: no container, no probe or relay image.
fn guest_left_nothing(run_id: &str) {
    let containers = guest_docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=archsmoke.run={run_id}"),
    ]);
    assert!(
        containers.trim().is_empty(),
        "containers of run {run_id} left in the guest: {containers}"
    );
    let images = guest_docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let left: Vec<&str> = images
        .lines()
        .filter(|l| l.contains(&format!(":{run_id}-")))
        .collect();
    assert!(
        left.is_empty(),
        "images of run {run_id} left in the guest: {left:?}"
    );
}

/// archsmoke with none of the caller's engine selection: the default engine is the local one.
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

/// `archsmoke run SPEC --image oci-archive:... --engine arm64=... ARGS --json`, the run and its
/// JSON report.
fn run_on_both(s: &common::SpecFile, args: &[&str]) -> (Run, serde_json::Value) {
    let _turn = guest();
    require_arm64_engine();
    let json = s.dir.path().join("report.json");
    let mut c = clean();
    c.args(["run", s.path(), "--image", &oci_archive()])
        .args(["--engine", &format!("arm64={}", arm64_engine())])
        .args(args)
        .args(["--json", json.to_str().expect("utf-8")]);
    let started = std::time::Instant::now();
    let r = Run::from(c.output().expect("archsmoke starts"));
    eprintln!("archsmoke took {:.1} s", started.elapsed().as_secs_f64());
    let report = json_report(&json);
    (r, report)
}

/// The matrix row of `platform` whose mode column is `mode`.
fn matrix_row(r: &Run, platform: &str, mode: &str) -> String {
    r.stdout
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(platform) && l.split_whitespace().any(|w| w == mode)
        })
        .unwrap_or_else(|| panic!("no {platform} row in mode {mode}:\n{}", r.explain()))
        .to_owned()
}

/// The engine entry of the report named `name`.
fn engine<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no engine {name} in {report:#}"))
}

/// Routing: linux/arm64 goes to the engine that runs it natively (the guest), linux/amd64 stays
/// on the default engine; both native, both pass with their own `uname -m`.
#[test]
#[ignore = "opt-in slow tier: tests/testbed/arm64-engine.sh up, then cargo test --test arm64_engine -- --ignored"]
fn arm64_routes_to_the_native_arm64_engine() {
    let s = spec(
        "arm64-native",
        r#"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
timeout = "120s"

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"

[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
"#,
    );
    let (r, report) = run_on_both(&s, &["--platform", "linux/amd64,linux/arm64"]);
    assert_eq!(r.code, 0, "{}", r.explain());

    let arm64 = platform(&report, "linux/arm64");
    assert_eq!(arm64["engine"], "arm64", "{arm64:#}");
    assert_eq!(arm64["mode"], "native", "{arm64:#}");
    assert_eq!(arm64["execution"]["mode"], "native", "{arm64:#}");
    assert_eq!(arm64["result"], "passed", "{arm64:#}");
    let machine = arm64["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == "machine")
        .expect("the machine test");
    assert_eq!(machine["stdout"], "aarch64\n", "{machine:#}");

    let amd64 = platform(&report, "linux/amd64");
    assert_eq!(amd64["engine"], "default", "{amd64:#}");
    assert_eq!(amd64["mode"], "native", "{amd64:#}");
    assert_eq!(amd64["result"], "passed", "{amd64:#}");

    let e = engine(&report, "arm64");
    assert_eq!(e["endpoint"], arm64_engine().as_str(), "{e:#}");
    assert_eq!(e["platform"], "linux/arm64", "{e:#}");

    // The matrix names the engine of each row.
    let row = matrix_row(&r, "linux/arm64", "native");
    assert!(
        row.split_whitespace().any(|w| w == "arm64"),
        "no arm64 engine in {row:?}:\n{}",
        r.explain()
    );
    let row = matrix_row(&r, "linux/amd64", "native");
    assert!(
        row.split_whitespace().any(|w| w == "default"),
        "no default engine in {row:?}:\n{}",
        r.explain()
    );
}

/// `--compare-emulation linux/arm64`: the platform runs natively on the guest and again under
/// qemu-user on the amd64 default engine. The emulated row's slowdown is its own passed tests'
/// time over its native twin's, and `/proc/cpuinfo`, which qemu-user does not emulate (the
/// process sees the host's x86 CPU), is listed as an emulation difference in the JSON report and
/// on the terminal; both rows pass.
#[test]
#[ignore = "opt-in slow tier: tests/testbed/arm64-engine.sh up, then cargo test --test arm64_engine -- --ignored"]
fn compare_emulation_pits_the_native_arm64_engine_against_qemu_user() {
    let s = spec(
        "arm64-compare",
        r#"
[settings]
timeout = "120s"

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "aarch64\n"

[[test]]
name = "cpu"
command = ["sh", "-c", "grep -m1 -iE '^(model name|features|flags)' /proc/cpuinfo | cut -c1-72"]
"#,
    );
    let (r, report) = run_on_both(
        &s,
        &[
            "--platform",
            "linux/arm64",
            "--compare-emulation",
            "linux/arm64",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.explain());

    let rows: Vec<&serde_json::Value> = report["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .filter(|p| p["platform"] == "linux/arm64")
        .collect();
    assert_eq!(rows.len(), 2, "two linux/arm64 rows: {report:#}");
    let native = rows
        .iter()
        .find(|p| p["execution"]["mode"] == "native")
        .unwrap_or_else(|| panic!("no native row: {report:#}"));
    let emulated = rows
        .iter()
        .find(|p| p["execution"]["mode"] == "emulated")
        .unwrap_or_else(|| panic!("no emulated row: {report:#}"));
    assert_eq!(native["engine"], "arm64", "{native:#}");
    assert_eq!(native["mode"], "native", "{native:#}");
    assert_eq!(emulated["engine"], "default", "{emulated:#}");
    assert!(
        emulated["mode"]
            .as_str()
            .is_some_and(|m| m.starts_with("qemu-aarch64")),
        "{emulated:#}"
    );
    for row in [native, emulated] {
        assert_eq!(row["result"], "passed", "{row:#}");
    }

    // The slowdown is measured against the native twin: the emulated row's passed tests' time
    // over the same tests' time on the guest (durations are rounded to milliseconds).
    let times = |row: &serde_json::Value| -> Vec<(String, f64)> {
        row["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .filter(|t| t["status"] == "passed")
            .map(|t| {
                (
                    t["name"].as_str().expect("name").to_owned(),
                    t["duration_secs"].as_f64().expect("duration"),
                )
            })
            .collect()
    };
    let (base, mine) = (times(native), times(emulated));
    let (mut sum_mine, mut sum_base) = (0.0, 0.0);
    for (name, d) in &mine {
        let b = base
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} did not pass natively: {native:#}"))
            .1;
        sum_mine += d;
        sum_base += b;
    }
    let slowdown = emulated["slowdown"]
        .as_f64()
        .unwrap_or_else(|| panic!("no slowdown on the emulated row: {emulated:#}"));
    let expected = sum_mine / sum_base;
    assert!(
        (slowdown - expected).abs() <= 0.01 * expected + 0.01,
        "slowdown {slowdown} is not the twin ratio {expected} ({sum_mine} s / {sum_base} s)"
    );
    // The native row is its own engine's baseline.
    assert_eq!(native["slowdown"], 1.0, "{native:#}");
    eprintln!(
        "emulated on the amd64 engine vs native on the guest: {slowdown:.2}× ({sum_mine:.1} s / {sum_base:.1} s)"
    );

    // What /proc/cpuinfo says: ARM features natively, the host's x86 CPU under qemu-user.
    let stdout = |row: &serde_json::Value, test: &str| -> String {
        row["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"] == test)
            .unwrap_or_else(|| panic!("no {test} in {row:#}"))["stdout"]
            .as_str()
            .expect("stdout")
            .to_owned()
    };
    let (cpu_native, cpu_emulated) = (stdout(native, "cpu"), stdout(emulated, "cpu"));
    eprintln!("cpu natively: {cpu_native:?}\ncpu emulated: {cpu_emulated:?}");
    assert!(
        cpu_native.starts_with("Features"),
        "the guest's cpuinfo: {cpu_native:?}"
    );
    assert!(
        cpu_emulated.starts_with("model name") || cpu_emulated.starts_with("flags"),
        "the host's cpuinfo under qemu-user: {cpu_emulated:?}"
    );
    assert_eq!(stdout(native, "machine"), stdout(emulated, "machine"));

    // Exactly the cpu test differs, by its stdout; both passed.
    let differences = report["emulation_differences"]
        .as_array()
        .unwrap_or_else(|| panic!("no emulation_differences: {report:#}"));
    assert_eq!(differences.len(), 1, "{differences:#?}");
    let d = &differences[0];
    assert_eq!(d["platform"], "linux/arm64", "{d:#}");
    assert_eq!(d["test"], "cpu", "{d:#}");
    assert_eq!(d["native_engine"], "arm64", "{d:#}");
    assert_eq!(d["emulated_engine"], "default", "{d:#}");
    assert_eq!(d["native"], "passed", "{d:#}");
    assert_eq!(d["emulated"], "passed", "{d:#}");
    assert_eq!(d["differs"], serde_json::json!(["stdout"]), "{d:#}");

    // The terminal: both rows with their engines, and the differences section.
    let row = matrix_row(&r, "linux/arm64", "native");
    assert!(row.contains("arm64"), "{row:?}");
    let row = matrix_row(&r, "linux/arm64", "qemu-aarch64");
    assert!(row.contains("default") && row.contains('×'), "{row:?}");
    let section = r
        .stdout
        .split("emulation differences (the same platform, native vs emulated):")
        .nth(1)
        .unwrap_or_else(|| panic!("no emulation differences section:\n{}", r.explain()));
    assert!(
        section.contains(
            "linux/arm64 › cpu: stdout differs (native passed on arm64, emulated passed on default)"
        ),
        "{}",
        r.explain()
    );
    assert!(!section.contains("› machine"), "{}", r.explain());
}

/// The Mac's topology (issue 31), with QEMU where a Mac may have Rosetta: the arm64 engine
/// alone, its amd64 emulation registered inside its own kernel (the guest's qemu-user-static,
/// `F` flag) and invisible from here. The six-platform demo spec (`smoke-tests/busybox.toml`)
/// on the six-platform image, in one run: linux/arm64 native; linux/amd64 emulated inside the
/// engine, learned by a probe container and named from the engine's own process list
/// (`qemu-x86_64 (probed)`), in the matrix and the JSON report; the other platforms as the
/// guest runs them. The image reaches the guest through the API (`oci-archive:`, `docker load`):
/// the guest has no network.
#[test]
#[ignore = "opt-in slow tier: tests/testbed/arm64-engine.sh up, then cargo test --test arm64_engine -- --ignored"]
fn the_mac_topology_runs_the_six_platform_demo_with_amd64_emulated_inside_the_engine() {
    let _turn = guest();
    require_arm64_engine();
    let image = oci_archive();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("smoke-tests/busybox.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let mut c = clean();
    // A cache of its own: the probe runs, and names the emulator, in this run.
    c.env("XDG_CACHE_HOME", dir.path())
        .env_remove("ARCHSMOKE_PROBE_CACHE_TTL")
        .args(["run", demo.to_str().expect("utf-8"), "--image", &image])
        .args(["--host", &arm64_engine()])
        // The guest has two emulated CPUs: more containers at once only queue there (probes
        // already go at most two at a time, its CPU count).
        .args(["--jobs", "2"])
        .args(["--json", json.to_str().expect("utf-8")]);
    let started = std::time::Instant::now();
    let r = Run::from(c.output().expect("archsmoke starts"));
    eprintln!(
        "archsmoke took {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        r.stdout
    );
    let report = json_report(&json);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stderr.contains("on remote engines"),
        "the guest's emulation is probed: {}",
        r.explain()
    );

    // One engine, the guest: arm64, not this machine's kernel.
    let engines = report["engines"].as_array().expect("engines");
    assert_eq!(engines.len(), 1, "{engines:#?}");
    let e = &engines[0];
    assert_eq!(e["endpoint"], arm64_engine().as_str(), "{e:#}");
    assert_eq!(e["platform"], "linux/arm64", "{e:#}");
    assert_eq!(e["local"], false, "{e:#}");

    let arm64 = platform(&report, "linux/arm64");
    assert_eq!(arm64["execution"]["mode"], "native", "{arm64:#}");
    assert_eq!(arm64["mode"], "native", "{arm64:#}");
    assert_eq!(arm64["result"], "passed", "{arm64:#}");

    let amd64 = platform(&report, "linux/amd64");
    assert_eq!(amd64["execution"]["mode"], "emulated", "{amd64:#}");
    assert_eq!(amd64["mode"], "qemu-x86_64 (probed)", "{amd64:#}");
    assert_eq!(amd64["execution"]["emulator"]["kind"], "qemu", "{amd64:#}");
    assert_eq!(amd64["result"], "passed", "{amd64:#}");
    let machine = amd64["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == "uname reports the platform's machine")
        .expect("the uname test");
    assert_eq!(machine["stdout"], "x86_64\n", "{machine:#}");

    // Every platform of the index ran in this one run, each passed, each in the mode the guest
    // gives it: its own CPU for arm64 (and arm/v7 in 32-bit mode), QEMU inside it for the rest.
    let rows = report["platforms"].as_array().expect("platforms");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for row in rows {
        let name = row["platform"].as_str().expect("platform");
        eprintln!("{name}: {} ({})", row["mode"], row["result"]);
        assert_eq!(row["result"], "passed", "{row:#}");
        let expected = match name {
            "linux/arm64" | "linux/arm/v7" => "native",
            _ => "emulated",
        };
        assert_eq!(row["execution"]["mode"], expected, "{row:#}");
    }

    // The matrix says the same.
    matrix_row(&r, "linux/arm64", "native");
    let row = matrix_row(&r, "linux/amd64", "qemu-x86_64");
    assert!(row.contains("(probed)"), "{row:?}");

    guest_left_nothing(report["run_id"].as_str().expect("run_id"));
}

/// `doctor --probe` against the Mac's topology: every platform probed in the guest, amd64 seen
/// running under the guest's own QEMU (its process list), this machine's binfmt_misc said not
/// to apply; the answers go to the probe cache, from which a plain `doctor` then names the
/// emulator without a container.
#[test]
#[ignore = "opt-in slow tier: tests/testbed/arm64-engine.sh up, then cargo test --test arm64_engine -- --ignored"]
fn doctor_probe_sees_qemu_inside_the_arm64_engine() {
    let _turn = guest();
    require_arm64_engine();
    let cache = tempfile::tempdir().expect("temp dir");
    let doctor = |probe: bool| -> (Run, serde_json::Value) {
        let mut c = clean();
        c.env("XDG_CACHE_HOME", cache.path())
            .env_remove("ARCHSMOKE_PROBE_CACHE_TTL")
            .args(["--host", &arm64_engine(), "doctor", "--json"]);
        if probe {
            c.arg("--probe");
        }
        let started = std::time::Instant::now();
        let r = Run::from(c.output().expect("archsmoke starts"));
        eprintln!(
            "doctor{} took {:.1} s",
            if probe { " --probe" } else { "" },
            started.elapsed().as_secs_f64()
        );
        let report = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.explain()));
        (r, report)
    };
    let (r, report) = doctor(true);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(report["engine"]["reachable"], true, "{report:#}");
    assert_eq!(
        report["engine"]["info"]["platform"], "linux/arm64",
        "{report:#}"
    );
    assert_eq!(report["binfmt"]["applies_to_engine"], false, "{report:#}");
    let row = |report: &serde_json::Value, name: &str| -> serde_json::Value {
        report["platforms"]
            .as_array()
            .expect("platforms")
            .iter()
            .find(|p| p["platform"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))
            .clone()
    };
    for p in report["platforms"].as_array().expect("platforms") {
        eprintln!(
            "{}: decision {}, probe {}, emulator {}",
            p["platform"], p["decision"]["mode"], p["probe"]["status"], p["probe"]["emulator"]
        );
    }
    let arm64 = row(&report, "linux/arm64");
    assert_eq!(arm64["decision"]["mode"], "native", "{arm64:#}");
    assert_eq!(arm64["probe"]["status"], "ok", "{arm64:#}");
    assert_eq!(arm64["probe"]["agrees"], true, "{arm64:#}");
    let amd64 = row(&report, "linux/amd64");
    assert_eq!(amd64["probe"]["status"], "ok", "{amd64:#}");
    let seen = &amd64["probe"]["emulator"];
    assert_eq!(seen["kind"], "qemu", "{amd64:#}");
    assert!(
        seen["interpreter"]
            .as_str()
            .is_some_and(|i| i.contains("x86_64")),
        "{amd64:#}"
    );
    for name in ["linux/386", "linux/ppc64le", "linux/s390x"] {
        let p = row(&report, name);
        assert_eq!(p["probe"]["status"], "ok", "{p:#}");
    }
    assert_eq!(report["probe_cache"]["updated"], true, "{report:#}");
    guest_left_nothing(report["probe_run_id"].as_str().expect("probe_run_id"));

    // Plain doctor: no container; the modes the probe showed come back from the cache, named.
    let (r, report) = doctor(false);
    assert_eq!(r.code, 0, "{}", r.explain());
    let amd64 = row(&report, "linux/amd64");
    assert_eq!(amd64["decision"]["mode"], "emulated", "{amd64:#}");
    let entry = amd64["decision"]["emulator"]["entry"]
        .as_str()
        .expect("entry");
    assert!(
        entry.starts_with("qemu-x86_64 (probed ") && entry.ends_with(", cached)"),
        "{amd64:#}"
    );
}
