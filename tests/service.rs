//! Service smoke tests end to end, on the real engine, registry and QEMU: the test bed's busybox
//! `httpd` images (`web`, `web-noshell`, `web-slow`, `web-crash`, `web-port`) started as they
//! ship, waited for by every readiness kind, probed from a relay in their network namespace, and
//! the five faults (never ready, crash, log flood, SIGTERM ignored, another port on one
//! platform, slow HTTP), each bounded and leaving nothing behind.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{image, json_report, labelled_containers, platform, repo_root, run, spec};
use serde_json::Value;

/// Run a spec and return the parsed, schema-checked JSON report with the run.
fn run_spec(name: &str, text: &str, extra: &[&str]) -> (common::Run, Value) {
    let s = spec(name, text);
    let json = s.dir.path().join("report.json");
    let mut args = vec!["run", s.path(), "--json", json.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let r = run(&args);
    let report = json_report(&json);
    assert_nothing_left(&r);
    (r, report)
}

/// No container of the run, and no relay image of the run, is left on the engine.
fn assert_nothing_left(r: &common::Run) {
    let id = r.run_id();
    assert!(
        labelled_containers(Some(&id)).is_empty(),
        "containers left behind:\n{}",
        r.explain()
    );
    let out = Command::new("docker")
        .args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "archsmoke-probe",
        ])
        .output()
        .expect("docker images");
    let images = String::from_utf8_lossy(&out.stdout);
    assert!(
        !images.lines().any(|l| l.contains(&id)),
        "relay image left behind: {images}"
    );
}

fn test<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} in {p:#}"))
}

fn status<'a>(p: &'a Value, name: &str) -> &'a str {
    test(p, name)["status"].as_str().expect("status")
}

#[test]
fn the_example_web_spec_passes_on_all_six_platforms_with_every_readiness_and_check_kind() {
    let text = std::fs::read_to_string(repo_root().join("smoke-tests/web.toml")).expect("spec");
    // The example names the documented registry port; the test bed may have chosen another.
    let s = spec("web", &text.replace("127.0.0.1:5000", &common::registry()));
    let dir = s.dir.path();
    let (json, junit, summary) = (
        dir.join("r.json"),
        dir.join("r.xml"),
        dir.join("summary.md"),
    );
    let r = common::Run::from(
        common::archsmoke()
            .args(["run", s.path(), "--json", json.to_str().expect("p")])
            .args(["--junit", junit.to_str().expect("p")])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .expect("archsmoke runs"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_nothing_left(&r);
    let report = json_report(&json);
    for name in [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
        "linux/386",
    ] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "passed", "{name}: {p:#}");
        let service = &p["service"];
        assert_eq!(service["ready"], true);
        assert!(service["ready_secs"].as_f64().expect("ready_secs") > 0.0);
        assert!(service["log_lines"].as_u64().expect("lines") >= 1);
        for t in [
            "service ready",
            "probe home page",
            "probe the server answers on its own machine",
            "probe missing page",
            "probe nothing else listens",
            "process httpd in the foreground",
            "site is in place",
            "logs",
        ] {
            assert_eq!(status(p, t), "passed", "{name} {t}: {p:#}");
        }
        // The answer is the platform's own machine, from the server running under QEMU.
        let arch = test(p, "probe the server answers on its own machine")["stdout"]
            .as_str()
            .expect("stdout")
            .trim_end()
            .rsplit('\n')
            .next()
            .expect("body")
            .to_owned();
        let expected = match name {
            "linux/amd64" => "x86_64",
            "linux/arm64" => "aarch64",
            "linux/arm/v7" => "armv7l",
            "linux/ppc64le" => "ppc64le",
            "linux/s390x" => "s390x",
            // A 32-bit process on an x86-64 kernel sees the kernel's machine (no linux32).
            _ => "x86_64",
        };
        assert_eq!(arch, expected, "{name}");
    }
    // The ready time is in every report.
    assert!(r.stdout.contains("ready: linux/amd64 "), "{}", r.stdout);
    assert!(r.stdout.contains("linux/arm64 "), "{}", r.stdout);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    roxmltree::Document::parse(&xml).expect("the JUnit file is XML");
    assert!(
        xml.contains("name=\"archsmoke.service.ready_secs\""),
        "{xml}"
    );
    assert!(xml.contains("probe home page"), "{xml}");
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(md.contains("ready: linux/amd64 "), "{md}");
}

