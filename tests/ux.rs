//! End-to-end: the emulation policy, `--skip-unavailable`, GitHub Actions output, the example
//! spec of the emulation features, and the live view on a real terminal (tmux), on the real
//! engine, the test registry and QEMU that `tests/testbed/up.sh` provisions.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Two platforms: amd64 runs natively on the test bed's engine, arm64 under qemu-aarch64.
fn two_platform_spec(settings: &str) -> SpecFile {
    spec(
        "policy",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[settings]
{settings}

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"

[test.per_platform."linux/arm64"]
stdout = "aarch64\n"
"#,
            image("multi")
        ),
    )
}

/// The JUnit suite of a platform: its `skipped` count and whether a test case holds `<skipped>`.
fn junit_skips(path: &std::path::Path, suite: &str) -> (String, bool) {
    let text = std::fs::read_to_string(path).expect("JUnit report written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed JUnit");
    let node = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some(suite))
        .unwrap_or_else(|| panic!("no testsuite {suite} in:\n{text}"));
    let skipped = node.attribute("skipped").unwrap_or("").to_owned();
    let has = node.descendants().any(|n| {
        n.has_tag_name("skipped") && n.parent().is_some_and(|p| p.has_tag_name("testcase"))
    });
    (skipped, has)
}

#[test]
fn forbid_fails_the_emulated_platform_and_names_a_native_engine() {
    let s = two_platform_spec(r#"emulation = "forbid""#);
    // Piped stderr (as in CI) and colour not disabled by NO_COLOR: still no control codes.
    let out = archsmoke()
        .env_remove("NO_COLOR")
        .args(["run", s.path()])
        .output()
        .expect("archsmoke starts");
    let r = Run::from(out);
    assert_eq!(r.code, 3, "could not be checked: {}", r.explain());
    assert!(r.row("linux/amd64").ends_with("ok"), "{}", r.explain());
    assert!(r.row("linux/arm64").ends_with("ERROR"), "{}", r.explain());
    assert!(
        r.stdout.contains(
            "linux/arm64 would run emulated by qemu-aarch64 on this linux/amd64 engine, and the \
             emulation policy forbids emulation"
        ),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout
            .contains("native arm64 machine (--host tcp://HOST:PORT"),
        "{}",
        r.explain()
    );
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stdout.contains('\u{1b}'),
        "no control codes off a terminal: {}",
        r.explain()
    );
    assert!(
        // Its test and the ELF audit: the count the matrix shows.
        r.stderr.contains("[linux/amd64] done: 2 passed, 0 failed"),
        "one plain line per event: {}",
        r.explain()
    );
}

#[test]
fn only_on_the_command_line_wins_and_reports_native_as_skipped_everywhere() {
    let s = two_platform_spec(r#"emulation = "forbid""#);
    let junit = s.dir.path().join("report.xml");
    let report = s.dir.path().join("report.json");
    let r = run(&[
        "run",
        s.path(),
        "--emulation",
        "only",
        "--junit",
        junit.to_str().expect("path"),
        "--json",
        report.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 0, "a skip does not fail the run: {}", r.explain());
    assert!(r.row("linux/amd64").ends_with("skipped"), "{}", r.explain());
    assert!(r.row("linux/arm64").ends_with("ok"), "{}", r.explain());
    assert!(
        r.stdout
            .contains("not tested:\n  linux/amd64 not tested: linux/amd64 runs natively"),
        "{}",
        r.explain()
    );
    assert!(
        r.stdout
            .contains("PASSED: 1/1 platforms passed (1 not tested)"),
        "{}",
        r.explain()
    );

    let doc = json_report(&report);
    assert_eq!(doc["exit_code"], 0);
    let amd = platform(&doc, "linux/amd64");
    assert_eq!(amd["result"], "skipped");
    assert_eq!(amd["problem"]["kind"], "not_tested");
    assert_eq!(amd["tests"][0]["status"], "skipped");
    assert_eq!(
        platform(&doc, "linux/arm64")["tests"][0]["status"],
        "passed"
    );
    assert_eq!(doc["totals"]["platforms"]["skipped"], 1);

    let xsd = common::junit_xsd();
    let lint = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&junit)
        .output()
        .expect("xmllint runs (tests/testbed/up.sh installs libxml2-utils)");
    assert!(
        lint.status.success(),
        "the JUnit with skipped platforms validates against {}: {}",
        xsd.display(),
        String::from_utf8_lossy(&lint.stderr)
    );
    let (count, element) = junit_skips(&junit, "linux/amd64");
    assert!(element, "a <skipped> test case for linux/amd64");
    assert_eq!(count, "2", "the platform case and its one test are skipped");
    assert_eq!(junit_skips(&junit, "linux/arm64").0, "0");
}

/// Pushes an index whose second entry claims linux/mips64le, an architecture the test bed
/// registers no emulator for. The entry reuses the amd64 manifest: the platform is stopped by
/// the plan before any of its content is read.
fn push_no_emulator_index() -> String {
    let multi = image("multi");
    let registry = registry();
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testbed_dir().join("fixtures.json"))
            .expect("fixtures.json (run `sudo tests/testbed/up.sh`)"),
    )
    .expect("fixtures.json parses");
    let digest = fixtures["tags"]["multi"]["platforms"]["linux/amd64"]
        .as_str()
        .expect("the amd64 digest of multi")
        .to_owned();
    let manifest_url = format!("http://{registry}/v2/{REPO}/manifests/{digest}");
    let got = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            "-D",
            "/dev/stderr",
            &manifest_url,
        ])
        .output()
        .expect("curl runs");
    assert!(got.status.success(), "cannot read {manifest_url}: {got:?}");
    let headers = String::from_utf8_lossy(&got.stderr).to_lowercase();
    let media_type = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-type:"))
        .map(|v| v.trim().to_owned())
        .expect("a content type");
    let entry = |arch: &str| {
        serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": got.stdout.len(),
            "platform": {"os": "linux", "architecture": arch}
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("amd64"), entry("mips64le")]
    });
    let tag = "ux-no-emulator";
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

