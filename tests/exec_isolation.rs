//! End to end: `isolation = "exec"` on all six platforms of the real index, natively and under
//! QEMU: one keepalive container per platform, tests as execs that share it, timeouts that
//! replace it, and nothing left behind.

mod common;

use common::{image, json_report, labelled_containers, platform, run, spec};

const SIX: &str = r#"["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/386"]"#;

fn status(platform: &serde_json::Value, test: &str) -> String {
    platform["tests"]
        .as_array()
        .expect("tests array")
        .iter()
        .find(|t| t["name"] == test)
        .unwrap_or_else(|| panic!("no test {test} in {}", platform["platform"]))["status"]
        .as_str()
        .expect("status string")
        .to_owned()
}

#[test]
fn tests_share_one_container_per_platform_on_all_six_platforms() {
    let text = format!(
        r#"
image = "{}"
platforms = {SIX}

# Counts below are of container tests; the image audit has its own tests (tests/audit.rs).
[audit]
elf = "off"

[settings]
isolation = "exec"
exec_keepalive = ["sleep", "86400"]

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
[test.per_platform."linux/arm/v7"]
stdout = "armv7l\n"
[test.per_platform."linux/ppc64le"]
stdout = "ppc64le\n"
[test.per_platform."linux/s390x"]
stdout = "s390x\n"

[[test]]
name = "write"
command = ["sh", "-c", "echo $MARK > /tmp/mark"]
env = {{ MARK = "left by write" }}

[[test]]
name = "read"   # only passes when it runs in the container `write` ran in
command = ["cat", "/tmp/mark"]
stdout = "left by write\n"

[[test]]
name = "exit code and stderr"
entrypoint = ["sh", "-c"]
command = ["echo oops >&2; exit 7"]
exit_code = 7
stderr = "oops\n"
"#,
        image("multi")
    );
    let s = spec("exec", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = json_report(&s.dir.path().join("report.json"));
    for (p, mode) in [
        ("linux/amd64", "native"),
        ("linux/386", "native"),
        ("linux/arm64", "emulated"),
        ("linux/arm/v7", "emulated"),
        ("linux/ppc64le", "emulated"),
        ("linux/s390x", "emulated"),
    ] {
        let pr = platform(&report, p);
        assert_eq!(pr["execution"]["mode"], mode, "{p}: {pr}");
        assert_eq!(pr["counts"]["passed"], 4, "{p}: {pr}");
    }
    assert!(
        labelled_containers(Some(&r.run_id())).is_empty(),
        "exec containers were left behind"
    );

    // The same spec under one container per test: `read` cannot see what `write` wrote, which
    // proves the pass above came from a shared container.
    let r = run(&[
        "run",
        s.path(),
        "--isolation",
        "container",
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&s.dir.path().join("report.json"));
    for p in ["linux/amd64", "linux/arm64"] {
        let pr = platform(&report, p);
        assert_eq!(status(pr, "read"), "failed", "{p}: {pr}");
        assert_eq!(status(pr, "write"), "passed", "{p}: {pr}");
    }
}

#[test]
fn a_timeout_replaces_the_container_and_later_tests_still_run() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
isolation = "exec"
exec_keepalive = ["sleep", "86400"]
emulated_timeout_factor = 2

[[test]]
name = "write"
command = ["touch", "/tmp/before-timeout"]

[[test]]
name = "hang"
command = ["sleep", "600"]
timeout = "1s"

[[test]]
name = "fresh container"
command = ["sh", "-c", "test ! -e /tmp/before-timeout"]
"#,
        image("multi")
    );
    let s = spec("exec-timeout", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("utf-8")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&s.dir.path().join("report.json"));
    for p in ["linux/amd64", "linux/arm64"] {
        let pr = platform(&report, p);
        assert_eq!(status(pr, "write"), "passed", "{p}: {pr}");
        assert_eq!(status(pr, "hang"), "timed_out", "{p}: {pr}");
        assert_eq!(status(pr, "fresh container"), "passed", "{p}: {pr}");
    }
    assert!(
        r.stdout
            .contains("killed with the platform's exec container"),
        "{}",
        r.explain()
    );
    assert!(
        labelled_containers(Some(&r.run_id())).is_empty(),
        "a timed-out exec container was left behind"
    );
}

#[test]
fn exec_isolation_without_a_keepalive_is_a_usage_error() {
    let s = spec(
        "no-keepalive",
        &format!(
            "image = \"{}\"\n[settings]\nisolation = \"exec\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
            image("multi")
        ),
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("exec_keepalive"), "{}", r.explain());
    assert!(r.stderr.contains(":3:"), "no line number: {}", r.explain());

    let s = spec(
        "no-keepalive-flag",
        &format!(
            "image = \"{}\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
            image("multi")
        ),
    );
    let r = run(&["run", s.path(), "--isolation", "exec"]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("exec_keepalive"), "{}", r.explain());
}

#[test]
fn a_keepalive_that_exits_fails_the_platform_as_infrastructure() {
    let s = spec(
        "short-keepalive",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[settings]\nisolation = \"exec\"\n\
             exec_keepalive = [\"true\"]\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
            image("multi")
        ),
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(
        r.stdout.contains("must run until removed"),
        "{}",
        r.explain()
    );
    assert!(
        labelled_containers(Some(&r.run_id())).is_empty(),
        "the failed keepalive container was left behind"
    );
}
