//! The rootless Linux laptop (issue 31), end to end on the test bed's rootless Podman
//! (`tests/testbed/rootless.sh`): an ordinary user, `archsmoke-rootless`, whose own
//! `podman system service` listens under its `XDG_RUNTIME_DIR`. archsmoke runs *as that user*,
//! with its login environment and nothing else: no `DOCKER_HOST`, no context, and a
//! `/var/run/docker.sock` that is root's. It must find the user's engine by itself, say why,
//! judge it as sharing this kernel (so this machine's binfmt QEMU entries are its emulators),
//! and run native amd64 and emulated arm64 there.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, json_report, platform};

/// What `rootless.sh` wrote to `rootless/rootless.json`.
struct Rootless {
    user: String,
    uid: u32,
    home: String,
    runtime_dir: String,
    socket: String,
}

fn rootless() -> Rootless {
    common::require_testbed();
    let path = common::testbed_dir().join("rootless/rootless.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no {} ({e}): run `sudo tests/testbed/up.sh` (or tests/testbed/rootless.sh)",
            path.display()
        )
    });
    let j: serde_json::Value = serde_json::from_str(&text).expect("rootless.json parses");
    let s = |k: &str| j[k].as_str().expect(k).to_owned();
    Rootless {
        user: s("user"),
        uid: u32::try_from(j["uid"].as_u64().expect("uid")).expect("a uid"),
        home: s("home"),
        runtime_dir: s("runtime_dir"),
        socket: s("socket"),
    }
}

/// archsmoke as the user, in `dir`, with the environment its login session would have.
fn as_user(r: &Rootless, dir: &Path, args: &[&str]) -> Run {
    // The build's binary may sit where the user cannot reach it (a checkout under /root): a
    // copy in the user's own directory runs wherever the checkout is.
    let bin = dir.join("archsmoke");
    if !bin.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_archsmoke"), &bin).expect("copy the binary");
    }
    let out = Command::new("runuser")
        .current_dir(dir)
        .args(["-u", &r.user, "--", "env", "-i"])
        .arg("PATH=/usr/sbin:/usr/bin:/sbin:/bin")
        .arg(format!("HOME={}", r.home))
        .arg(format!("USER={}", r.user))
        .arg(format!("XDG_RUNTIME_DIR={}", r.runtime_dir))
        .arg("NO_COLOR=1")
        .arg(&bin)
        .args(args)
        .output()
        .expect("runuser runs");
    Run::from(out)
}

/// A directory the user owns, for its spec and reports.
fn user_dir(r: &Rootless) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::chown(dir.path(), Some(r.uid), Some(r.uid)).expect("chown");
    dir
}

fn write_as(r: &Rootless, path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::os::unix::fs::chown(path, Some(r.uid), Some(r.uid)).expect("chown");
}