#[test]
fn a_missing_emulator_fails_with_the_fix_unless_skip_unavailable() {
    let reference = push_no_emulator_index();
    // The fixture's mips64le entry holds amd64 binaries (no mips64le busybox is at hand): the
    // audit, on by default, would rightly fail it; this test is about the emulator.
    let s = spec(
        "no-emulator",
        r#"
[audit]
elf = "off"

[[test]]
name = "shell"
command = ["true"]
"#,
    );
    let failed = run(&["run", s.path(), "--image", &reference]);
    assert_eq!(failed.code, 3, "{}", failed.explain());
    assert!(
        failed.row("linux/mips64le").ends_with("ERROR"),
        "{}",
        failed.explain()
    );
    assert!(
        failed
            .stdout
            .contains("cannot run linux/mips64le on this engine"),
        "{}",
        failed.explain()
    );
    let hint = failed
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("= hint:"))
        .unwrap_or_else(|| panic!("a hint with the fix: {}", failed.explain()))
        .to_owned();

    let report = s.dir.path().join("skip.json");
    let skipped = run(&[
        "run",
        s.path(),
        "--image",
        &reference,
        "--skip-unavailable",
        "--json",
        report.to_str().expect("path"),
    ]);
    assert_eq!(skipped.code, 0, "{}", skipped.explain());
    assert!(
        skipped.row("linux/mips64le").ends_with("skipped"),
        "{}",
        skipped.explain()
    );
    assert!(
        skipped.row("linux/amd64").ends_with("ok"),
        "{}",
        skipped.explain()
    );
    assert!(
        skipped.stdout.contains(
            "linux/mips64le skipped (--skip-unavailable): cannot run linux/mips64le on this engine"
        ),
        "{}",
        skipped.explain()
    );
    assert!(
        skipped.stdout.contains(&hint),
        "the skip keeps the same fix ({hint}): {}",
        skipped.explain()
    );
    let doc = json_report(&report);
    let mips = platform(&doc, "linux/mips64le");
    assert_eq!(mips["result"], "skipped");
    assert_eq!(mips["tests"][0]["status"], "skipped");
}

#[test]
fn github_actions_gets_a_job_summary_and_escaped_annotations() {
    let s = spec(
        "gha",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
"#,
            image("multi")
        ),
    );
    let summary = s.dir.path().join("step-summary.md");
    std::fs::write(&summary, "## an earlier step\n").expect("seed the summary");
    let r = Run::from(
        archsmoke()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["run", s.path()])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    let annotations: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
        .collect();
    assert_eq!(annotations.len(), 1, "{}", r.explain());
    // On the test's line of the spec, so the pull request shows it there.
    assert_eq!(
        annotations[0],
        format!(
            "::error file={},line=6,title=archsmoke%3A machine failed on linux/arm64::command: \
             [\"uname\", \"-m\"]%0Astdout: expected \"x86_64\\n\", got \"aarch64\\n\"",
            s.path()
        ),
    );
    let md = std::fs::read_to_string(&summary).expect("summary written");
    assert!(
        md.starts_with("## an earlier step\n### archsmoke `"),
        "appended:\n{md}"
    );
    assert!(md.contains("❌ failed"), "{md}");
    let arm = md
        .lines()
        .find(|l| l.starts_with("| `linux/arm64`"))
        .unwrap_or_else(|| panic!("an arm64 row:\n{md}"));
    assert!(
        arm.contains("qemu-aarch64") && arm.ends_with("| ❌ FAIL |"),
        "{arm}"
    );
    assert!(md.contains("- `linux/arm64` › **machine** failed"), "{md}");
    // Under the matrix, the Mermaid time chart: native and emulated are two series.
    let chart = md
        .split("```mermaid\n")
        .nth(1)
        .and_then(|c| c.split("```").next())
        .unwrap_or_else(|| panic!("a Mermaid chart:\n{md}"));
    assert!(
        chart.contains("x-axis [\"linux/amd64 (native)\", \"linux/arm64 (emulated)\"]"),
        "{chart}"
    );
    let series: Vec<&str> = chart
        .lines()
        .filter(|l| l.trim_start().starts_with("bar ["))
        .collect();
    assert_eq!(series.len(), 2, "{chart}");
    assert!(
        series[0].ends_with(", 0]") && series[1].starts_with("    bar [0, "),
        "{chart}"
    );
    assert!(md.find("| `linux/arm64`") < md.find("```mermaid"), "{md}");

    // Outside GitHub Actions: neither.
    let plain = Run::from(
        archsmoke()
            .env_remove("GITHUB_ACTIONS")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["run", s.path()])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(plain.code, 1);
    assert!(!plain.stdout.contains("::error"), "{}", plain.explain());
    assert_eq!(
        std::fs::read_to_string(&summary).expect("summary"),
        md,
        "the summary is only written inside GitHub Actions"
    );
}