#[test]
fn a_no_shell_image_is_checked_without_anything_inside_it() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64", "linux/s390x"]

[service]
stop_timeout = "1s"             # httpd as PID 1 ignores SIGTERM

[service.ready]
tcp = 8080

[[probe]]
name = "home page"
http = {{ port = 8080, path = "/" }}
body_contains = "welcome to archsmoke"

[[probe]]
name = "admin port closed"
tcp = 9000
open = false

[[process]]
name = "the server is the only process"
command_matches = "^/bin/httpd -f -v -p 8080 -h /www$"
count = 1

[[file]]
path = "/bin/sh"
exists = false
"#,
        image("web-noshell")
    );
    let (r, report) = run_spec("noshell", &text, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64", "linux/s390x"] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "passed", "{name}: {p:#}");
        assert_eq!(status(p, "file /bin/sh"), "passed");
        // The guest's own command line, QEMU stripped, is what the process check saw.
        let seen = test(p, "process the server is the only process")["stdout"]
            .as_str()
            .expect("stdout");
        assert!(
            seen.contains("/bin/httpd -f -v -p 8080 -h /www"),
            "{name}: {seen}"
        );
        assert!(!seen.contains("qemu"), "{name}: {seen}");
        // SIGTERM is ignored by PID 1: killed after stop_timeout.
        assert_eq!(p["service"]["killed"], true, "{name}");
    }
}

#[test]
fn exec_readiness_with_overridden_entrypoint_env_and_user_and_tests_inside_the_service() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
entrypoint = ["sh", "-c", "sleep 1; touch /tmp/ready; echo \"greeting=$GREETING\"; exec /bin/start"]
env = {{ GREETING = "hello", PORT = "8090" }}
user = "0:0"

[service.ready]
exec = ["test", "-f", "/tmp/ready"]
log = ["greeting=hello", "listening on port 8090"]
http = {{ port = 8090, path = "/", status = 200 }}

[[probe]]
name = "custom port"
tcp = 8090

[[test]]
name = "env reaches the service"
command = ["sh", "-c", "cat /proc/1/environ | tr '\\0' '\\n' | grep GREETING"]
stdout = "GREETING=hello\n"

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"

[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
"#,
        image("web")
    );
    let (r, report) = run_spec("exec", &text, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "passed", "{name}: {p:#}");
        assert!(p["service"]["ready_secs"].as_f64().expect("ready") >= 1.0);
    }
}

#[test]
fn a_service_that_never_becomes_ready_fails_at_its_deadline_multiplied_under_emulation() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
emulated_timeout_factor = 2

[service]
[service.ready]
tcp = 9999
timeout = "2s"

[[probe]]
name = "home page"
http = {{ port = 8080, path = "/" }}
"#,
        image("web")
    );
    let started = Instant::now();
    let (r, report) = run_spec("never", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(started.elapsed() < Duration::from_secs(60));
    for (name, deadline) in [("linux/amd64", 2.0), ("linux/arm64", 4.0)] {
        let p = platform(&report, name);
        assert_eq!(p["result"], "failed");
        assert_eq!(p["service"]["ready"], false);
        assert_eq!(p["service"]["ready_secs"], Value::Null);
        assert_eq!(p["service"]["ready_timeout_secs"], deadline);
        let ready = test(p, "service ready");
        assert_eq!(ready["status"], "failed");
        let why = ready["mismatches"][0]["actual"].as_str().expect("actual");
        assert!(why.contains("port 9999 to accept connections"), "{why}");
        // The checks did not run, and say why.
        assert_eq!(status(p, "probe home page"), "skipped");
    }
    assert!(r.stdout.contains("linux/arm64 not ready"), "{}", r.stdout);
}

/// Issue 28: an arm64 build listening on 8081 while the spec waits for 8080 waited the tests'
/// emulation factor (10×) and then said only what it waited for. Readiness has its own factor
/// (3× by default) and the failure names the ports the container does listen on.
#[test]
fn readiness_on_the_wrong_port_fails_at_its_own_factor_naming_the_ports_that_listen() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
[service.ready]
tcp = 8080
timeout = "3s"

