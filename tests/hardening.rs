//! End to end: what archsmoke must never harm or accept. Report paths that are not regular files
//! are written through, never replaced; container limits; the isolation gate; spec strings that
//! reach outputs; bad input refused with a position.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use common::{image, run, spec};

/// A run that passes quickly without a container: one file check on one platform.
fn quick_spec() -> common::SpecFile {
    spec(
        "quick",
        &format!(
            "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[[file]]\npath = \"/bin/busybox\"\n",
            image("multi")
        ),
    )
}

/// A character device with `/dev/NAME`'s numbers, made in `dir`: the tests never touch the
/// system's own device nodes.
fn device_like(dir: &Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt;
    let real = fs::metadata(format!("/dev/{name}")).expect("stat /dev node");
    let (major, minor) = (libc_major(real.rdev()), libc_minor(real.rdev()));
    let path = dir.join(name);
    let out = Command::new("mknod")
        .arg(&path)
        .args(["c", &major.to_string(), &minor.to_string()])
        .output()
        .expect("mknod runs");
    assert!(out.status.success(), "mknod (needs root): {out:?}");
    path
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn is_char_device(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
}

#[test]
fn report_paths_that_are_not_regular_files_are_written_through_not_replaced() {
    let s = quick_spec();
    let dir = tempfile::tempdir().expect("temp dir");
    let null = device_like(dir.path(), "null");
    let full = device_like(dir.path(), "full");
    // A symlink to a report elsewhere: the link stays, its target gets the report.
    fs::create_dir(dir.path().join("reports")).expect("mkdir");
    let real = dir.path().join("reports/real.json");
    fs::write(&real, "old").expect("seed");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    // What `/dev/stdout` is: a link to the process's fd 1.
    let stdout_link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout_link).expect("symlink");

    let r = run(&[
        "run",
        s.path(),
        "--junit",
        null.to_str().expect("utf-8"),
        "--json",
        link.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(is_char_device(&null), "the device node was replaced");
    assert!(
        fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );
    let written = fs::read_to_string(&real).expect("read target");
    assert!(written.contains("\"run_id\""), "target kept: {written}");

    // A FIFO: a reader gets the report, and the FIFO stays one.
    let fifo = dir.path().join("fifo");
    let out = Command::new("mkfifo").arg(&fifo).output().expect("mkfifo");
    assert!(out.status.success(), "{out:?}");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            fs::File::open(&fifo)
                .and_then(|mut f| f.read_to_string(&mut text))
                .expect("read the FIFO");
            text
        })
    };
    let r = run(&["run", s.path(), "--json", fifo.to_str().expect("utf-8")]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        fs::symlink_metadata(&fifo)
            .expect("stat")
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
    let text = reader.join().expect("reader");
    assert!(text.contains("\"run_id\""), "FIFO got: {text}");

    // Through the stdout link: the report lands on stdout.
    let r = run(&[
        "run",
        s.path(),
        "--json",
        stdout_link.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.stdout.contains("\"run_id\""), "{}", r.explain());

    // A write error (`/dev/full`: ENOSPC) is an infrastructure failure, and the node stays.
    let r = run(&["run", s.path(), "--junit", full.to_str().expect("utf-8")]);
    assert_eq!(r.code, 3, "{}", r.explain());
    assert!(r.stderr.contains("No space left"), "{}", r.explain());
    assert!(is_char_device(&full), "the device node was replaced");
}

#[test]
fn test_containers_have_pids_and_memory_limits_and_a_fork_bomb_stops_at_them() {
    let s = spec(
        "limits",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64"]

[[test]]
name = "defaults"
# cgroup v1 and v2 paths; the engine's defaults would be "max" and no memory limit.
command = ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; true"]
stdout = "1024\n1073741824\n"

[[test]]
name = "fork bomb"
pids_limit = 32
memory = "64MiB"
command = ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; echo all forked"]
stdout_contains = "67108864"
stdout_excludes = "all forked"
stderr_contains = "can't fork"
exit_code = 2
"#,
            image("multi")
        ),
    );
    let r = run(&["run", s.path()]);
    assert_eq!(r.code, 0, "{}", r.explain());
}

#[test]
fn out_of_range_limits_are_spec_errors_with_a_position() {
    for (text, expect) in [
        ("pids_limit = 0", "limits.toml:6:14"),
        ("memory = \"1KiB\"", "limits.toml:6:10"),
        ("memory = \"lots\"", "limits.toml:6:10"),
    ] {
        let s = spec(
            "limits",
            &format!(
                "image = \"{}\"\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n\n{text}\n",
                image("multi")
            ),
        );
        let r = run(&["run", s.path()]);
        assert_eq!(r.code, 2, "{text}: {}", r.explain());
        assert!(r.stderr.contains(expect), "{text}: {}", r.explain());
    }
}

#[test]
fn host_and_container_network_namespaces_need_allow_privileged() {
    for (network, column) in [("host", 11), ("container:someone", 11)] {
        let s = spec(
            "network",
            &format!(
                "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[settings]\nnetwork = \"{network}\"\n\
                 [[test]]\nname = \"interfaces\"\ncommand = [\"ls\", \"/sys/class/net\"]\n\
                 stdout_contains = \"docker0\"\n",
                image("multi")
            ),
        );
        let r = run(&["run", s.path()]);
        assert_eq!(r.code, 2, "{network}: {}", r.explain());
        assert!(
            r.stderr.contains(&format!("network.toml:4:{column}"))
                && r.stderr.contains("--allow-privileged"),
            "{network}: {}",
            r.explain()
        );
        if network == "host" {
            // Allowed, the test really shares the host's network (it sees the engine's bridge).
            let r = run(&["run", s.path(), "--allow-privileged"]);
            assert_eq!(r.code, 0, "{}", r.explain());
        }
    }
}

