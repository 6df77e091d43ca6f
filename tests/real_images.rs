//! End to end on the real images of the test bed (`archsmoke/real`, made by
//! tests/testbed/real-images.sh from Debian bookworm packages): the ELF audit reports nothing on
//! legitimate foreign content (libc6-i386, libc6-x32, a cross toolchain, valgrind's x86 helpers,
//! Go's test data, QEMU's firmware, multiarch libc6:armhf) and still catches the planted defects;
//! a wrong-architecture program fails the run by default; the images themselves work (numpy under
//! QEMU); a missing command is blamed on the image.

mod common;

use serde_json::Value;

use common::{json_report, platform, real, run, spec, test};

fn mismatch_checks(test: &Value) -> Vec<String> {
    test["mismatches"]
        .as_array()
        .expect("mismatches")
        .iter()
        .map(|m| m["check"].as_str().expect("check").to_owned())
        .collect()
}

fn audit_json(tag: &str) -> (i32, Value) {
    let r = run(&["audit", &real(tag), "--json"]);
    let report: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{tag}: no JSON on stdout ({e}): {}", r.explain()));
    (r.code, report)
}

/// On today's main the amd64 kitchen gave hundreds of findings (i386, x32, the arm64 cross
/// libraries, valgrind, Go's .syso and test data, QEMU firmware) and the arm64 one 272 (armhf).
#[test]
fn legitimate_foreign_content_audits_clean() {
    for tag in ["kitchen", "python", "nginx"] {
        let (code, report) = audit_json(tag);
        for p in ["linux/amd64", "linux/arm64"] {
            let elf = test(platform(&report, p), "audit elf");
            assert_eq!(
                mismatch_checks(elf),
                Vec::<String>::new(),
                "{tag} {p}: {elf:#}"
            );
            assert_eq!(elf["status"], "passed", "{tag} {p}");
        }
        assert_eq!(code, 0, "{tag}: {report:#}");
    }
}

#[test]
fn every_planted_defect_is_still_caught_and_ranked_first() {
    let (code, report) = audit_json("kitchen-defects");
    assert_eq!(code, 1, "{report:#}");
    let arm = test(platform(&report, "linux/arm64"), "audit elf");
    assert_eq!(arm["status"], "failed");
    assert_eq!(
        mismatch_checks(arm),
        [
            "elf /usr/local/bin/busybox",
            "elf /usr/local/bin/python3.11"
        ],
        "{arm:#}"
    );
    let actual = arm["mismatches"][0]["actual"].as_str().expect("actual");
    assert!(
        actual.contains("amd64") && actual.contains("a program on PATH"),
        "{actual}"
    );
    let amd = test(platform(&report, "linux/amd64"), "audit elf");
    assert_eq!(amd["status"], "passed", "{amd:#}");
}

/// The headline case: a static amd64 busybox in the arm64 image runs (natively, on an amd64
/// host) and passed the run at the old default `elf = "warn"`; it fails now, and `warn` is still
/// there for whoever chooses it.
#[test]
fn a_wrong_architecture_program_fails_the_run_by_default() {
    let body = |audit: &str| {
        format!(
            r#"
image = "{}"
platforms = ["linux/arm64"]
[[test]]
name = "busybox"
command = ["/usr/local/bin/busybox", "true"]
{audit}
"#,
            real("kitchen-defects")
        )
    };
    let s = spec("headline", &body(""));
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    let arm = platform(&report, "linux/arm64");
    assert_eq!(test(arm, "busybox")["status"], "passed", "{arm:#}");
    assert_eq!(test(arm, "audit elf")["status"], "failed", "{arm:#}");
    assert!(
        r.stdout.contains("elf /usr/local/bin/busybox"),
        "{}",
        r.explain()
    );

    let s = spec("headline-warn", &body("[audit]\nelf = \"warn\"\n"));
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("audit elf passed with warnings"),
        "{}",
        r.explain()
    );
}

