//! End to end: what a new user meets in the first hour (issue 18). Each test pins one rough edge
//! that a newcomer hit, so it cannot come back.

mod common;

use std::process::Command;

use common::*;

/// The most common first error: the engine runs, but the user may not open its socket. The hint
/// must point at the socket's group or root, never at starting an engine that is running.
#[test]
fn permission_denied_on_the_socket_points_at_the_docker_group_not_at_starting_the_engine() {
    let socket = std::path::Path::new("/var/run/docker.sock");
    assert!(socket.exists(), "no engine socket at {}", socket.display());
    // `nobody` is in no group that owns the socket; setpriv is util-linux, on every Debian.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_archsmoke"))
        .arg("doctor")
        .env("NO_COLOR", "1")
        .env("HOME", "/tmp")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("setpriv runs");
    let r = Run::from(out);
    assert_eq!(r.code, 3, "{}", r.explain());
    let all = format!("{}{}", r.stdout, r.stderr).to_lowercase();
    assert!(all.contains("permission denied"), "{}", r.explain());
    assert!(all.contains("`docker`"), "{}", r.explain());
    assert!(!all.contains("start the engine"), "{}", r.explain());
}

const UNAME_SPEC: &str = r#"
[[test]]
name = "machine"
command = ["uname", "-m"]
"#;

/// A typo in the image reference is the user's error: the registry answered, it just has no such
/// repository or tag. Exit 2 (fix the reference), not 3 (CI would retry an outage).
#[test]
fn a_misspelled_image_is_a_usage_error_not_an_outage() {
    let s = spec("typo", UNAME_SPEC);
    for reference in [
        format!("{}/{REPO}:no-such-tag", registry()),
        format!("{}/archsmoke/no-such-repo:multi", registry()),
    ] {
        let r = run(&["run", "--image", &reference, s.path()]);
        assert_eq!(r.code, 2, "{reference}: {}", r.explain());
        assert!(r.stderr.contains("was not found"), "{}", r.explain());
        assert!(r.stderr.contains("spelling"), "{}", r.explain());
    }
}

