//! The promotion gate end to end: a platform that ran nothing is not a pass, and `verify
//! --report` refuses what the report does not vouch for (the bypasses of issue 23), against the
//! real engine, registry and QEMU of the test bed. Reports that are not reports (truncated,
//! oversized, a FIFO, `/dev/zero`) are refused with exit 2, never a hang.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, archsmoke, image, json_report, platform, spec};

/// One test, limited to arm64; no image check: the five other platforms of `multi` run nothing.
const ARM64_ONLY: &str = r#"
[audit]
elf = "off"
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "aarch64\n"
platforms = ["linux/arm64"]
"#;

/// One container test per platform, and no image check: each child has exactly one test.
const EVERYWHERE: &str = r#"
[audit]
elf = "off"
[[test]]
name = "shell runs"
command = ["sh", "-c", "echo ok"]
stdout = "ok\n"
"#;

fn run_json(s: &common::SpecFile, extra: &[&str]) -> (Run, PathBuf) {
    let json = s.dir.path().join("report.json");
    let out = archsmoke()
        .args(["run", s.path(), "--image", &image("multi"), "--json"])
        .arg(&json)
        .args(extra)
        .output()
        .expect("archsmoke starts");
    (Run::from(out), json)
}

fn verify(report: &Path, extra: &[&str]) -> Run {
    let out = archsmoke()
        .args(["verify", &image("multi"), "--report"])
        .arg(report)
        .args(extra)
        .output()
        .expect("archsmoke starts");
    Run::from(out)
}

/// Bypass 1: `6/6 platforms passed, 1/1 tests passed` when five platforms ran nothing.
#[test]
fn platforms_that_ran_nothing_are_not_tested_fail_the_run_and_do_not_verify() {
    let s = spec("arm64-only", ARM64_ONLY);
    let (r, json) = run_json(&s, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout
            .contains("FAILED (not every platform was tested): 1/6 platforms passed, 5 NOT TESTED"),
        "{}",
        r.explain()
    );
    assert!(
        r.row("linux/amd64").ends_with("NOT TESTED"),
        "{}",
        r.explain()
    );
    assert!(r.row("linux/arm64").ends_with("ok"), "{}", r.explain());
    assert!(
        r.stdout
            .contains("no test or image check ran on linux/s390x"),
        "{}",
        r.explain()
    );

    let doc = json_report(&json);
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["result"], "failed");
    assert_eq!(platform(&doc, "linux/amd64")["result"], "not_tested");
    assert_eq!(platform(&doc, "linux/arm64")["result"], "passed");
    assert_eq!(doc["totals"]["platforms"]["not_tested"], 5);
    assert_eq!(doc["totals"]["platforms"]["passed"], 1);

    let v = verify(&json, &[]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(v.stdout.contains("NOT VERIFIED: 5 of 6"), "{}", v.explain());
    assert!(
        v.stdout.contains("refused linux/amd64 sha256:")
            && v.stdout.contains("fewer than the 1 required"),
        "{}",
        v.explain()
    );
    // The report that vouched is named beside every verdict.
    let index = doc["image"]["digest"].as_str().expect("index digest");
    let spec_digest = doc["spec_digest"].as_str().expect("spec digest");
    for line in v.stdout.lines().filter(|l| l.contains("tests passed  [")) {
        assert!(
            line.contains(index) && line.contains(spec_digest),
            "{line}\n{}",
            v.explain()
        );
    }
}

/// Bypass 2: a report edited to say failed, interrupted and empty still verified.
#[test]
fn a_report_edited_to_failed_interrupted_and_empty_is_refused_for_every_child() {
    let s = spec("everywhere", EVERYWHERE);
    let (r, json) = run_json(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let v = verify(&json, &[]);
    assert_eq!(v.code, 0, "{}", v.explain());
    assert!(
        v.stdout.contains("verified: all 6 child manifest(s)"),
        "{}",
        v.explain()
    );
    assert!(v.stdout.contains("1/1 tests passed"), "{}", v.explain());
    // Two passing tests are required of each child, and each has one: all refused.
    let v = verify(&json, &["--min-tests", "2"]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(v.stdout.contains("NOT VERIFIED: 6 of 6"), "{}", v.explain());

    let mut doc = json_report(&json);
    doc["result"] = "failed".into();
    doc["exit_code"] = 1.into();
    doc["interrupted"] = true.into();
    for p in doc["platforms"].as_array_mut().expect("platforms") {
        p["result"] = "failed".into();
        p["tests"] = serde_json::json!([]);
    }
    let edited = s.dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&doc).expect("json")).expect("write");
    let v = verify(&edited, &[]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(v.stdout.contains("NOT VERIFIED: 6 of 6"), "{}", v.explain());
    for reason in [
        "the run was interrupted",
        "the report says failed on linux/arm64",
        "0 test(s) passed on linux/ppc64le",
    ] {
        assert!(v.stdout.contains(reason), "{reason}\n{}", v.explain());
    }

    // Only the verdict edited back to passed, the failed test left: the rows outvote it.
    let mut doc = json_report(&json);
    let arm = doc["platforms"]
        .as_array_mut()
        .expect("platforms")
        .iter_mut()
        .find(|p| p["platform"] == "linux/arm64")
        .expect("arm64 row");
    arm["tests"][0]["status"] = "failed".into();
    let edited = s.dir.path().join("edited-status.json");
    std::fs::write(&edited, serde_json::to_string(&doc).expect("json")).expect("write");
    let v = verify(&edited, &[]);
    assert_eq!(v.code, 1, "{}", v.explain());
    assert!(v.stdout.contains("NOT VERIFIED: 1 of 6"), "{}", v.explain());
    assert!(
        v.stdout
            .contains("on linux/arm64 these did not pass: shell runs (failed)"),
        "{}",
        v.explain()
    );
}

/// `verify` on `report` with no registry involved: the report is read first. Returns the run,
/// failing the test if it takes longer than a few seconds (a hang on a FIFO or `/dev/zero`).
fn verify_bounded(report: &Path) -> Run {
    let mut child = archsmoke()
        .args(["verify", "127.0.0.1:1/none:1", "--report"])
        .arg(report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().expect("kill");
            panic!("verify --report {} hung", report.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().expect("output"))
}

#[test]
fn reports_that_are_not_reports_are_usage_errors_never_hangs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("report.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let truncated = dir.path().join("truncated.json");
    std::fs::write(
        &truncated,
        "{\"schema_version\": 1, \"run_id\": \"x\", \"platf",
    )
    .expect("w");
    let oversized = dir.path().join("oversized.json");
    let f = std::fs::File::create(&oversized).expect("create");
    // Sparse: takes no disk, and is refused by its size before a byte is read.
    f.set_len(65 * 1024 * 1024).expect("set_len");
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"hello\": \"world\"}").expect("w");

    for (path, says) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (dir.path(), "not a regular file"),
        (truncated.as_path(), "ends early"),
        (oversized.as_path(), "more than a report may have"),
        (other.as_path(), "not an archsmoke JSON report"),
        (Path::new("/nonexistent/report.json"), "cannot open it"),
    ] {
        let r = verify_bounded(path);
        assert_eq!(r.code, 2, "{}: {}", path.display(), r.explain());
        assert!(
            r.stderr.contains(says) && r.stderr.contains(&path.display().to_string()),
            "{}: {says}\n{}",
            path.display(),
            r.explain()
        );
    }
}