#[test]
fn the_emulation_example_spec_passes_on_the_demo_image() {
    require_testbed();
    let path = repo_root().join("smoke-tests/emulation.toml");
    let r = run(&[
        "run",
        path.to_str().expect("path"),
        "--image",
        &image("multi"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    for p in [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
        "linux/386",
    ] {
        let row = r.row(p);
        assert!(row.ends_with("ok"), "{row}");
        assert!(row.contains('×'), "a slowdown against native: {row}");
    }
    // Four container tests and the default ELF audit on each of the six platforms.
    assert!(r.stdout.contains("30/30 tests passed"), "{}", r.explain());
}

/// A tmux server of its own (never the user's), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        // One server per test: tests of this binary run side by side in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = format!("archsmoke-ux-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "150",
                "-y",
                "50",
                command,
            ])
            .status()
            .unwrap_or_else(|e| {
                panic!("tmux does not start ({e}): run `sudo tests/testbed/up.sh`")
            });
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    /// The pane's text; with `escapes`, colours as SGR sequences too.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["-L", &self.socket, "capture-pane", "-p", "-S", "-200"];
        if escapes {
            args.push("-e");
        }
        let out = Command::new("tmux")
            .args(&args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, marker: &str) -> String {
        let start = Instant::now();
        loop {
            let pane = self.capture(false);
            if pane.contains(marker) {
                return pane;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "no `{marker}` on the terminal after 180s:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn on_a_terminal(no_color: bool) -> (String, String) {
    on_a_terminal_with(no_color, &two_platform_spec(""))
}

fn on_a_terminal_with(no_color: bool, s: &SpecFile) -> (String, String) {
    let command = format!(
        "env -u RUST_LOG {} TERM=xterm-256color {} run {}; echo EXIT=$?; sleep 600",
        if no_color {
            "NO_COLOR=1"
        } else {
            "-u NO_COLOR"
        },
        env!("CARGO_BIN_EXE_archsmoke"),
        s.path()
    );
    let tmux = Tmux::start(&command);
    let pane = tmux.wait_for("EXIT=");
    (pane, tmux.capture(true))
}

#[test]
fn the_live_view_on_a_real_terminal_ends_with_the_matrix() {
    let (pane, coloured) = on_a_terminal(false);
    assert!(pane.contains("EXIT=0"), "{pane}");
    let lines: Vec<&str> = pane.lines().collect();
    let live = |p: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("  {p} ")) && l.contains("done   2/2 passed"))
            .unwrap_or_else(|| panic!("a finished live line for {p}:\n{pane}"))
    };
    let header = lines
        .iter()
        .position(|l| l.starts_with("PLATFORM") && l.contains("SLOW"))
        .unwrap_or_else(|| panic!("the matrix:\n{pane}"));
    assert!(
        live("linux/amd64") < header && live("linux/arm64") < header,
        "{pane}"
    );
    assert!(pane.contains("qemu-aarch64"), "{pane}");
    assert!(pane.contains("PASSED: 2/2 platforms passed"), "{pane}");
    assert!(
        !pane.contains("[linux/amd64] native"),
        "no plain event lines on a terminal:\n{pane}"
    );
    assert!(
        coloured.contains("\u{1b}[32m"),
        "green on a terminal:\n{coloured:?}"
    );

    let (pane, coloured) = on_a_terminal(true);
    assert!(
        pane.contains("EXIT=0") && pane.contains("PLATFORM"),
        "{pane}"
    );
    assert!(
        !coloured.contains("\u{1b}[32m") && !coloured.contains("\u{1b}[31m"),
        "NO_COLOR: no colour:\n{coloured:?}"
    );
}

#[test]
fn the_live_view_never_shows_a_secret() {
    const TOKEN: &str = "live-view-secret-4d1c";
    let s = spec(
        "secret",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "leaks"
secret_env = {{ TOKEN = "{TOKEN}" }}
command = ["sh", "-c", "echo token=$TOKEN; exit 3"]
stdout = "something else"
"#,
            image("multi")
        ),
    );
    let (pane, _) = on_a_terminal_with(true, &s);
    assert!(pane.contains("EXIT=1"), "{pane}");
    // The failure details after the live lines quote the output, masked.
    assert!(pane.contains("[REDACTED]"), "{pane}");
    assert!(
        !pane.contains(TOKEN),
        "the secret is on the terminal:\n{pane}"
    );
}