[[probe]]
name = "home page"
tcp = 8080
"#,
        image("web-port")
    );
    let (r, report) = run_spec("wrong-port", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(platform(&report, "linux/amd64")["result"], "passed");
    let arm64 = platform(&report, "linux/arm64");
    assert_eq!(arm64["service"]["ready_timeout_secs"], 9.0, "{arm64:#}");
    let ready = test(arm64, "service ready");
    assert_eq!(ready["status"], "failed");
    let why = ready["mismatches"][0]["actual"].as_str().expect("actual");
    assert!(why.contains("port 8080 to accept connections"), "{why}");
    assert!(
        why.contains("the container listens on TCP port 8081"),
        "the failure names the port the service did open: {why}"
    );
    assert!(
        r.stdout.contains("listens on TCP port 8081"),
        "the terminal shows it too:\n{}",
        r.stdout
    );
}

#[test]
fn a_service_that_crashes_on_one_platform_fails_there_with_its_exit_code_and_logs() {
    let text = format!(
        r#"
image = "{}"

[service]
[service.ready]
tcp = 8080
timeout = "20s"

[[probe]]
name = "home page"
http = {{ port = 8080, path = "/" }}
"#,
        image("web-crash")
    );
    let (r, report) = run_spec("crash", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        assert_eq!(platform(&report, name)["result"], "passed");
    }
    let s390x = platform(&report, "linux/s390x");
    assert_eq!(s390x["service"]["exit_code"], 3);
    let ready = test(s390x, "service ready");
    assert_eq!(ready["exit_code"], 3);
    let why = ready["mismatches"][0]["actual"].as_str().expect("actual");
    assert!(why.contains("exited with code 3"), "{why}");
    assert!(
        ready["stderr"]
            .as_str()
            .expect("logs")
            .contains("fatal: cannot start on s390x"),
        "{ready:#}"
    );
    // Far before the deadline: the exit is noticed, not waited out.
    assert!(
        ready["duration_secs"].as_f64().expect("d") < 15.0,
        "{ready:#}"
    );
    assert!(
        r.stdout.contains("fatal: cannot start on s390x"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("only under emulation"), "{}", r.stdout);
}

#[test]
fn a_log_flood_is_bounded_and_still_matched_line_by_line() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
output_limit = "64KiB"

[service]
entrypoint = ["sh", "-c", "yes 'flood line' | head -c 20000000; echo 'flood over'; exec /bin/start"]

[service.ready]
log = "listening on port 8080"
timeout = "60s"

[logs]
contains = ["flood over", "flood line"]
excludes = "panic"
"#,
        image("web")
    );
    let (r, report) = run_spec("flood", &text, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let service = &platform(&report, name)["service"];
        assert!(
            service["log_lines"].as_u64().expect("lines") > 1_800_000,
            "{service:#}"
        );
        assert!(service["logs_dropped"].as_u64().expect("dropped") > 19_000_000);
        assert!(service["logs"].as_str().expect("logs").len() <= 64 << 10);
    }
}

/// A `[logs]` check that ran and failed says what it missed, not the "not run" placeholder it
/// was planned with (issue 26 item 9: the stale error stayed beside the mismatch).
#[test]
fn a_failed_logs_check_reports_its_mismatch_not_the_not_run_placeholder() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64"]

[service]
[service.ready]
tcp = 8080

[logs]
contains = "a line the server never prints"
"#,
        image("web")
    );
    let (r, report) = run_spec("logs-fail", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let t = test(platform(&report, "linux/amd64"), "logs");
    assert_eq!(t["status"], "failed", "{t:#}");
    assert!(t["error"].is_null(), "{t:#}");
    assert!(
        t["mismatches"]
            .to_string()
            .contains("a line the server never prints"),
        "{t:#}"
    );
    assert!(
        !r.stdout.contains("the service was not ready"),
        "{}",
        r.explain()
    );
}

#[test]
fn a_service_exec_test_is_matched_on_its_whole_output_not_the_kept_tail() {
    // The report keeps 1 KiB of `seq 1 20000` (108,894 bytes); the expectations see all of it,
    // as a test container's do (before, `^1\n2\n3\n` failed on the kept tail).
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
output_limit = "1KiB"

[service]
[service.ready]
tcp = 8080

[[test]]
name = "head of a long output"
command = ["seq", "1", "20000"]
stdout_matches = ["(?-m)\\A1\\n2\\n3\\n", "(?-m)19999\\n20000\\n\\z"]
stdout_contains = "\n10000\n"
"#,
        image("web")
    );
    let (r, report) = run_spec("whole-exec", &text, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let t = test(platform(&report, name), "head of a long output");
        assert_eq!(t["status"], "passed", "{t:#}");
        assert!(
            t["stdout_dropped_bytes"].as_u64().expect("dropped") > 100_000,
            "{t:#}"
        );
    }
}