/// The fixture is a working interpreter with a C extension on both architectures.
#[test]
fn numpy_runs_on_amd64_and_under_qemu_on_arm64() {
    let text = format!(
        r#"
image = "{}"
[[test]]
name = "numpy"
command = ["python3", "-c", "import numpy; print(numpy.ones((3, 3)).dot(numpy.ones(3)).sum())"]
stdout = "9.0\n"
timeout = "120s"
"#,
        real("python")
    );
    let s = spec("numpy", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// A command the image does not have is the image's defect: exit 1 and a message that says so,
/// not exit 3 and "check the engine's log".
#[test]
fn a_missing_command_is_a_failed_test_not_an_engine_error() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "missing"
command = ["/usr/bin/httpd-not-here"]
"#,
        real("nginx")
    );
    let s = spec("missing", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains("/usr/bin/httpd-not-here in the image")
            && !r.stdout.contains("journalctl"),
        "{}",
        r.explain()
    );
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        assert_eq!(
            test(platform(&report, p), "missing")["status"],
            "failed",
            "{p}"
        );
    }
}

/// Issue 24's headline case, seen from the process list: the static amd64 busybox of the arm64
/// image, started as a service, runs natively on this amd64 host inside the "emulated"
/// container and passed everything. With the ELF audit off (so only this can catch it), the
/// platform now fails with the problem `native_process`, naming the process.
#[test]
fn a_host_architecture_process_in_an_emulated_container_is_reported_as_that() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/arm64"]

[service]
entrypoint = ["/usr/local/bin/busybox"]
command = ["httpd", "-f", "-p", "8080", "-h", "/"]
ready = {{ tcp = 8080, timeout = "20s" }}

[audit]
elf = "off"
"#,
        real("kitchen-defects")
    );
    let s = spec("native-process", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    let arm = platform(&report, "linux/arm64");
    assert_eq!(arm["problem"]["kind"], "native_process", "{arm:#}");
    assert_eq!(arm["problem"]["defect"], true, "{arm:#}");
    let message = arm["problem"]["message"].as_str().expect("message");
    assert!(
        message.contains("ran natively, not under qemu-aarch64")
            && message.contains("/usr/local/bin/busybox httpd -f -p 8080 -h /"),
        "{message}"
    );
    let native = arm["service"]["native_processes"]
        .as_array()
        .expect("native_processes");
    assert_eq!(native.len(), 1, "{native:?}");
    assert_eq!(test(arm, "service ready")["status"], "passed", "{arm:#}");
    assert!(
        r.stdout.contains("ran natively, not under"),
        "{}",
        r.explain()
    );
}

/// Issue 24: nginx renames itself (`nginx: master process`, `nginx: worker process`), which
/// QEMU user emulation hides from the engine; `executable` matches the program on both, `user`
/// filters (root's master, www-data's workers), and a failure lists the processes one a line
/// (nginx's own `daemon off;` holds the `;` the list used to be joined with). The arm64 service
/// runs under QEMU: nothing is reported as a native process.
#[test]
fn processes_match_by_executable_with_user_as_a_filter_on_both_platforms() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
ready = {{ tcp = 80, timeout = "30s" }}

[[process]]
name = "master"
executable = "/usr/sbin/nginx"
user = "root"
count = 1

[[process]]
name = "workers"
executable = "nginx"
user = "www-data"

[[process]]
name = "php"
executable = "php-fpm"
"#,
        real("nginx")
    );
    let s = spec("nginx-processes", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "only `php` fails: {}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        let row = platform(&report, p);
        assert!(row["problem"].is_null(), "{p}: {row:#}");
        for name in ["process master", "process workers"] {
            assert_eq!(test(row, name)["status"], "passed", "{p} {name}: {row:#}");
        }
        let php = test(row, "process php");
        assert_eq!(php["status"], "failed", "{p}: {php:#}");
        let listed = php["mismatches"][0]["actual"].as_str().expect("actual");
        let lines: Vec<&str> = listed.lines().collect();
        assert!(lines.len() >= 2, "{p}: one process a line: {listed}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("root ") && l.ends_with("daemon off;")
                    || l.starts_with("root ") && l.contains("daemon off; (")),
            "{p}: {listed}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("www-data ")),
            "{p}: {listed}"
        );
    }
}
