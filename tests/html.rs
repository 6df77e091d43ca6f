//! End-to-end: the `--html` report of a real run, opened in headless Chromium.
//!
//! One run on the test bed's six-platform image plus a seventh entry, linux/mips64le, that no
//! emulator runs here (so `--skip-unavailable` skips it): a `same_output` test that fails under
//! emulation with a diff, a CPU-bound loop that is slower under QEMU, and a test whose output is
//! hostile markup. `tests/html/browse.py` renders the page in Chromium with every host name
//! unresolvable, takes a screenshot and dumps the DOM Chromium built, and reports what the page
//! asked the network for; this test checks that against the JSON report of the same run.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// What a hostile test prints: markup, a CDATA end, and colour codes.
const HOSTILE: &str =
    "<script>alert(1)</script><img src=x onerror=alert(2)> ]]> \x1b[31mred\x1b[0m";

/// Pushes the six-platform `multi` index plus a linux/mips64le entry (which reuses the amd64
/// manifest: the plan stops the platform before any of its content is read) as `html-seven`.
fn push_seven_platform_index() -> String {
    let registry = registry();
    let multi = image("multi");
    let index_url = format!("http://{registry}/v2/{REPO}/manifests/multi");
    let got = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json",
            &index_url,
        ])
        .output()
        .expect("curl runs");
    assert!(got.status.success(), "cannot read {index_url}: {got:?}");
    let mut index: serde_json::Value =
        serde_json::from_slice(&got.stdout).expect("the index is JSON");
    let manifests = index["manifests"].as_array_mut().expect("manifests");
    let mut mips = manifests
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .expect("an amd64 entry")
        .clone();
    mips["platform"] = serde_json::json!({"os": "linux", "architecture": "mips64le"});
    manifests.push(mips);
    let tag = "html-seven";
    let put = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            &index.to_string(),
            &format!("http://{registry}/v2/{REPO}/manifests/{tag}"),
        ])
        .output()
        .expect("curl runs");
    assert!(put.status.success(), "cannot push the index: {put:?}");
    multi.replace(":multi", &format!(":{tag}"))
}