#[test]
fn a_service_ignoring_sigterm_is_killed_after_stop_timeout() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
entrypoint = ["sh", "-c", "trap '' TERM; echo started; httpd -f -p 8080 -h /www; echo gone"]
stop_timeout = "2s"

[service.ready]
log = "started"
tcp = 8080
"#,
        image("web")
    );
    let started = Instant::now();
    let (r, report) = run_spec("sigterm", &text, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(started.elapsed() < Duration::from_secs(60));
    for name in ["linux/amd64", "linux/arm64"] {
        assert_eq!(platform(&report, name)["service"]["killed"], true, "{name}");
    }
}

#[test]
fn a_port_that_differs_on_one_platform_fails_the_probe_there() {
    let text = format!(
        r#"
image = "{}"

[service]
[service.ready]
log = "listening on port"

[[probe]]
name = "home page on 8080"
http = {{ port = 8080, path = "/" }}
"#,
        image("web-port")
    );
    let (r, report) = run_spec("port", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(
        status(platform(&report, "linux/amd64"), "probe home page on 8080"),
        "passed"
    );
    let arm64 = test(platform(&report, "linux/arm64"), "probe home page on 8080");
    assert_eq!(arm64["status"], "failed");
    let why = arm64["mismatches"][0]["actual"].as_str().expect("actual");
    assert!(
        why.contains("nothing accepts connections on port 8080"),
        "{why}"
    );
    assert!(
        platform(&report, "linux/arm64")["service"]["logs"]
            .as_str()
            .expect("logs")
            .contains("listening on port 8081")
    );
}

#[test]
fn a_slow_answer_times_out_the_probe_and_a_slow_start_shows_in_the_ready_time() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
emulated_timeout_factor = 2

[service]
[service.ready]
tcp = 8080
timeout = "30s"

[[probe]]
name = "impatient"
http = {{ port = 8080, path = "/cgi-bin/slow" }}
timeout = "1s"

[[probe]]
name = "patient"
http = {{ port = 8080, path = "/cgi-bin/slow" }}
body_contains = "slow answer"
timeout = "15s"
"#,
        image("web-slow")
    );
    let (r, report) = run_spec("slow", &text, &[]);
    assert_eq!(r.code, 1, "{}", r.explain());
    for name in ["linux/amd64", "linux/arm64"] {
        let p = platform(&report, name);
        // web-slow sleeps 3 s before it starts listening.
        assert!(
            p["service"]["ready_secs"].as_f64().expect("ready") >= 3.0,
            "{p:#}"
        );
        assert_eq!(status(p, "probe impatient"), "timed_out", "{name}");
        assert_eq!(status(p, "probe patient"), "passed", "{name}");
    }
}

#[test]
fn sigint_while_a_service_runs_leaves_nothing_behind() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[service]
[service.ready]
tcp = 8080

[[probe]]
name = "very slow"
http = {{ port = 8080, path = "/cgi-bin/slow" }}
timeout = "60s"
"#,
        image("web")
    );
    let s = spec("sigint", &text);
    let json = s.dir.path().join("r.json");
    let mut child = common::archsmoke()
        .args(["run", s.path(), "--json", json.to_str().expect("p")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("archsmoke starts");
    // The run id from the first line, then the rest of stderr kept for the report.
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).expect("first line");
    let id = first
        .split("[run ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("no run id in {first}"))
        .to_owned();
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).expect("stderr");
        text
    });
    // Wait until a probe is in flight: its relay container exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("docker")
            .args(["ps", "-q", "--filter", &format!("label=archsmoke.run={id}")])
            .args(["--filter", "label=archsmoke.test=probe relay"])
            .output()
            .expect("docker ps");
        if !out.stdout.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no probe relay ever started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("archsmoke exits");
    let r = common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: first + &rest.join().expect("stderr thread"),
    };
    assert_eq!(r.code, 3, "{}", r.explain());
    assert_nothing_left(&r);
    assert_eq!(json_report(&json)["interrupted"], true);
}