#[test]
fn control_characters_in_test_names_are_refused_with_a_position() {
    let s = spec(
        "names",
        &format!(
            "image = \"{}\"\n[[test]]\nname = \"ok\\n::error file=x::forged\"\ncommand = [\"true\"]\n",
            image("multi")
        ),
    );
    let r = common::Run::from(
        common::archsmoke()
            .env("GITHUB_ACTIONS", "true")
            .args(["run", s.path()])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 2, "{}", r.explain());
    assert!(r.stderr.contains("names.toml:3:8"), "{}", r.explain());
    assert!(r.stderr.contains("control character"), "{}", r.explain());
    let forged = |text: &str| {
        text.lines()
            .any(|l| l.trim_start().starts_with("::error file"))
    };
    assert!(!forged(&r.stdout) && !forged(&r.stderr), "{}", r.explain());
}

/// The workflow commands a GitHub runner would act on in `text`: what is not fenced off by
/// `::stop-commands::TOKEN` ... `::TOKEN::`, as the runner parses it (`::` after leading spaces,
/// the legacy `##[` anywhere in a line).
fn processed_commands(text: &str) -> Vec<String> {
    let mut paused: Option<String> = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim_start) {
        if let Some(token) = &paused {
            if line == format!("::{token}::") {
                paused = None;
            }
            continue;
        }
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            paused = Some(token.to_owned());
        } else if line.starts_with("::") || line.contains("##[") {
            out.push(line.to_owned());
        }
    }
    out
}

#[test]
fn secrets_in_names_are_masked_in_every_report_and_output_cannot_forge_workflow_commands() {
    let secret = "hunter2-in-a-name";
    // The outputs differ by platform, so the failure shows a diff whose lines are the test's raw
    // output, indented.
    let s = spec(
        "forge",
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]
[[test]]
name = "login as {secret}"
secret_env = {{ TOKEN = "{secret}" }}
command = ["sh", "-c", "echo '::error file=x::forged'; echo 'log ##[error]legacy'; uname -m"]
same_output = true
"#,
            image("multi")
        ),
    );
    let json = s.dir.path().join("r.json");
    let junit = s.dir.path().join("r.xml");
    let summary = s.dir.path().join("summary.md");
    let r = common::Run::from(
        common::archsmoke()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["run", s.path(), "--json", json.to_str().expect("utf-8")])
            .args(["--junit", junit.to_str().expect("utf-8")])
            .output()
            .expect("archsmoke starts"),
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    for (what, text) in [
        ("stdout", r.stdout.clone()),
        ("stderr", r.stderr.clone()),
        ("JSON", fs::read_to_string(&json).expect("json")),
        ("JUnit", fs::read_to_string(&junit).expect("junit")),
        ("summary", fs::read_to_string(&summary).expect("summary")),
    ] {
        assert!(!text.contains(secret), "{what} shows the secret:\n{text}");
        assert!(text.contains("[REDACTED]"), "{what} lost the name:\n{text}");
    }
    // Only archsmoke's own annotation is a command; the quoted output is fenced off.
    assert!(
        r.stdout.contains("::error file=x::forged"),
        "{}",
        r.explain()
    );
    let commands = processed_commands(&r.stdout);
    assert_eq!(commands.len(), 1, "{commands:?}\n{}", r.explain());
    // It points at the test's line of the spec, under its masked name.
    assert!(
        commands[0].starts_with("::error file=") && commands[0].contains(",line=5,title=archsmoke"),
        "{commands:?}"
    );
    assert!(processed_commands(&r.stderr).is_empty(), "{}", r.explain());
}

#[test]
fn nul_bytes_and_malformed_env_names_are_spec_errors_with_a_position() {
    for (line, expect) in [
        ("command = [\"echo\", \"a\\u0000b\"]", "bad.toml:5:11"),
        (
            "entrypoint = [\"a\\u0000\"]\ncommand = [\"x\"]",
            "bad.toml:5:14",
        ),
        (
            "command = [\"true\"]\nenv = { \"A=B\" = \"x\" }",
            "bad.toml:6:7",
        ),
        (
            "command = [\"true\"]\nenv = { \"\" = \"x\" }",
            "bad.toml:6:7",
        ),
        (
            "command = [\"true\"]\nsecret_env = { \"X=Y\" = \"long enough\" }",
            "bad.toml:6:14",
        ),
    ] {
        let s = spec(
            "bad",
            &format!(
                "image = \"{}\"\nplatforms = [\"linux/amd64\"]\n[[test]]\nname = \"t\"\n{line}\n",
                image("multi")
            ),
        );
        let r = run(&["run", s.path()]);
        assert_eq!(r.code, 2, "{line}: {}", r.explain());
        assert!(r.stderr.contains(expect), "{line}: {}", r.explain());
    }
}

#[test]
fn tracing_on_a_pipe_has_no_escape_codes() {
    for no_color in [true, false] {
        let mut cmd = common::archsmoke();
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        let r = common::Run::from(
            cmd.args(["-vv", "inspect", &image("multi")])
                .output()
                .expect("archsmoke starts"),
        );
        assert_eq!(r.code, 0, "{}", r.explain());
        assert!(r.stderr.contains("DEBUG"), "no tracing:\n{}", r.explain());
        assert!(
            !r.stderr.contains('\u{1b}'),
            "escape codes on a pipe (NO_COLOR {no_color}):\n{}",
            r.explain()
        );
    }
}
