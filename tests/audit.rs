//! End to end: the image audit on the real registry. `[[file]]` and `[metadata]` checks on the six
//! platforms of `:multi` without a container, the ELF audit of `:foreign-binary` (whose arm64
//! entry carries the amd64 busybox) inside a run whose container tests pass, zstd-compressed
//! layers, and `archsmoke audit IMAGE` alone.

mod common;

use serde_json::Value;

use common::{image, json_report, labelled_containers, platform, run, spec, test};

const SIX: [&str; 6] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
    "linux/386",
];

fn mismatch_checks(test: &Value) -> Vec<String> {
    test["mismatches"]
        .as_array()
        .expect("mismatches")
        .iter()
        .map(|m| m["check"].as_str().expect("check").to_owned())
        .collect()
}

#[test]
fn file_and_metadata_checks_pass_on_six_platforms_without_a_container() {
    let text = format!(
        r#"
image = "{}"
[[file]]
path = "/bin/busybox"
type = "file"
mode = "0755"
uid = 0
gid = 0
[[file]]
path = "/bin/sh"
target = "busybox"
[[file]]
# Through the symlink: the content is busybox's, read from its layer again.
path = "/bin/sh"
contains = "\u007fELF"
[[file]]
path = "/etc/passwd"
contains = "root:x:0:0:"
matches = "^nobody:"
excludes = "toor"
[[file]]
path = "/tmp"
type = "directory"
mode = "1777"
[[file]]
path = "/etc/shadow"
exists = false
[metadata]
cmd = ["sh"]
env = {{ PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }}
env_matches = {{ PATH = "(^|:)/bin($|:)" }}
env_unset = ["LD_PRELOAD"]
entrypoint = []
[audit]
elf = "error"
"#,
        image("multi")
    );
    let s = spec("files", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = json_report(&json);
    for p in SIX {
        assert!(r.row(p).trim_end().ends_with("ok"), "{}", r.row(p));
        let pr = platform(&report, p);
        // 6 files, metadata, audit elf: all read from the registry.
        assert_eq!(pr["tests"].as_array().map(Vec::len), Some(8), "{pr:#}");
        assert_eq!(pr["pull"], Value::Null, "nothing pulled for {p}");
        for t in pr["tests"].as_array().expect("tests") {
            assert_eq!(t["status"], "passed", "{p}: {t:#}");
        }
    }
    assert!(
        labelled_containers(Some(&r.run_id())).is_empty(),
        "an image-only spec must not start containers"
    );
}

#[test]
fn file_and_metadata_checks_fail_with_expected_and_actual() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64", "linux/s390x"]
[[file]]
path = "/bin/busybox"
mode = "0700"
[[file]]
path = "/etc/shadow"
[[file]]
path = "/etc/passwd"
exists = false
[[file]]
path = "/bin/sh"
type = "directory"
platforms = ["linux/arm64"]
[metadata]
user = "nobody"
env_unset = ["PATH"]
"#,
        image("multi")
    );
    let s = spec("broken-files", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64", "linux/s390x"] {
        let pr = platform(&report, p);
        let mode = test(pr, "file /bin/busybox");
        assert_eq!(mode["status"], "failed");
        assert_eq!(mode["mismatches"][0]["expected"], "0700");
        assert_eq!(mode["mismatches"][0]["actual"], "0755");
        let shadow = test(pr, "file /etc/shadow");
        assert_eq!(mismatch_checks(shadow), ["exists"], "{shadow:#}");
        assert_eq!(shadow["mismatches"][0]["actual"], "missing");
        let passwd = test(pr, "file /etc/passwd");
        assert_eq!(passwd["mismatches"][0]["expected"], "absent");
        let meta = test(pr, "metadata");
        assert_eq!(mismatch_checks(meta), ["env PATH", "user"], "{meta:#}");
        // The default ELF audit (warn) runs too, and the image is right.
        assert_eq!(test(pr, "audit elf")["status"], "passed");
    }
    let arm64 = platform(&report, "linux/arm64");
    let sh = test(arm64, "file /bin/sh");
    // Types follow symlinks unless the check asks for a symlink: /bin/sh is busybox, a file.
    assert_eq!(sh["mismatches"][0]["actual"], "file", "{sh:#}");
    let amd64 = platform(&report, "linux/amd64");
    assert!(
        amd64["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .all(|t| t["name"] != "file /bin/sh"),
        "the /bin/sh check is for arm64 only"
    );
    assert!(
        r.stdout.contains("file /etc/shadow failed"),
        "{}",
        r.explain()
    );
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}

