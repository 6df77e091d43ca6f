//! The opt-in slow tier (issue 13): a real arm64 engine, a Debian arm64 system booted under
//! `qemu-system-aarch64` by `tests/testbed/arm64-engine.sh`, next to the amd64 main engine and
//! its QEMU user emulation. Ignored by default (the guest takes ~30 min to build and ~3 min to
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