/// What `tests/html/browse.py` says Chromium saw.
fn browse(page: &Path, screenshot: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/html/browse.py"))
        .arg(page)
        .arg(screenshot)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "browse.py failed (chromium comes from tests/testbed/up.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("browse.py prints JSON")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_html_report_of_a_real_run_renders_in_chromium_and_loads_nothing() {
    let reference = push_seven_platform_index();
    let s = spec(
        "html",
        &format!(
            r#"
image = "{reference}"

[settings]
timeout = "30s"

[[test]]
name = "machine"
command = ["sh", "-c", "echo start; uname -m; echo end"]
same_output = true

[[test]]
name = "a cpu-bound loop"
command = ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i"]
stdout = "20000\n"

[[test]]
name = "hostile <b>output</b>"
command = ["printf", "{}\n"]
stdout = "calm\n"
platforms = ["linux/amd64"]
"#,
            HOSTILE.replace('\x1b', "\\u001b")
        ),
    );
    let html = s.dir.path().join("report.html");
    let json = s.dir.path().join("report.json");
    let r = run(&[
        "run",
        s.path(),
        "--skip-unavailable",
        "--html",
        html.to_str().expect("path"),
        "--json",
        json.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 1, "tests failed: {}", r.explain());
    let report = json_report(&json);
    let platforms = report["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 7, "{}", r.explain());
    assert_eq!(platform(&report, "linux/mips64le")["result"], "skipped");
    // The emulated slowdown the chart must show: the loop runs under QEMU's interpreter.
    let slowest = [
        "linux/arm64",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
    ]
    .iter()
    .filter_map(|p| platform(&report, p)["slowdown"].as_f64())
    .fold(0.0, f64::max);
    assert!(slowest > 1.0, "an emulated slowdown: {}", r.explain());

    let artifacts = repo_root().join("target/html-e2e");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let screenshot = artifacts.join("html-report.png");
    let page = browse(&html, &screenshot);

    // The screenshot is a real PNG of some size (the README's docs/html-report.png is one).
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{}",
        png.len()
    );
    std::fs::copy(&html, artifacts.join("report.html")).expect("keep the page");

    // The matrix: one row per platform, as the JSON report has them.
    let rows = page["matrix"].as_array().expect("matrix rows");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["platform"].as_str().expect("platform"))
        .collect();
    let expected: Vec<&str> = platforms
        .iter()
        .map(|p| p["platform"].as_str().expect("platform"))
        .collect();
    assert_eq!(names, expected);
    for row in rows {
        let cells = strings(&row["cells"]);
        let p = platform(&report, &cells[0]);
        assert_eq!(cells.len(), 10, "{cells:?}");
        assert_eq!(cells[5], p["counts"]["passed"].to_string(), "{cells:?}");
        let mode = match p["execution"]["mode"].as_str() {
            Some("native") if p["execution"]["compat"] == true => "native (32-bit compat)",
            Some("native") => "native",
            Some("emulated") => "emulated",
            Some("unavailable") => "unavailable",
            other => panic!("mode {other:?}"),
        };
        assert_eq!(cells[3], mode, "{cells:?}");
        if mode == "emulated" {
            assert!(
                cells[4].starts_with("qemu-"),
                "emulator and version: {cells:?}"
            );
        }
    }
    let arm = rows
        .iter()
        .find(|r| r["platform"] == "linux/arm64")
        .expect("arm64 row");
    assert_eq!(strings(&arm["cells"])[9], "FAIL");

    // The chart: one bar per platform; those that ran have segments, native and emulated told
    // apart; the skipped one is an empty, labelled row.
    let bars = page["bars"].as_array().expect("bars");
    assert_eq!(
        bars.len(),
        platforms.len(),
        "one bar per platform: {bars:#?}"
    );
    for bar in bars {
        let name = bar["platform"].as_str().expect("platform");
        let phases = strings(&bar["phases"]);
        match name {
            "linux/mips64le" => {
                assert!(phases.is_empty(), "{bar}");
                assert!(bar["text"].as_str().expect("text").contains("not tested"));
            }
            "linux/amd64" | "linux/386" => {
                assert_eq!(bar["mode"], "native", "{bar}");
                assert!(phases.contains(&"containers".to_owned()), "{bar}");
            }
            _ => {
                assert_eq!(bar["mode"], "emulated", "{bar}");
                assert!(phases.contains(&"containers".to_owned()), "{bar}");
                assert!(
                    bar["text"]
                        .as_str()
                        .expect("text")
                        .contains("emulated · qemu-")
                );
            }
        }
    }

    // The failures: the emulated platforms' diffs against amd64.
    let failures = strings(&page["failures"]);
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("linux/arm64 › machine failed")),
        "{failures:#?}"
    );
    let diffs = page["diffs"].as_array().expect("diffs");
    assert!(!diffs.is_empty(), "a same_output diff");
    let arm_diff = diffs
        .iter()
        .find(|d| d.to_string().contains("+++ linux/arm64"))
        .expect("the arm64 diff");
    let lines: Vec<(String, String)> = arm_diff
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l[0].as_str().unwrap_or("").to_owned(),
                l[1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        lines.contains(&("del".into(), "-x86_64".into()))
            && lines.contains(&("add".into(), "+aarch64".into()))
            && lines.contains(&("ctx".into(), " start".into())),
        "{lines:?}"
    );
    let not_tested = page["not_tested"].as_str().expect("a not-tested section");
    assert!(
        not_tested.contains("linux/mips64le: skipped")
            && not_tested.contains("archsmoke binfmt install mips64le"),
        "the reason and the fix: {not_tested}"
    );
    assert!(
        not_tested.contains("cannot run linux/mips64le on this engine"),
        "{not_tested}"
    );

    // Nothing leaves the page, and the hostile output stayed text.
    assert_eq!(strings(&page["requests"]), Vec::<String>::new());
    assert_eq!(strings(&page["sources"]), Vec::<String>::new());
    assert_eq!(strings(&page["event_handlers"]), Vec::<String>::new());
    let elements = &page["elements"];
    for tag in ["script", "img", "iframe", "object", "embed", "link", "b"] {
        assert!(
            elements.get(tag).is_none(),
            "an injected <{tag}>: {elements}"
        );
    }
    let text = page["text"].as_str().expect("text");
    assert!(
        text.contains(
            r#""<script>alert(1)</script><img src=x onerror=alert(2)> ]]> \u{1b}[31mred"#
        ),
        "the hostile output is shown as text, quoted like the terminal shows it (escapes visible)"
    );
    assert!(text.contains("hostile <b>output</b>"));
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn the_network_check_catches_a_page_that_loads_something() {
    // The control for the test above: the same check on a page that does reach out must fail,
    // or "no request" would prove nothing.
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><link rel=\"stylesheet\" href=\"https://cdn.example.com/a.css\">\
         </head><body><img src=\"http://control.example/x.png\" onerror=\"void 0\"><p>hi</p></body></html>",
    )
    .expect("write the control page");
    let seen = browse(&page, &dir.path().join("control.png"));
    assert_eq!(
        strings(&seen["requests"]),
        [
            "http://control.example/x.png",
            "https://cdn.example.com/a.css"
        ]
    );
    assert_eq!(seen["elements"]["img"], 1);
    assert_eq!(strings(&seen["event_handlers"]), ["img onerror"]);
    assert_eq!(strings(&seen["sources"]).len(), 2);
}

/// The page, read as the well-formed XML it is written as.
fn read_page(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no HTML report at {}: {e}", path.display()));
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(&text, opts)
        .unwrap_or_else(|e| panic!("the page is not well-formed: {e}"));
    text
}

#[test]
fn audit_writes_the_html_report_with_its_findings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("audit.html");
    let r = run(&[
        "audit",
        &image("foreign-binary"),
        "--html",
        html.to_str().expect("path"),
    ]);
    assert_eq!(
        r.code,
        1,
        "amd64 binaries in the arm64 image: {}",
        r.explain()
    );
    let page = read_page(&html);
    assert!(page.contains("id=\"audit\""), "{page}");
    assert!(
        page.contains("linux/arm64</span> › audit elf <span class=\"muted\">failed</span>"),
        "the arm64 finding: {page}"
    );
    assert!(
        page.contains("<th>elf /bin/busybox</th>")
            && page.contains("64-bit little-endian amd64 (x86_64, e_machine 62)"),
        "the file, expected and found architecture: {page}"
    );
    assert!(page.contains("image checks only"), "{page}");
}

#[test]
fn the_html_report_is_written_when_nothing_could_be_tested() {
    let s = spec(
        "unreachable",
        r#"
[[test]]
name = "shell"
command = ["true"]
"#,
    );
    let html = s.dir.path().join("report.html");
    let r = run(&[
        "run",
        s.path(),
        "--image",
        "127.0.0.1:1/nothing/here:latest",
        "--html",
        html.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 3, "{}", r.explain());
    let page = read_page(&html);
    assert!(page.contains("could not be checked"), "{page}");
    assert!(page.contains("Nothing was tested:"), "{page}");
    assert!(page.contains("127.0.0.1:1"), "{page}");
}
