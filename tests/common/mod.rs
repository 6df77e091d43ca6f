//! Shared scaffolding for the end-to-end tests: the real engine, the local registry and QEMU that
//! `tests/testbed/up.sh` provisions. A missing piece is a failure with the command that fixes it,
//! never a skip.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const REPO: &str = "archsmoke/busybox";

/// The test bed's state directory (fixtures.json, ports.env, oci/).
pub fn testbed_dir() -> PathBuf {
    std::env::var_os("ARCHSMOKE_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/archsmoke-testbed"))
}

/// A port `tests/testbed/up.sh` chose and recorded in `ports.env` (`NAME=PORT` lines): no port
/// of the test bed is fixed, another program may hold the documented one. An older test bed
/// without the file listens on the documented port.
pub fn testbed_port(name: &str, documented: u16) -> u16 {
    let path = testbed_dir().join("ports.env");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    port_in(&text, name).unwrap_or(documented)
}

/// The last `NAME=PORT` line's port (a later choice overrides an earlier one).
fn port_in(ports_env: &str, name: &str) -> Option<u16> {
    ports_env
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .filter_map(|p| p.trim().parse().ok())
        .next_back()
}

/// The test registry (no auth).
pub fn registry() -> String {
    std::env::var("ARCHSMOKE_TEST_REGISTRY")
        .unwrap_or_else(|_| format!("127.0.0.1:{}", testbed_port("REGISTRY_PORT", 5000)))
}

/// The test registry with basic auth (`archsmoke` / `archsmoke-secret`).
pub fn auth_registry() -> String {
    format!("127.0.0.1:{}", testbed_port("AUTH_REGISTRY_PORT", 5001))
}

/// A fixture image reference, e.g. `image("multi")`.
pub fn image(tag: &str) -> String {
    require_testbed();
    format!("{}/{REPO}:{tag}", registry())
}

/// Fail loudly when the test bed is not up: in CI a missing registry is a failure.
pub fn require_testbed() {
    let url = format!("http://{}/v2/{REPO}/tags/list", registry());
    let out = Command::new("curl")
        .args(["-fsS", "-m", "5", &url])
        .output()
        .expect("curl runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("multi"),
        "the test registry at {} has no fixtures ({}): run `sudo tests/testbed/up.sh` first",
        registry(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The run id the tool printed, to look for its containers.
    pub fn run_id(&self) -> String {
        let marker = "[run ";
        let start = self
            .stderr
            .find(marker)
            .unwrap_or_else(|| panic!("no run id in stderr:\n{}", self.stderr))
            + marker.len();
        self.stderr[start..]
            .split(']')
            .next()
            .expect("run id")
            .to_owned()
    }

    /// The summary row of a platform.
    pub fn row(&self, platform: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(platform))
            .unwrap_or_else(|| panic!("no row for {platform} in:\n{}", self.stdout))
            .to_owned()
    }

    pub fn explain(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary under test: this build's, or the one `ARCHSMOKE_TEST_BIN` names (to see an
/// end-to-end test fail on another build, say main's before a fix).
pub fn archsmoke() -> Command {
    let bin = std::env::var_os("ARCHSMOKE_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_archsmoke").into());
    let mut c = Command::new(bin);
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// Run `archsmoke <args>`.
pub fn run(args: &[&str]) -> Run {
    Run::from(archsmoke().args(args).output().expect("archsmoke starts"))
}

/// A spec file in a fresh temp dir; the dir lives as long as the returned guard.
pub struct SpecFile {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn spec(name: &str, text: &str) -> SpecFile {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write spec");
    SpecFile { dir, path }
}

impl SpecFile {
    pub fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }
}

/// Containers on the engine that carry `archsmoke.run=<id>` (all runs with `None`).
pub fn labelled_containers(run_id: Option<&str>) -> Vec<String> {
    let filter = match run_id {
        Some(id) => format!("label=archsmoke.run={id}"),
        None => "label=archsmoke.run".to_owned(),
    };
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .output()
        .expect("docker CLI runs");
    assert!(out.status.success(), "docker ps failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Jenkins' xUnit JUnit schema, vendored in the repository (tests/fixtures/junit/README.md).
pub fn junit_xsd() -> PathBuf {
    let path = repo_root().join("tests/fixtures/junit/junit-10.xsd");
    assert!(
        path.is_file(),
        "the JUnit schema is missing at {}",
        path.display()
    );
    path
}

/// The JSON report at `path`, parsed and validated against its published schema: every test
/// that reads a report also checks the wire format.
pub fn json_report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no JSON report at {}: {e}", path.display()));
    let report: serde_json::Value = serde_json::from_str(&text).expect("the JSON report parses");
    let schema: serde_json::Value =
        serde_json::from_str(archsmoke::report::json::SCHEMA).expect("the schema parses");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:?}");
    report
}

/// A platform's entry in a JSON report.
pub fn platform<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .find(|p| p["platform"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

/// The result named `name` in a JSON report's platform entry.
pub fn test<'a>(platform: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    platform["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} in {platform:#}"))
}

/// The repository of the test bed's real images (Debian packages, `tests/testbed/real.rs`).
pub const REAL: &str = "archsmoke/real";

/// A real image's reference; fails loudly when the test bed does not have it.
pub fn real(tag: &str) -> String {
    let registry = registry();
    let url = format!("http://{registry}/v2/{REAL}/tags/list");
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-m", "5", &url])
        .output()
        .expect("curl runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(tag),
        "the test registry at {registry} has no {REAL}:{tag} ({}): run `tests/testbed/up.sh` \
         (ensure_real_images) first",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    format!("{registry}/{REAL}:{tag}")
}

#[cfg(test)]
mod port_tests {
    #[test]
    fn the_last_line_of_a_name_wins_and_other_names_do_not_match() {
        let text = "REGISTRY_PORT=5000\nAUTH_REGISTRY_PORT=5001\nREGISTRY_PORT=41234\n";
        assert_eq!(super::port_in(text, "REGISTRY_PORT"), Some(41234));
        assert_eq!(super::port_in(text, "AUTH_REGISTRY_PORT"), Some(5001));
        assert_eq!(super::port_in(text, "SSHD_PORT"), None);
    }
}