/// `-q` is for CI logs: no progress lines (run started, audit started), only failures and the
/// verdict.
#[test]
fn quiet_prints_no_progress_lines() {
    let s = spec("quiet", UNAME_SPEC);
    let r = run(&["run", "-q", "--image", &image("multi"), s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(!r.stderr.contains("testing "), "{}", r.explain());
    assert!(!r.stderr.contains("auditing"), "{}", r.explain());
    assert!(!r.stderr.contains("[run "), "{}", r.explain());
    assert!(r.stdout.contains("PASSED"), "{}", r.explain());
}

/// A command written as one string is the most common first spec error; env as a list and a bare
/// number for a timeout follow. Each gets a hint with the line rewritten the way it must be.
#[test]
fn a_command_written_as_a_string_gets_the_list_it_should_be() {
    for (line, hint) in [
        (r#"command = "uname -m""#, r#"command = ["uname", "-m"]"#),
        (r#"env = ["A=1"]"#, r#"env = { NAME = "value" }"#),
        ("timeout = 5", r#"timeout = "5s""#),
    ] {
        let text = if line.starts_with("command") {
            format!("[[test]]\nname = \"t\"\n{line}\n")
        } else {
            format!("[[test]]\nname = \"t\"\ncommand = [\"true\"]\n{line}\n")
        };
        let s = spec("typed", &text);
        let r = run(&["run", "--image", &image("multi"), s.path()]);
        assert_eq!(r.code, 2, "{}", r.explain());
        assert!(r.stderr.contains(hint), "{line}: {}", r.explain());
    }
}

/// Hints name only what works for the user: no `ssh://` engine (not supported), no spec file that
/// exists only in archsmoke's own repository.
#[test]
fn hints_suggest_only_what_works_outside_this_repository() {
    let s = spec(
        "forbid",
        "[settings]\nemulation = \"forbid\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n",
    );
    let r = run(&["run", "--image", &image("multi"), s.path()]);
    assert!(!r.stdout.contains("ssh://"), "{}", r.explain());
    assert!(r.stdout.contains("--emulation allow"), "{}", r.explain());
    let r = run(&["run", "/nonexistent/spec.toml"]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(!r.stderr.contains("smoke-tests/"), "{}", r.explain());
    assert!(r.stderr.contains("archsmoke init"), "{}", r.explain());
}

/// Image checks (metadata, files, audit) have no deadline: JUnit shows no `duration … (timeout
/// 0s)` for them and JSON has `timeout_secs: null`; JUnit times have exactly three decimals.
#[test]
fn metadata_failures_carry_no_meaningless_timeout_and_times_are_fixed_precision() {
    let s = spec(
        "meta",
        r#"
platforms = ["linux/amd64"]
[metadata]
cmd = ["no-such-cmd"]
[[test]]
name = "machine"
command = ["uname", "-m"]
"#,
    );
    let dir = tempfile::tempdir().expect("as set up above");
    let junit = dir.path().join("j.xml");
    let json = dir.path().join("r.json");
    let r = run(&[
        "run",
        "--image",
        &image("multi"),
        "--junit",
        junit.to_str().expect("as set up above"),
        "--json",
        json.to_str().expect("as set up above"),
        s.path(),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    let xml = std::fs::read_to_string(&junit).expect("as set up above");
    assert!(!xml.contains("timeout 0s"), "{xml}");
    for time in xml.split("time=\"").skip(1) {
        let value = time.split('"').next().expect("as set up above");
        let decimals = value.split('.').nth(1).unwrap_or("");
        assert_eq!(decimals.len(), 3, "time={value} in {xml}");
    }
    let report = json_report(&json);
    let tests = platform(&report, "linux/amd64")["tests"]
        .as_array()
        .expect("as set up above")
        .clone();
    let meta = tests
        .iter()
        .find(|t| t["name"].as_str().unwrap_or("").contains("metadata"))
        .unwrap_or_else(|| panic!("no metadata test in {tests:?}"));
    assert!(meta["timeout_secs"].is_null(), "{meta}");
    let machine = tests
        .iter()
        .find(|t| t["name"] == "machine")
        .expect("as set up above");
    assert!(
        machine["timeout_secs"].as_f64().expect("as set up above") > 0.0,
        "{machine}"
    );
}

/// `archsmoke init` writes a starter spec from the image alone, and that spec runs green on the
/// image it came from: the six platforms, a machine check each, the config's metadata, the audit.
#[test]
fn init_writes_a_spec_that_runs_green_on_its_own_image() {
    let dir = tempfile::tempdir().expect("as set up above");
    let path = dir.path().join("smoke.toml");
    let r = run(&[
        "init",
        &image("multi"),
        "-o",
        path.to_str().expect("as set up above"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let text = std::fs::read_to_string(&path).expect("as set up above");
    for platform in [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/ppc64le",
        "linux/s390x",
        "linux/386",
    ] {
        assert!(
            text.contains(&format!("[test.per_platform.\"{platform}\"]")),
            "{platform}:\n{text}"
        );
    }
    assert!(text.contains("[metadata]\ncmd = [\"sh\"]"), "{text}");
    assert!(text.contains("[audit]\nelf = \"error\""), "{text}");
    assert!(
        text.contains("# command = [\"sh\", \"--version\"]"),
        "{text}"
    );
    // Never overwrite a spec someone already edited.
    let again = run(&[
        "init",
        &image("multi"),
        "-o",
        path.to_str().expect("as set up above"),
    ]);
    assert_eq!(again.code, 2, "{}", again.explain());
    let r = run(&["run", path.to_str().expect("as set up above")]);
    assert_eq!(r.code, 0, "{}\n{text}", r.explain());
    assert!(
        r.stdout.contains("PASSED: 6/6 platforms"),
        "{}",
        r.explain()
    );
}

/// The final matrix fits 80 columns when stdout is not a terminal (elided digests, short headers);
/// full digests stay in the JSON report.
fn assert_matrix_fits(r: &Run, columns: usize) {
    let rows: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("PLATFORM") || l.starts_with("linux/"))
        .collect();
    assert!(rows.len() > 1, "no matrix in {}", r.explain());
    for row in rows {
        assert!(
            row.chars().count() <= columns,
            "{} > {columns}: {row}",
            row.chars().count()
        );
    }
}

#[test]
fn the_six_platform_matrix_fits_80_columns() {
    let s = spec("wide", UNAME_SPEC);
    let r = Run::from(
        archsmoke()
            .args(["run", "--image", &image("multi"), s.path()])
            .env_remove("COLUMNS")
            .output()
            .expect("as set up above"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_matrix_fits(&r, 80);
    let narrow = Run::from(
        archsmoke()
            .args(["run", "--image", &image("multi"), s.path()])
            .env("COLUMNS", "70")
            .output()
            .expect("as set up above"),
    );
    assert_matrix_fits(&narrow, 70);
}

/// The newcomer's walk-through: a clean clone, `cargo install` as the README says, `archsmoke
/// init` on the six-platform image, run the generated spec: exit 0, a matrix within 80 columns.
/// (`--debug` and a target directory kept under this checkout's `target/` so CI does not build
/// the release profile's dependencies a second time; the commands are otherwise the README's.)
#[test]
fn a_newcomer_installs_from_a_clean_clone_inits_and_runs_green() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("as set up above");
    assert!(
        readme.contains("cargo install --locked --path ."),
        "README install line changed"
    );
    let tmp = tempfile::tempdir().expect("as set up above");
    let clone = tmp.path().join("archsmoke");
    let ok = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo_root())
        .arg(&clone)
        .status()
        .expect("as set up above");
    assert!(ok.success(), "git clone");
    let root = tmp.path().join("root");
    let out = Command::new("cargo")
        .args(["install", "--locked", "--offline", "--debug", "--path", "."])
        .arg("--root")
        .arg(&root)
        .current_dir(&clone)
        .env(
            "CARGO_TARGET_DIR",
            repo_root().join("target").join("walkthrough"),
        )
        .output()
        .expect("as set up above");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.join("bin").join("archsmoke");
    let spec = tmp.path().join("smoke.toml");
    let r = Run::from(
        Command::new(&bin)
            .args(["init", &image("multi"), "-o"])
            .arg(&spec)
            .env("NO_COLOR", "1")
            .output()
            .expect("as set up above"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let r = Run::from(
        Command::new(&bin)
            .arg("run")
            .arg(&spec)
            .env("NO_COLOR", "1")
            .env_remove("COLUMNS")
            .output()
            .expect("as set up above"),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_matrix_fits(&r, 80);
}

/// A per-platform expectation that fails on s390x did fail only under emulation (issue 24: the
/// list used to leave such tests out), but the override may be what is wrong: the list says the
/// test was held to its per-platform expectation. The same expectation failing only emulated
/// carries no such mark.
#[test]
fn a_failing_per_platform_override_is_listed_with_its_expectation_named() {
    let s = spec(
        "override",
        r#"
platforms = ["linux/amd64", "linux/s390x"]
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/s390x"]
stdout = "not-s390x\n"
"#,
    );
    let r = run(&["run", "--image", &image("multi"), s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains(
            "failed only under emulation (passed natively): machine on linux/s390x (against its \
             per-platform expectation)"
        ),
        "{}",
        r.explain()
    );
    // Same expectation everywhere: amd64 passes natively, s390x fails emulated.
    let s = spec(
        "same",
        r#"
platforms = ["linux/amd64", "linux/s390x"]
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout_matches = "^x86_64$"
"#,
    );
    let r = run(&["run", "--image", &image("multi"), s.path()]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout
            .contains("failed only under emulation (passed natively): machine on linux/s390x"),
        "{}",
        r.explain()
    );
}

const COUNTED_SPEC: &str = r#"
platforms = ["linux/amd64", "linux/arm64", "linux/s390x"]

[[test]]
name = "machine"
command = ["uname", "-m"]

[[test]]
name = "shell"
command = ["sh", "-c", "echo hi"]
stdout = "hi\n"

[[file]]
path = "/bin/busybox"
"#;

/// One count, everywhere: the image checks (a `[[file]]` and the default ELF audit) count in the
/// plan line and the per-platform lines as in the matrix; a platform that never ran (missing
/// from the index, or a mislabelled image found out before its containers) lists its tests as
/// not run instead of reporting `1/1 passed`; a row's PASS and FAIL add up to its tests; and the
/// verdict, JSON, JUnit and the GitHub summary agree. A failed test's annotation points at its
/// spec line.
#[test]
fn every_count_agrees_from_the_live_lines_to_json_junit_and_github() {
    let s = spec("counted", COUNTED_SPEC);
    for (tag, platforms, want) in [
        // (planned, passed, not run) over the platforms asked for.
        (
            "no-arm64",
            "linux/amd64,linux/arm64,linux/s390x",
            (10, 8, 2),
        ),
        // Its arm64 entry's busybox is amd64: the default (`error`) ELF audit fails it too.
        ("mislabelled", "linux/amd64,linux/arm64", (8, 5, 2)),
    ] {
        let (planned, passed, not_run) = want;
        let out_dir = tempfile::tempdir().expect("temp dir");
        let json = out_dir.path().join("r.json");
        let junit = out_dir.path().join("r.xml");
        let summary = out_dir.path().join("summary.md");
        let out = archsmoke()
            .args(["run", "--image", &image(tag), "--platform", platforms])
            .arg("--json")
            .arg(&json)
            .arg("--junit")
            .arg(&junit)
            .arg(s.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .expect("archsmoke starts");
        let r = Run::from(out);
        assert_eq!(r.code, 1, "{tag}: {}", r.explain());
        assert!(
            r.stderr.contains(&format!("{planned} test run(s)")),
            "{tag}: the plan line counts image checks too: {}",
            r.explain()
        );
        assert!(
            r.stderr.contains("[linux/amd64] done: 4 passed, 0 failed"),
            "{tag}: the platform line counts what the matrix counts: {}",
            r.explain()
        );
        let total = planned;
        assert!(
            r.stdout.contains(&format!("{passed}/{total} tests passed")),
            "{tag}: {}",
            r.explain()
        );
        // Each row: PASS + FAIL = the platform's tests; the broken one is 0 or 2 passed, 2 not.
        for line in r.stdout.lines().filter(|l| l.starts_with("linux/")) {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let n = |i: usize| cells[cells.len() - i].parse::<usize>().expect("a count");
            let (pass, fail) = (n(5), n(4));
            if line.starts_with("linux/arm64") {
                assert!(line.ends_with("ERROR"), "{tag}: {line}");
                let audit_failed = usize::from(tag == "mislabelled");
                assert_eq!(fail, not_run + audit_failed, "{tag}: {line}");
            } else {
                assert_eq!((pass, fail), (4, 0), "{tag}: {line}");
            }
        }
        assert!(
            r.stdout.contains("TIME is each platform's wall time")
                && r.stdout
                    .contains("SLOW is its passed tests' time over the same tests' native time,"),
            "{tag}: the matrix says what TIME and SLOW are: {}",
            r.explain()
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
                .expect("valid json");
        let tests = &doc["totals"]["tests"];
        assert_eq!(tests["tests"], planned, "{tag}: {tests}");
        assert_eq!(tests["passed"], passed, "{tag}: {tests}");
        assert_eq!(tests["not_run"], not_run, "{tag}: {tests}");
        let xml = std::fs::read_to_string(&junit).expect("junit written");
        let count = |tag: &str| xml.matches(tag).count();
        let cases = count("<testcase ");
        // JUnit adds one case for the broken platform itself; what passed is the same number.
        assert_eq!(cases, planned + 1, "{tag}: {xml}");
        let junit_passed = cases - count("<failure") - count("<error ") - count("<skipped");
        assert_eq!(junit_passed, passed, "{tag}: {xml}");
        let md = std::fs::read_to_string(&summary).expect("summary written");
        assert!(
            md.contains(&format!("{passed}/{total} tests passed")),
            "{tag}: {md}"
        );
    }
}

/// Under GitHub Actions a failed test's annotation names the spec file and the line of the test,
/// so the pull request shows it beside the test.
#[test]
fn a_failed_test_is_annotated_on_its_spec_line() {
    let s = spec(
        "annotated",
        "platforms = [\"linux/amd64\"]\n\n[[test]]\nname = \"fails\"\ncommand = [\"false\"]\n",
    );
    let out = archsmoke()
        .args(["run", "--image", &image("multi"), s.path()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", s.dir.path().join("summary.md"))
        .output()
        .expect("archsmoke starts");
    let r = Run::from(out);
    assert_eq!(r.code, 1, "{}", r.explain());
    let want = format!("::error file={},line=4,title=archsmoke%3A fails", s.path());
    assert!(r.stdout.contains(&want), "{want}: {}", r.explain());
}

/// The multi image's arm64 child: fixed, since the fixtures are byte-identical on every machine.
const ARM64_CHILD: &str = "sha256:5bc5951802686c868f9c82703bb843f69ec972b1426053a0f28b78915f03a0d4";

/// `audit` and `inspect` take every source `run` takes (a registry, an OCI archive or layout,
/// the engine's own image, which the engine saves for the audit); a spec that only reads the
/// image needs no engine at all, and one with only `[audit]` is a spec.
#[test]
fn every_source_audits_and_inspects_and_image_only_specs_need_no_engine() {
    let oci = std::env::var("ARCHSMOKE_TESTBED_DIR")
        .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".into());
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker runs");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    let pulled = format!("{}/{REPO}@{ARM64_CHILD}", registry());
    require_testbed();
    docker(&["pull", "-q", &pulled]);
    let tag = format!("archsmoke-audit-test:{}", std::process::id());
    docker(&["tag", &pulled, &tag]);
    let daemon = format!("docker-daemon:{tag}");
    let sources = [
        (image("multi"), 6),
        (format!("oci-archive:{oci}/oci/multi.tar"), 6),
        (format!("oci-layout:{oci}/oci/multi-layout:multi"), 6),
        (daemon.clone(), 1),
    ];
    let mut results = Vec::new();
    for (source, platforms) in &sources {
        results.push((
            source,
            *platforms,
            run(&["audit", "--json", source]),
            run(&["inspect", source]),
        ));
    }
    // A [[file]] check on the engine's image reads what the engine saves of it.
    let file_spec = spec(
        "daemon-file",
        "[[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]\nstdout = \"aarch64\\n\"\n\n\
         [[file]]\npath = \"/bin/busybox\"\n",
    );
    let daemon_run = run(&["run", "--image", &daemon, file_spec.path()]);
    docker(&["rmi", &tag]);
    for (source, platforms, audit, inspect) in results {
        assert_eq!(audit.code, 0, "audit {source}: {}", audit.explain());
        let doc: serde_json::Value = serde_json::from_str(&audit.stdout).expect("audit json");
        assert_eq!(
            doc["totals"]["tests"]["passed"],
            platforms,
            "audit {source}: {}",
            audit.explain()
        );
        assert_eq!(inspect.code, 0, "inspect {source}: {}", inspect.explain());
        assert!(
            inspect.stdout.contains("linux/arm64"),
            "inspect {source}: {}",
            inspect.explain()
        );
    }
    assert_eq!(daemon_run.code, 0, "{}", daemon_run.explain());
    assert!(
        daemon_run.stdout.contains("3/3 tests passed"),
        "the file check and the ELF audit ran on the saved image: {}",
        daemon_run.explain()
    );

    // No engine: DOCKER_HOST points nowhere, and a spec that only reads the image passes.
    let image_only = spec(
        "image-only",
        "[[file]]\npath = \"/bin/busybox\"\n\n[metadata]\nentrypoint = []\n",
    );
    let audit_only = spec("audit-only", "[audit]\nelf = \"error\"\n");
    for s in [&image_only, &audit_only] {
        let out = archsmoke()
            .args(["run", "--image", &image("multi"), s.path()])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .expect("archsmoke starts");
        let r = Run::from(out);
        assert_eq!(r.code, 0, "{}", r.explain());
        assert!(r.stdout.contains("engine none"), "{}", r.explain());
        assert!(r.stdout.contains("6/6 platforms passed"), "{}", r.explain());
    }
}

/// `inspect` fits the terminal (digests cut, modes shortened) and keeps full values in JSON.
#[test]
fn inspect_fits_80_columns_and_json_keeps_the_full_digests() {
    let out = archsmoke()
        .args(["inspect", &image("multi")])
        .env("COLUMNS", "80")
        .output()
        .expect("archsmoke starts");
    let r = Run::from(out);
    assert_eq!(r.code, 0, "{}", r.explain());
    for line in r.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(r.stdout.contains("5bc595180268 "), "{}", r.explain());
    let json = run(&["inspect", "--json", &image("multi")]);
    assert!(json.stdout.contains(ARM64_CHILD), "{}", json.explain());
}

/// On a terminal the live view hides the cursor while it redraws and gives it back at the end;
/// a log (no terminal) gets no such escape.
#[test]
fn the_live_view_hides_the_cursor_only_on_a_terminal_and_restores_it() {
    let s = spec("cursor", UNAME_SPEC);
    let typescript = s.dir.path().join("typescript");
    let command = format!(
        "{} run --image {} --platform linux/amd64,linux/arm64 {}",
        env!("CARGO_BIN_EXE_archsmoke"),
        image("multi"),
        s.path()
    );
    // util-linux `script` gives the run a pseudo-terminal and records what it wrote.
    let status = Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script runs");
    assert!(status.success(), "{status:?}");
    let seen = std::fs::read(&typescript).expect("typescript");
    let find = |needle: &[u8]| seen.windows(needle.len()).rposition(|w| w == needle);
    let hidden = find(b"\x1b[?25l").expect("the cursor was hidden");
    let shown = find(b"\x1b[?25h").expect("the cursor came back");
    assert!(
        shown > hidden,
        "the cursor is shown again after it was hidden"
    );
    let logged = run(&[
        "run",
        "--image",
        &image("multi"),
        "--platform",
        "linux/amd64",
        s.path(),
    ]);
    assert_eq!(logged.code, 0, "{}", logged.explain());
    assert!(!logged.stderr.contains("\x1b[?25"), "{}", logged.explain());
}

/// Issue 28: with `--emulation forbid --skip-unavailable`, the skipped platforms' `audit elf`
/// still ran and passed, so their rows read `1 0` and the verdict counted their passes among
/// the tests that passed, although the guide says skipped platforms count nowhere.
#[test]
fn skipped_platforms_count_nowhere_not_even_their_image_checks() {
    let s = spec(
        "skipped",
        r#"
platforms = ["linux/amd64", "linux/arm64", "linux/s390x"]
[[test]]
name = "true"
command = ["true"]
"#,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let r = run(&[
        "run",
        "--image",
        &image("multi"),
        s.path(),
        "--emulation",
        "forbid",
        "--skip-unavailable",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // amd64: its test and its audit; the two skipped platforms nothing.
    assert!(r.stdout.contains("2/2 tests passed"), "{}", r.explain());
    for p in ["linux/arm64", "linux/s390x"] {
        let row = r.row(p);
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(
            !cells.contains(&"1"),
            "{p}: a skipped row counts nothing: {}",
            r.row(p)
        );
    }
    let doc = json_report(&json);
    assert_eq!(doc["totals"]["tests"]["passed"], 2, "{doc:#}");
    for p in ["linux/arm64", "linux/s390x"] {
        let row = platform(&doc, p);
        assert_eq!(row["result"], "skipped", "{row:#}");
        assert!(
            row["tests"]
                .as_array()
                .expect("tests")
                .iter()
                .all(|t| t["status"] == "skipped"),
            "{p}: {row:#}"
        );
    }
}

/// Issue 28: a per-platform override that sets `stdout_contains` leaves the test's own `stdout`
/// in force; when that fails, the failure says the base key still applies there.
#[test]
fn a_base_key_an_override_leaves_in_force_says_so_when_it_fails() {
    let s = spec(
        "base-key",
        r#"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"
[test.per_platform."linux/arm64"]
stdout_contains = "aarch64"
"#,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let r = run(&[
        "run",
        "--image",
        &image("multi"),
        s.path(),
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stdout.contains(
            "= note: `stdout` is the test's own: [test.per_platform.\"linux/arm64\"] sets only \
             `stdout_contains`, and a key it does not set still applies there"
        ),
        "{}",
        r.explain()
    );
    let doc = json_report(&json);
    let arm = platform(&doc, "linux/arm64");
    let test = &arm["tests"][0];
    assert_eq!(test["mismatches"][0]["check"], "stdout", "{test:#}");
    assert!(
        test["mismatches"][0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("still applies")),
        "{test:#}"
    );
    // The native platform's failure-free run has no note, and amd64 passes.
    assert_eq!(
        platform(&doc, "linux/amd64")["tests"][0]["status"],
        "passed"
    );
}
