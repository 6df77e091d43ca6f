//! goss files as dgoss runs them, end to end on the real engine, registry and QEMU: the
//! differential suite in `tests/fixtures/goss/web/` (every resource and matcher archsmoke
//! supports, with goss's documented verdict for each in `verdicts.toml`) on the six platforms
//! of the test bed's `web` image (amd64 native, five under QEMU), the same verdicts from its
//! `archsmoke convert` output, a port that listens elsewhere only on arm64, an image without
//! a shell, and the real public goss files of `tests/fixtures/goss-public/`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{archsmoke, image, json_report, platform, repo_root, run};
use serde_json::Value;

/// The `web` fixture's platforms: amd64 native, the others under QEMU.
const PLATFORMS: [&str; 6] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
    "linux/386",
];

fn web_dir() -> PathBuf {
    repo_root().join("tests/fixtures/goss/web")
}

/// goss's verdict (true: pass) per archsmoke report name, from `verdicts.toml`.
fn verdicts() -> BTreeMap<String, bool> {
    let text = std::fs::read_to_string(web_dir().join("verdicts.toml")).expect("verdicts.toml");
    let doc: toml::Value = toml::from_str(&text).expect("verdicts.toml parses");
    doc["case"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let verdict = c["verdict"].as_str().expect("verdict");
            assert!(matches!(verdict, "pass" | "fail"), "{c:?}");
            assert!(!c["because"].as_str().expect("because").is_empty());
            (
                c["test"].as_str().expect("test").to_owned(),
                verdict == "pass",
            )
        })
        .collect()
}

/// Run `archsmoke run SPEC --image IMAGE` on `platforms` with a JSON report.
fn run_goss(
    spec: &Path,
    tag: &str,
    platforms: &[&str],
    env: &[(&str, &str)],
) -> (common::Run, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let mut cmd = archsmoke();
    cmd.arg("run")
        .arg(spec)
        .args(["--image", &image(tag), "--json"])
        .arg(&json);
    for p in platforms {
        cmd.args(["--platform", p]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = common::Run::from(cmd.output().expect("archsmoke starts"));
    let report = json_report(&json);
    (r, report)
}

/// Every check's status on one platform, by name (archsmoke's own checks, which goss does not
/// have, aside: the service's readiness, the ELF audit and the shell goss's commands need).
fn statuses(p: &Value) -> BTreeMap<String, String> {
    p["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["status"].as_str().expect("status").to_owned(),
            )
        })
        .filter(|(n, _)| {
            !["service ready", "audit elf", "Command shell: /bin/sh"].contains(&n.as_str())
        })
        .collect()
}

