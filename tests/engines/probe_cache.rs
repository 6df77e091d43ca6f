//! The probe cache (issue 29): what a remote engine emulates is learned by a probe container
//! once, then reused by the next runs against the same engine (its ID, kernel, version and
//! daemon start) within the cache's lifetime; `--reprobe` and a lifetime of 0 probe again, and a
//! restarted engine is probed again. Each test has a cache directory of its own
//! (`XDG_CACHE_HOME`), so that no other run's answers leak in.

use std::process::Command;
use std::time::{Duration, Instant};

use super::routing::{engine2_pid, restart_engine2};
use super::*;

/// A one-platform spec that only an emulating engine runs (engine2 is amd64).
fn arm64_spec() -> common::SpecFile {
    spec(
        "probe-cache",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/arm64\"]\n\n[[test]]\nname = \"machine\"\n\
             command = [\"uname\", \"-m\"]\nstdout = \"aarch64\\n\"\n",
            image("multi")
        ),
    )
}

/// Runs the spec on engine2 over TLS with `cache` as the cache directory; returns the run, the
/// report's `phases.probe_platforms` as (probed, cached), and the arm64 row's mode.
fn over_tls(
    b: &Bed,
    s: &common::SpecFile,
    cache: &Path,
    setup: impl FnOnce(&mut Command),
) -> (Run, (u64, u64), String) {
    let json = s.dir.path().join("report.json");
    let _ = std::fs::remove_file(&json);
    let mut c = clean();
    c.env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &b.cert_path)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("ARCHSMOKE_PROBE_CACHE_TTL")
        .args(["run", s.path(), "--host", &b.engine2_tls, "--json"])
        .arg(&json);
    setup(&mut c);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = json_report(&json);
    let counts = &report["phases"]["probe_platforms"];
    assert!(
        report["phases"]["probe_secs"].as_f64().is_some(),
        "the probe is a timed phase: {:#}",
        report["phases"]
    );
    let n = |k: &str| {
        counts[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {counts:#}"))
    };
    let mode = platform(&report, "linux/arm64")["mode"]
        .as_str()
        .expect("mode")
        .to_owned();
    (r, (n("probed"), n("cached")), mode)
}

#[test]
fn a_remote_engine_is_probed_once_then_answered_from_the_cache_until_reprobe() {
    let b = bed();
    let s = arm64_spec();
    let cache = tempfile::tempdir().expect("temp dir");
    let (first, counts, mode) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(counts, (1, 0), "{}", first.explain());
    assert_eq!(mode, "qemu-aarch64 (probed)");
    assert!(
        first
            .stderr
            .contains("probing 1 platform(s) on remote engines")
    );
    let files: Vec<_> = std::fs::read_dir(cache.path().join("archsmoke"))
        .expect("the cache directory was made")
        .collect();
    assert_eq!(files.len(), 1, "one file for the one engine: {files:?}");

    let (second, counts, mode) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(counts, (0, 1), "{}", second.explain());
    assert!(
        mode.starts_with("qemu-aarch64 (probed ") && mode.ends_with(", cached)"),
        "{mode}"
    );
    assert!(
        second.stderr.contains("from the probe cache") && !second.stderr.contains("probing "),
        "{}",
        second.explain()
    );
    assert!(
        second.stdout.contains("emulators (cached)"),
        "{}",
        second.explain()
    );

    let (forced, counts, _) = over_tls(&b, &s, cache.path(), |c| {
        c.arg("--reprobe");
    });
    assert_eq!(counts, (1, 0), "--reprobe probes: {}", forced.explain());

    let (off, counts, _) = over_tls(&b, &s, cache.path(), |c| {
        c.env("ARCHSMOKE_PROBE_CACHE_TTL", "0");
    });
    assert_eq!(
        counts,
        (1, 0),
        "a lifetime of 0 is no cache: {}",
        off.explain()
    );
}

#[test]
fn a_restarted_engine_is_probed_again() {
    let b = bed_alone();
    let s = arm64_spec();
    let cache = tempfile::tempdir().expect("temp dir");
    let (first, counts, _) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(counts, (1, 0), "{}", first.explain());
    let (second, counts, _) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(counts, (0, 1), "{}", second.explain());
    // A daemon restart (as every reboot is) recreates its bridge network: another key.
    let pid = engine2_pid();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let gone = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && gone.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    restart_engine2();
    let (after, counts, _) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(
        counts,
        (1, 0),
        "a restarted engine is probed: {}",
        after.explain()
    );
}

/// `doctor` against engine2 over TLS with `cache` as the cache directory: its JSON.
fn doctor_over_tls(b: &Bed, cache: &Path, args: &[&str]) -> serde_json::Value {
    let mut c = clean();
    c.env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &b.cert_path)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("ARCHSMOKE_PROBE_CACHE_TTL")
        .args(["--host", &b.engine2_tls, "doctor", "--json"])
        .args(args);
    let r = go(c);
    assert_eq!(r.code, 0, "{}", r.explain());
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.explain()))
}

fn doctor_row<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .find(|p| p["platform"] == name)
        .unwrap_or_else(|| panic!("{name} in {report:#}"))
}

#[test]
fn doctor_probe_probes_afresh_and_fills_the_cache_that_doctor_and_runs_read() {
    let b = bed();
    let cache = tempfile::tempdir().expect("temp dir");
    let probed = doctor_over_tls(&b, cache.path(), &["--probe"]);
    assert!(probed["probe_run_id"].is_string(), "{probed:#}");
    assert_eq!(probed["probe_cache"]["updated"], true, "{probed:#}");
    assert_eq!(doctor_row(&probed, "linux/arm64")["probe"]["status"], "ok");
    // Again with --probe: probed again, never taken from the cache.
    let again = doctor_over_tls(&b, cache.path(), &["--probe"]);
    assert_eq!(again["probe_cache"]["recalled"], serde_json::json!([]));
    assert_eq!(doctor_row(&again, "linux/arm64")["probe"]["status"], "ok");

    let plain = doctor_over_tls(&b, cache.path(), &[]);
    let recalled = plain["probe_cache"]["recalled"]
        .as_array()
        .expect("recalled");
    assert!(
        recalled.contains(&serde_json::json!("linux/arm64")),
        "{plain:#}"
    );
    // engine2 is amd64: its own platform runs natively and is no emulator to remember.
    assert!(
        !recalled.contains(&serde_json::json!("linux/amd64")),
        "{plain:#}"
    );
    let arm64 = doctor_row(&plain, "linux/arm64");
    assert_eq!(arm64["decision"]["mode"], "emulated", "{arm64:#}");
    assert!(arm64["probe"].is_null());
    // The emulator doctor saw in engine2's process list is remembered with the answer.
    let named =
        |mode: &str| mode.starts_with("qemu-aarch64 (probed ") && mode.ends_with(", cached)");
    let entry = arm64["decision"]["emulator"]["entry"]
        .as_str()
        .unwrap_or_default();
    assert!(named(entry), "{arm64:#}");

    let s = arm64_spec();
    let (r, counts, mode) = over_tls(&b, &s, cache.path(), |_| {});
    assert_eq!(
        counts,
        (0, 1),
        "the run uses doctor's answer: {}",
        r.explain()
    );
    assert!(named(&mode), "{mode}: {}", r.explain());
}