#[test]
fn doctor_as_the_user_finds_its_rootless_podman_and_says_why() {
    let r = rootless();
    let dir = user_dir(&r);
    let run = as_user(&r, dir.path(), &["doctor", "--probe", "--json"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let d: serde_json::Value = serde_json::from_str(&run.stdout).expect("doctor JSON");
    let e = &d["engine"];
    assert_eq!(e["endpoint"], r.socket.as_str(), "{e:#}");
    let origin = e["origin"].as_str().expect("origin");
    assert!(
        origin.starts_with("rootless Podman, found because neither DOCKER_HOST nor a context")
            && origin.ends_with("/var/run/docker.sock is not this user's to use"),
        "{origin}"
    );
    assert_eq!(e["kind"], "rootless Podman", "{e:#}");
    let locality = e["locality"].as_str().expect("locality");
    assert!(
        locality.starts_with("unix socket, same kernel"),
        "{locality}"
    );
    assert_eq!(e["info"]["local"], true, "{e:#}");
    assert_eq!(e["info"]["rootless"], true, "a socket the user owns: {e:#}");
    // Both sockets exist; the user's engine is the chosen one.
    let sockets = d["sockets"].as_array().expect("sockets");
    let chosen: Vec<&serde_json::Value> = sockets.iter().filter(|s| s["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1, "{sockets:#?}");
    assert_eq!(chosen[0]["host"], r.socket.as_str());
    assert!(
        sockets
            .iter()
            .any(|s| s["host"] == "unix:///var/run/docker.sock" && s["chosen"] == false),
        "{sockets:#?}"
    );
    // This kernel's binfmt_misc applies, and the engine agrees: amd64 native, arm64 by QEMU.
    assert_eq!(d["binfmt"]["applies_to_engine"], true);
    let row = |p: &str| {
        d["platforms"]
            .as_array()
            .expect("platforms")
            .iter()
            .find(|r| r["platform"] == p)
            .unwrap_or_else(|| panic!("no {p}"))
            .clone()
    };
    let amd64 = row("linux/amd64");
    assert_eq!(amd64["decision"]["mode"], "native", "{amd64:#}");
    assert_eq!(amd64["probe"]["status"], "ok", "{amd64:#}");
    let arm64 = row("linux/arm64");
    assert_eq!(arm64["decision"]["mode"], "emulated", "{arm64:#}");
    assert_eq!(arm64["decision"]["emulator"]["entry"], "qemu-aarch64");
    assert_eq!(arm64["probe"]["status"], "ok", "{arm64:#}");
    assert_eq!(arm64["probe"]["agrees"], true, "{arm64:#}");

    // The table says the same in words.
    let table = as_user(&r, dir.path(), &["doctor"]);
    assert_eq!(table.code, 0, "{}", table.explain());
    assert!(
        table
            .stdout
            .contains(&format!("at {}, local, rootless", r.socket))
            && table
                .stdout
                .contains("chosen: rootless Podman, found because")
            && table.stdout.contains("where:  unix socket, same kernel"),
        "{}",
        table.explain()
    );
}

#[test]
fn run_as_the_user_on_its_rootless_podman_runs_amd64_natively_and_arm64_under_qemu() {
    let r = rootless();
    let dir = user_dir(&r);
    let spec = dir.path().join("laptop.toml");
    write_as(
        &r,
        &spec,
        &format!(
            r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64"]

[[test]]
name = "machine"
command = ["uname", "-m"]
stdout = "x86_64\n"

[test.per_platform."linux/arm64"]
stdout = "aarch64\n"

[[test]]
name = "runs as the user's root"
command = ["id", "-u"]
stdout = "0\n"
"#,
            common::image("multi")
        ),
    );
    let report: PathBuf = dir.path().join("report.json");
    let run = as_user(
        &r,
        dir.path(),
        &[
            "run",
            spec.to_str().expect("utf-8"),
            "--json",
            report.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.explain());
    let report = json_report(&report);
    let engine = &report["engine"];
    assert_eq!(engine["endpoint"], r.socket.as_str(), "{engine:#}");
    assert_eq!(engine["local"], true, "{engine:#}");
    assert_eq!(engine["rootless"], true, "{engine:#}");
    let amd64 = platform(&report, "linux/amd64");
    assert_eq!(amd64["execution"]["mode"], "native", "{amd64:#}");
    assert_eq!(amd64["result"], "passed", "{amd64:#}");
    let arm64 = platform(&report, "linux/arm64");
    assert_eq!(arm64["execution"]["mode"], "emulated", "{arm64:#}");
    assert_eq!(arm64["result"], "passed", "{arm64:#}");
    assert!(
        arm64.to_string().contains("qemu-aarch64"),
        "emulated by this kernel's qemu-aarch64 entry: {arm64:#}"
    );
    // Nothing of the run is left on the user's engine (the doctor test's probes may run beside).
    let label = format!("label=archsmoke.run={}", run.run_id());
    let left = Command::new("docker")
        .args(["-H", &r.socket, "ps", "-aq", "--filter", &label])
        .output()
        .expect("docker CLI runs");
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "containers left on the rootless engine: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