fn assert_goss_verdicts(report: &Value, name: &str, r: &common::Run) {
    let want = verdicts();
    let got = statuses(platform(report, name));
    let mut wrong = Vec::new();
    for (test, pass) in &want {
        let expected = if *pass { "passed" } else { "failed" };
        match got.get(test) {
            Some(s) if s == expected => {}
            other => wrong.push(format!("{test}: goss {expected}, archsmoke {other:?}")),
        }
    }
    for test in got.keys() {
        if !want.contains_key(test) {
            wrong.push(format!("{test}: no verdict recorded in verdicts.toml"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{name}:\n{}\n{}",
        wrong.join("\n"),
        r.explain()
    );
}

#[test]
fn the_differential_suite_gets_gosss_verdicts_on_six_platforms_native_and_emulated() {
    let (r, report) = run_goss(&web_dir().join("goss.yaml"), "web", &[], &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    for name in PLATFORMS {
        assert_goss_verdicts(&report, name, &r);
        // goss_wait.yaml was the readiness: the service was ready before anything was checked.
        let ready = platform(&report, name)["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"] == "service ready")
            .cloned()
            .unwrap_or_else(|| panic!("no service ready on {name}"));
        assert_eq!(ready["status"], "passed", "{ready:#}");
    }
    // A resource's `meta` is in the JSON report with its result, as in goss's JSON output.
    assert_eq!(
        report["meta"]["KernelParam: kernel.ostype: value"],
        serde_json::json!({"owner": "platform-team", "severity": 2}),
        "{}",
        report["meta"]
    );
    // goss's numeric matchers are the spec's ranges, shown as written in every report.
    for name in ["linux/amd64", "linux/s390x"] {
        let tests = platform(&report, name)["tests"].as_array().expect("tests");
        let find = |n: &str| {
            tests
                .iter()
                .find(|t| t["name"] == n)
                .unwrap_or_else(|| panic!("no {n} on {name}"))
        };
        let size = &find("File: /www/index.html too small: size")["mismatches"][0];
        assert_eq!(
            (&size["expected"], &size["actual"]),
            (&">= 1 and < 100".into(), &"114".into()),
            "{size:#}"
        );
        let t = find("Command: true");
        assert_eq!(
            t["expected_exit_range"],
            serde_json::json!({"gt": 0}),
            "{t:#}"
        );
        assert_eq!(t["mismatches"][0]["expected"], "> 0", "{t:#}");
        let status = &find("probe HTTP: missing page below 400")["mismatches"][0];
        assert_eq!(status["expected"], "< 400", "{status:#}");
        assert_eq!(status["actual"], "404", "{status:#}");
    }
    assert!(
        r.stdout.contains("> 0"),
        "the terminal shows the range: {}",
        r.stdout
    );
    // One run, a native and an emulated platform.
    assert_eq!(platform(&report, "linux/amd64")["mode"], "native");
    let arm64 = platform(&report, "linux/arm64")["mode"].to_string();
    assert!(arm64.contains("qemu-aarch64"), "{arm64}");
}

#[test]
fn the_conversion_gets_the_same_verdicts() {
    let out = archsmoke()
        .arg("convert")
        .arg(web_dir().join("goss.yaml"))
        .output()
        .expect("convert");
    assert!(out.status.success(), "{out:?}");
    let toml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(toml.contains("[service.ready]\n"), "{toml}");
    assert!(
        toml.contains("tcp = 8080"),
        "the wait file is the readiness:\n{toml}"
    );
    for range in [
        "status = { lt = 400 }",
        "size = { gt = 100 }",
        "gid = { le = 0 }",
        "exit_code = { lt = 2 }",
        "exit_code = { gt = 0 }",
        "status = { ge = 200, lt = 300 }",
    ] {
        assert!(toml.contains(range), "{range} in\n{toml}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("web.toml");
    std::fs::write(&spec, &toml).expect("write");
    let (r, report) = run_goss(&spec, "web", &["linux/amd64"], &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_goss_verdicts(&report, "linux/amd64", &r);
}

#[test]
fn a_port_listening_elsewhere_on_arm64_fails_only_there_in_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("goss.yaml"),
        "port:\n  tcp6:8080:\n    listening: true\nprocess:\n  httpd:\n    running: true\n",
    )
    .expect("write");
    // Ready once the server answers on either port, as a dgoss user would wait for it.
    std::fs::write(
        dir.path().join("goss_wait.yaml"),
        "command:\n  wget -q -O /dev/null http://127.0.0.1:8080/ || wget -q -O /dev/null http://127.0.0.1:8081/:\n    exit-status: 0\n",
    )
    .expect("write");
    let (r, report) = run_goss(&dir.path().join("goss.yaml"), "web-port", &[], &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let amd64 = statuses(platform(&report, "linux/amd64"));
    let arm64 = statuses(platform(&report, "linux/arm64"));
    assert_eq!(
        amd64["probe Port: tcp6:8080: listening"],
        "passed",
        "{}",
        r.explain()
    );
    assert_eq!(
        arm64["probe Port: tcp6:8080: listening"],
        "failed",
        "{}",
        r.explain()
    );
    assert_eq!(
        arm64["process Process: httpd: running"],
        "passed",
        "{}",
        r.explain()
    );
    assert!(r.row("linux/arm64").ends_with("FAIL"), "{}", r.stdout);
    assert!(r.row("linux/amd64").ends_with("ok"), "{}", r.stdout);
    let only = r
        .stdout
        .split("only under emulation")
        .nth(1)
        .unwrap_or_else(|| panic!("no emulation-only line:\n{}", r.stdout));
    assert!(only.contains("Port: tcp6:8080"), "{}", r.stdout);
}

#[test]
fn without_a_shell_file_port_and_process_still_pass_and_commands_say_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("goss.yaml"),
        "file:\n  /bin/httpd:\n    exists: true\n    mode: \"0755\"\nport:\n  tcp6:8080:\n    listening: true\n\
         process:\n  httpd:\n    running: true\nuser:\n  www:\n    exists: true\n    uid: 33\n\
         command:\n  echo hi:\n    exit-status: 0\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("goss_wait.yaml"),
        "port:\n  tcp:8080:\n    listening: true\n",
    )
    .expect("write");
    let (r, report) = run_goss(
        &dir.path().join("goss.yaml"),
        "web-noshell",
        &["linux/amd64", "linux/arm64"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let p = platform(&report, name);
        let s = statuses(p);
        for ok in [
            "File: /bin/httpd: exists",
            "File: /bin/httpd: mode",
            "probe Port: tcp6:8080: listening",
            "process Process: httpd: running",
            "User: www: exists",
            "User: www: uid",
        ] {
            assert_eq!(s[ok], "passed", "{ok} on {name}: {}", r.explain());
        }
        let cmd = p["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"] == "Command: echo hi")
            .expect("command test");
        assert_eq!(cmd["status"], "failed", "{cmd:#}");
        assert_eq!(cmd["exit_code"], 126, "{cmd:#}");
        let engine_says = [&cmd["stdout"], &cmd["stderr"]]
            .map(|s| s.as_str().unwrap_or(""))
            .concat();
        assert!(
            engine_says.contains(r#""sh": executable file not found"#),
            "{cmd:#}"
        );
        // ... and the report names the cause once, as a check of its own.
        let shell = p["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"] == "Command shell: /bin/sh")
            .expect("shell check");
        assert_eq!(shell["status"], "failed", "{shell:#}");
        assert_eq!(shell["mismatches"][0]["actual"], "missing", "{shell:#}");
    }
}

#[test]
fn dgoss_knobs_are_read_as_dgoss_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    std::fs::write(
        files.join("web-goss.yaml"),
        "http:\n  http://localhost:{{ .Vars.port }}/:\n    status: 200\n    body: [\"{{ .Env.WELCOME }}\"]\n",
    )
    .expect("write");
    std::fs::write(
        files.join("goss_wait.yaml"),
        "port:\n  tcp:{{ .Vars.port }}:\n    listening: true\n",
    )
    .expect("write");
    std::fs::write(files.join("vars.yaml"), "port: 8080\n").expect("write");
    let files_path = files.to_str().expect("utf-8");
    let env = [
        ("GOSS_FILES_PATH", files_path),
        ("GOSS_FILE", "web-goss.yaml"),
        ("GOSS_VARS", "vars.yaml"),
        ("GOSS_WAIT_OPTS", "-r 20s -s 1s"),
        ("WELCOME", "welcome to archsmoke"),
    ];
    let out = archsmoke()
        .arg("convert")
        .arg(&files)
        .envs(env)
        .output()
        .expect("convert");
    assert!(out.status.success(), "{out:?}");
    let toml = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "tcp = 8080",
        "timeout = \"20s\"",
        "body_contains = [\"welcome to archsmoke\"]",
    ] {
        assert!(toml.contains(needle), "{needle} in\n{toml}");
    }
    let (r, report) = run_goss(&files, "web", &["linux/arm64"], &env);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(
        statuses(platform(&report, "linux/arm64"))["probe HTTP: http://localhost:8080/"],
        "passed"
    );
}

#[test]
fn unsupported_resources_are_refused_with_their_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("goss.yaml");
    std::fs::write(
        &path,
        "file:\n  /x:\n    exists: true\nmount:\n  /data:\n    exists: true\n",
    )
    .expect("write");
    let r = run(&["validate", path.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(
        r.stderr
            .contains("goss.yaml:5:3: mount `/data` is not supported"),
        "{}",
        r.explain()
    );
    assert!(r.stderr.contains("skip: true"), "{}", r.explain());
}

#[test]
fn numeric_matchers_one_range_cannot_say_are_refused_with_their_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("goss.yaml");
    std::fs::write(
        &path,
        "http:\n  http://localhost:8080/:\n    status: {not: 200}\ncommand:\n  exit 1:\n    \
         exit-status: {and: [{lt: 1}, {gt: 5}]}\nfile:\n  /x:\n    exists: true\n    size: {gt: \"5\"}\n",
    )
    .expect("write");
    let r = run(&["validate", path.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2, "{}", r.explain());
    for at in [
        "goss.yaml:3:13: `status` with this matcher passes for < 200, or > 200",
        "goss.yaml:6:18: `exit-status` can never match",
        "goss.yaml:10:16: `gt: \"5\"` is a string",
    ] {
        assert!(r.stderr.contains(at), "{at} in {}", r.explain());
    }
}

/// The same ranges in a spec written by hand: a test's exit code, a file's size, a process
/// count and an HTTP status, on a native and an emulated platform, and what each report says.
#[test]
fn a_spec_checks_numbers_in_ranges_and_reports_say_the_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("ranges.toml");
    std::fs::write(
        &spec,
        r#"[service]
[service.ready]
http = { port = 8080, status = { ge = 200, lt = 300 } }

[[test]]
name = "exit 3 is below 5"
command = ["sh", "-c", "exit 3"]
exit_code = { lt = 5 }

[[test]]
name = "exit 3 is not above 3"
command = ["sh", "-c", "exit 3"]
exit_code = { gt = 3, le = 255 }

[[file]]
path = "/www/index.html"
size = { gt = 100, lt = 200 }

[[process]]
name = "one or two servers"
command_matches = "httpd"
count = { ge = 1, le = 2 }

[[probe]]
name = "a client error"
http = { port = 8080, path = "/missing.html", status = { ge = 400, lt = 500 } }
"#,
    )
    .expect("write");
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let out = archsmoke()
        .arg("run")
        .arg(&spec)
        .args(["--image", &image("web"), "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .output()
        .expect("archsmoke starts");
    let r = common::Run::from(out);
    assert_eq!(r.code, 1, "{}", r.explain());
    let report = json_report(&json);
    for name in ["linux/amd64", "linux/arm64"] {
        let s = statuses(platform(&report, name));
        for (test, want) in [
            ("exit 3 is below 5", "passed"),
            ("exit 3 is not above 3", "failed"),
            ("file /www/index.html", "passed"),
            ("process one or two servers", "passed"),
            ("probe a client error", "passed"),
        ] {
            assert_eq!(
                s.get(test).map(String::as_str),
                Some(want),
                "{test} on {name}: {}",
                r.explain()
            );
        }
        let failed = platform(&report, name)["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|t| t["name"] == "exit 3 is not above 3")
            .expect("test");
        assert_eq!(failed["expected_exit_code"], 4, "{failed:#}");
        assert_eq!(
            failed["expected_exit_range"],
            serde_json::json!({"gt": 3, "le": 255}),
            "{failed:#}"
        );
        assert_eq!(failed["mismatches"][0]["expected"], "> 3 and <= 255");
    }
    let xml = std::fs::read_to_string(&junit).expect("junit");
    for says in [
        "message=\"exit code: expected &gt; 3 and &lt;= 255, got 3\"",
        "exit code: 3 (expected > 3 and <= 255)",
    ] {
        assert!(xml.contains(says), "{says} in {xml}");
    }
    assert!(r.stdout.contains("> 3 and <= 255"), "{}", r.stdout);
}

#[test]
fn real_public_goss_files_validate_and_convert_or_are_refused_where_unsupported() {
    let dir = repo_root().join("tests/fixtures/goss-public");
    // Each directory, and the positions of what archsmoke refuses in it (SOURCES.md).
    let cases: [(&str, &[&str]); 4] = [
        ("lancache-monolithic", &[]),
        ("tesseract-server", &[]),
        (
            "lancache-dns",
            &[
                "goss.yaml:15:3: dns `blizzard.cache.lancache.net` is not supported",
                "goss.yaml:21:3: dns `epicgames.cache.lancache.net` is not supported",
                "goss.yaml:27:3: dns `steam.cache.lancache.net` is not supported",
            ],
        ),
        (
            "nexus-iq-server",
            &["goss.yaml:23:3: gossfile `/test/goss.common.yaml` is not supported"],
        ),
    ];
    let dirs = std::fs::read_dir(&dir)
        .expect("tests/fixtures/goss-public")
        .filter(|e| e.as_ref().expect("entry").path().is_dir())
        .count();
    assert_eq!(dirs, cases.len(), "every fixture has a case");
    for (name, refused) in cases {
        let file = dir.join(name).join("goss.yaml");
        let file = file.to_str().expect("utf-8");
        let r = run(&["validate", file]);
        let out = archsmoke()
            .args(["convert", file])
            .output()
            .expect("convert");
        if refused.is_empty() {
            assert_eq!(r.code, 0, "{name}: {}", r.explain());
            assert!(out.status.success(), "{name}: {out:?}");
            let toml = String::from_utf8_lossy(&out.stdout);
            assert!(toml.contains("[service]"), "{toml}");
        } else {
            assert_eq!(r.code, 2, "{name}: {}", r.explain());
            for at in refused {
                assert!(r.stderr.contains(at), "{at} in {}", r.explain());
            }
            assert!(
                r.stderr.contains(&format!("{} problem", refused.len()))
                    || (refused.len() == 1 && !r.stderr.contains("problems")),
                "only the unsupported resources: {}",
                r.explain()
            );
            assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        }
    }
}

#[test]
fn dgoss_run_arguments_env_and_cmd_reach_the_service_on_a_native_and_an_emulated_platform() {
    // `dgoss run -e PORT=9090 IMAGE from-cmd`: the web image's /bin/start listens on $PORT and
    // ignores its arguments, which stay on its command line.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("goss.yaml"),
        "port:\n  tcp6:9090:\n    listening: true\n  tcp6:8080:\n    listening: false\n\
         command:\n  tr '\\0' ' ' < /proc/1/cmdline:\n    exit-status: 0\n    \
         stdout: [\"/bin/start from-cmd\"]\n  echo \"$GREETING\":\n    exit-status: 0\n    \
         stdout: [hello]\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("goss_wait.yaml"),
        "port:\n  tcp:9090:\n    listening: true\n",
    )
    .expect("write");
    let json = dir.path().join("report.json");
    let out = archsmoke()
        .arg("run")
        .arg(dir.path().join("goss.yaml"))
        .args(["--image", &image("web"), "--json"])
        .arg(&json)
        .args(["--platform", "linux/amd64,linux/arm64"])
        .args(["-e", "PORT=9090", "--service-env", "GREETING"])
        .env("GREETING", "hello")
        .args(["--", "from-cmd"])
        .output()
        .expect("archsmoke starts");
    let r = common::Run::from(out);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = json_report(&json);
    for name in ["linux/amd64", "linux/arm64"] {
        let s = statuses(platform(&report, name));
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(s.values().all(|v| v == "passed"), "{name}: {s:?}");
    }
    // The value taken from this machine's environment is masked in the report.
    let text = std::fs::read_to_string(&json).expect("report");
    assert!(
        !text.contains("hello\\n"),
        "GREETING's value leaked: {text}"
    );
}
