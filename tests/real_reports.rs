//! End to end on the real images of the test bed (`archsmoke/real`): `inspect` shows an image's
//! size (config and layers, as the registry stores them), not its manifest's few hundred bytes;
//! `audit --json` says how long resolving and auditing took.

mod common;

use std::process::Command;

use serde_json::Value;

use common::{REAL, real, run};

/// A manifest of the test registry, read with curl rather than archsmoke.
fn manifest(digest: &str) -> Value {
    let url = format!("http://{}/v2/{REAL}/manifests/{digest}", common::registry());
    let out = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "5",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &url,
        ])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{url}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("a JSON manifest")
}

/// On main, SIZE (and the JSON) showed the manifest's size: 406 for a 33 MB image.
#[test]
fn inspect_shows_the_images_size_not_the_manifests() {
    let image = real("python");
    let r = run(&["inspect", &image, "--json"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let table = run(&["inspect", &image]);
    assert_eq!(table.code, 0, "{}", table.explain());
    let mut seen = 0;
    for entry in report["entries"].as_array().expect("entries") {
        if entry["kind"] != "image" {
            continue;
        }
        let m = manifest(entry["digest"].as_str().expect("digest"));
        let layers: u64 = m["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["size"].as_u64().expect("size"))
            .sum();
        let expected = m["config"]["size"].as_u64().expect("config size") + layers;
        assert!(expected > 1_000_000, "{m:#}");
        assert_eq!(entry["image_size"].as_u64(), Some(expected), "{entry:#}");
        let platform = entry["platform"].as_str().expect("platform");
        let shown = format!("{:.1} MB", expected as f64 / 1e6);
        assert!(
            table.row(platform).contains(&shown),
            "{platform}: no {shown} in\n{}",
            table.stdout
        );
        seen += 1;
    }
    assert_eq!(seen, 2, "{report:#}");
}

/// On main, `audit --json` had every phase null.
#[test]
fn audit_json_says_how_long_resolving_and_auditing_took() {
    let r = run(&["audit", &real("nginx"), "--json"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let phases = &report["phases"];
    for phase in ["resolve_secs", "audit_secs"] {
        assert!(phases[phase].as_f64().is_some(), "{phase}: {phases:#}");
    }
    assert!(phases["audit_secs"].as_f64() > Some(0.0), "{phases:#}");
}

/// An attribute of the `<testsuite>` start tag named `suite` in a JUnit document.
fn suite_attribute(xml: &str, suite: &str, attribute: &str) -> String {
    let tag = xml
        .split("<testsuite ")
        .skip(1)
        .map(|t| &t[..t.find('>').expect("a start tag")])
        .find(|t| t.contains(&format!("name=\"{suite}\"")))
        .unwrap_or_else(|| panic!("no suite {suite} in\n{xml}"));
    let key = format!(" {attribute}=\"");
    let start = format!(" {tag}").find(&key).expect("the attribute") + key.len() - 1;
    tag[start..].split('"').next().expect("a value").to_owned()
}

/// A run of the real nginx image with a test and two image checks: its JUnit text and JSON report.
fn nginx_run() -> (String, Value) {
    let spec = common::spec(
        "nginx",
        &format!(
            "image = \"{}\"\n\n[[test]]\nname = \"version\"\ncommand = [\"nginx\", \"-v\"]\n\n\
             [metadata]\ncmd = [\"nginx\", \"-g\", \"daemon off;\"]\n\n[audit]\nelf = \"error\"\n",
            real("nginx")
        ),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let r = run(&[
        "run",
        spec.path(),
        "--junit",
        junit.to_str().expect("utf-8"),
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    (xml, common::json_report(&json))
}

/// On main, a suite's `time` was the sum of its test cases, each image check charged the whole
/// audit: more than the platform took, and nothing like the matrix's TIME.
#[test]
fn a_junit_suite_takes_its_platforms_wall_time() {
    let (xml, report) = nginx_run();
    for p in ["linux/amd64", "linux/arm64"] {
        let wall = common::platform(&report, p)["duration_secs"]
            .as_f64()
            .expect("duration");
        let time: f64 = suite_attribute(&xml, p, "time").parse().expect("a number");
        assert!(
            (time - wall).abs() < 0.002,
            "{p}: suite time {time}, platform {wall}\n{xml}"
        );
    }
}

/// On main, `metadata` and `audit elf` each carried the whole audit's time (layers read once for
/// both), so together they claimed twice what the audit took.
#[test]
fn image_checks_share_the_audit_time_rather_than_each_claiming_it() {
    let (_, report) = nginx_run();
    for p in ["linux/amd64", "linux/arm64"] {
        let platform = common::platform(&report, p);
        let wall = platform["duration_secs"].as_f64().expect("duration");
        let tests = platform["tests"].as_array().expect("tests");
        let time = |name: &str| {
            tests
                .iter()
                .find(|t| t["name"] == name)
                .and_then(|t| t["duration_secs"].as_f64())
                .unwrap_or_else(|| panic!("{p}: no {name} in {platform:#}"))
        };
        let (metadata, elf) = (time("metadata"), time("audit elf"));
        assert!(
            metadata + elf <= wall + 0.002,
            "{p}: metadata {metadata} s + audit elf {elf} s > the platform's {wall} s"
        );
    }
}

/// A run of the real python image on amd64 (native) and arm64 (QEMU) with two tests that fail
/// only under emulation: `machine` holds both platforms to one expectation; `cpu` holds arm64
/// to its own (`/proc/cpuinfo` names an Arm CPU on arm64 hardware, while QEMU user emulation
/// shows the host's). Returns the JSON report, the JUnit text and the HTML page.
fn emulation_only_run() -> (Value, String, String) {
    let spec = common::spec(
        "emulation-only",
        &format!(
            r#"image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[[test]]
name = "machine"
command = ["python3", "-c", "import platform; print(platform.machine())"]
stdout = "x86_64\n"

[[test]]
name = "cpu"
command = ["python3", "-c", "print(open('/proc/cpuinfo').read())"]
stdout_contains = "processor"
[test.per_platform."linux/arm64"]
stdout_contains = "CPU implementer"

[audit]
elf = "error"
"#,
            real("python")
        ),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (json, junit, html) = (
        dir.path().join("report.json"),
        dir.path().join("junit.xml"),
        dir.path().join("report.html"),
    );
    let r = run(&[
        "run",
        spec.path(),
        "--json",
        json.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
        "--html",
        html.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains(
            "failed only under emulation (passed natively): machine on linux/arm64, cpu on \
             linux/arm64 (against its per-platform expectation)"
        ),
        "{}",
        r.explain()
    );
    (
        common::json_report(&json),
        std::fs::read_to_string(&junit).expect("JUnit written"),
        std::fs::read_to_string(&html).expect("HTML written"),
    )
}

/// Issue 24: "failed only under emulation" appeared on the terminal only, and left out a test
/// with a per-platform override. JSON, JUnit and HTML now say it too, for both tests.
#[test]
fn failed_only_under_emulation_is_in_json_junit_and_html_with_overrides() {
    let (report, xml, html) = emulation_only_run();
    let only = report["failed_only_under_emulation"]
        .as_array()
        .unwrap_or_else(|| panic!("no failed_only_under_emulation in {report:#}"));
    let entry = |test: &str| {
        only.iter()
            .find(|e| e["test"] == test)
            .unwrap_or_else(|| panic!("no {test} in {only:#?}"))
    };
    for (test, own) in [("machine", false), ("cpu", true)] {
        let e = entry(test);
        assert_eq!(e["platform"], "linux/arm64", "{e:#}");
        assert_eq!(e["status"], "failed", "{e:#}");
        assert_eq!(e["passed_natively_on"], serde_json::json!(["linux/amd64"]));
        assert_eq!(e["per_platform_expectation"], own, "{e:#}");
    }
    assert_eq!(only.len(), 2, "the audit is never listed: {only:#?}");

    // JUnit: the arm64 failures' messages start with it; the suite lists the tests.
    let arm = suite_text(&xml, "linux/arm64");
    for test in ["machine", "cpu"] {
        let case = arm
            .split("<testcase ")
            .find(|c| c[..c.find('>').expect("a start tag")].contains(&format!("name=\"{test}\"")))
            .unwrap_or_else(|| panic!("no {test} case in\n{arm}"));
        assert!(
            case.contains("message=\"failed only under emulation (passed natively on linux/amd64"),
            "{test}: {case}"
        );
    }
    assert_eq!(
        suite_property(&xml, "linux/arm64", "archsmoke.failed_only_under_emulation"),
        "machine, cpu",
        "{xml}"
    );

    // HTML: a section of its own, and the line on each failure.
    let section = &html[html
        .find("<section id=\"emulation-only\">")
        .unwrap_or_else(|| panic!("no emulation-only section in\n{html}"))..];
    let section = &section[..section.find("</section>").expect("closed")];
    assert!(
        section.contains("machine on linux/arm64: failed only under emulation (passed natively on linux/amd64)")
            && section.contains("cpu on linux/arm64: failed only under emulation (passed natively on linux/amd64, against its per-platform expectation)"),
        "{section}"
    );
}

/// The text of the suite named `suite` in a JUnit document, from its start tag to its end.
fn suite_text<'a>(xml: &'a str, suite: &str) -> &'a str {
    let text = xml
        .split("<testsuite ")
        .skip(1)
        .find(|t| t[..t.find('>').expect("a start tag")].contains(&format!("name=\"{suite}\"")))
        .unwrap_or_else(|| panic!("no suite {suite} in\n{xml}"));
    &text[..text.find("</testsuite>").expect("closed")]
}

/// The value of a `<property>` of the suite named `suite`.
fn suite_property(xml: &str, suite: &str, property: &str) -> String {
    let text = suite_text(xml, suite);
    let key = format!("<property name=\"{property}\" value=\"");
    let at = text
        .find(&key)
        .unwrap_or_else(|| panic!("no property {property} in\n{text}"));
    text[at + key.len()..]
        .split('"')
        .next()
        .expect("a value")
        .to_owned()
}

/// Issue 24: the HTML page counted checks with findings ("1 finding(s)" for an audit with 614);
/// on kitchen-defects at `warn`, arm64's audit finds two wrong-architecture programs.
#[test]
fn the_html_page_counts_findings_not_checks() {
    let spec = common::spec(
        "findings",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/arm64\"]\n\n[audit]\nelf = \"warn\"\n",
            real("kitchen-defects")
        ),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("report.html");
    let r = run(&["run", spec.path(), "--html", html.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let page = std::fs::read_to_string(&html).expect("HTML written");
    assert!(
        page.contains("2 finding(s) among 1 image check(s) on 1 platform(s)"),
        "{}",
        &page[page.find("id=\"audit\"").unwrap_or(0)..]
    );
}

/// Issue 24: with `--jobs 1`, TIME held the wait for a job slot: the platform that ran second
/// showed the first one's tests too (amd64 54 s for ~8 s of tests). Each platform's TIME is now
/// its own work: near its tests' summed time, not the run's.
#[test]
fn time_leaves_out_the_wait_for_a_job_slot() {
    let mut text = format!(
        "image = \"{}\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\n\n[audit]\nelf = \"off\"\n",
        real("python")
    );
    for i in 0..3 {
        text.push_str(&format!(
            "\n[[test]]\nname = \"sleep {i}\"\ncommand = [\"python3\", \"-c\", \"import time; \
             time.sleep(2)\"]\ntimeout = \"60s\"\n"
        ));
    }
    let spec = common::spec("queue", &text);
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let r = run(&[
        "run",
        spec.path(),
        "--jobs",
        "1",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let report = common::json_report(&json);
    for p in ["linux/amd64", "linux/arm64"] {
        let row = common::platform(&report, p);
        let own: f64 = row["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .map(|t| t["duration_secs"].as_f64().expect("duration"))
            .sum();
        let time = row["duration_secs"].as_f64().expect("duration");
        assert!(
            time >= own && time < own * 1.3 + 2.0,
            "{p}: TIME {time:.2} s for {own:.2} s of its own tests (the run took {} s)",
            report["duration_secs"]
        );
    }
}