#[test]
fn foreign_binary_runs_but_fails_the_elf_audit() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "echo"
command = ["echo", "hello"]
stdout = "hello\n"
[audit]
elf = "error"
"#,
        image("foreign-binary")
    );
    let s = spec("foreign", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        assert_eq!(
            test(platform(&report, p), "echo")["status"],
            "passed",
            "{p}"
        );
    }
    assert_eq!(
        test(platform(&report, "linux/amd64"), "audit elf")["status"],
        "passed"
    );
    let elf = test(platform(&report, "linux/arm64"), "audit elf");
    assert_eq!(elf["status"], "failed", "{elf:#}");
    let busybox = elf["mismatches"]
        .as_array()
        .expect("mismatches")
        .iter()
        .find(|m| m["check"] == "elf /bin/busybox")
        .unwrap_or_else(|| panic!("/bin/busybox not named: {elf:#}"));
    // The CMD `sh` is a link to busybox: the finding says it is what the container runs.
    assert_eq!(
        busybox["actual"],
        "64-bit little-endian amd64 (x86_64, e_machine 62) (the entrypoint); directory /bin"
    );
    assert_eq!(
        busybox["expected"],
        "64-bit little-endian arm64 (aarch64, e_machine 183)"
    );
    assert!(
        r.row("linux/arm64").trim_end().ends_with("FAIL"),
        "{}",
        r.explain()
    );
}

#[test]
fn warn_level_shows_the_mismatch_without_failing() {
    let text = format!(
        "image = \"{}\"\nplatforms = [\"linux/arm64\"]\n[[file]]\npath = \"/bin/busybox\"\n\
         [audit]\nelf = \"warn\"\n",
        image("foreign-binary")
    );
    let s = spec("warn", &text);
    let junit = s.dir.path().join("report.xml");
    let r = run(&["run", s.path(), "--junit", junit.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.contains("audit elf passed with warnings"),
        "{}",
        r.explain()
    );
    assert!(r.stdout.contains("elf /bin/busybox"), "{}", r.explain());
    // JUnit has no warnings: they go to the passed test case's system-out.
    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    assert!(
        xml.contains("warning: elf /bin/busybox: expected 64-bit"),
        "{xml}"
    );
    let xsd = common::junit_xsd();
    let lint = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&junit)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    assert!(lint.status.success(), "{lint:?}");
}

#[test]
fn allow_exempts_matching_paths() {
    let text = format!(
        "image = \"{}\"\nplatforms = [\"linux/arm64\"]\n[[file]]\npath = \"/bin/busybox\"\n\
         [audit]\nelf = \"error\"\nallow = [\"/bin/*\"]\n",
        image("foreign-binary")
    );
    let s = spec("allow", &text);
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn audit_command_alone() {
    let r = run(&["audit", &image("foreign-binary"), "--json"]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report: Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(report["exit_code"], 1);
    let elf = test(platform(&report, "linux/arm64"), "audit elf");
    assert_eq!(elf["status"], "failed");
    assert!(
        mismatch_checks(elf).contains(&"elf /bin/busybox".to_owned()),
        "{elf:#}"
    );
    assert_eq!(
        test(platform(&report, "linux/amd64"), "audit elf")["status"],
        "passed"
    );

    let r = run(&["audit", &image("multi")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for p in SIX {
        assert!(r.row(p).trim_end().ends_with("ok"), "{}", r.row(p));
    }
}

#[test]
fn zstd_layers_are_read_like_gzip_ones_and_the_image_runs() {
    // `buildx --output compression=zstd` images: the file checks read their content through
    // the zstd stream, the ELF audit reads busybox's header, and the engine runs them.
    let text = format!(
        r#"
image = "{}"
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
[[file]]
path = "/etc/passwd"
contains = "root:x:0:0:"
[[file]]
path = "/bin/sh"
contains = "\u007fELF"
[audit]
elf = "error"
"#,
        image("zstd")
    );
    let s = spec("zstd", &text);
    let json = s.dir.path().join("report.json");
    let r = run(&["run", s.path(), "--json", json.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        let pr = platform(&report, p);
        let statuses: Vec<(&str, &str)> = pr["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or(""),
                    t["status"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(statuses.len(), 4, "{p}: {statuses:?}");
        assert!(
            statuses.iter().all(|(_, s)| *s == "passed"),
            "{p}: {statuses:?}"
        );
    }
    assert!(labelled_containers(Some(&r.run_id())).is_empty());
}
