//! End to end: `archsmoke init` on the real images of the test bed (`archsmoke/real`, made by
//! tests/testbed/real-images.sh) writes what it finds, tried on the image first: a `[service]`
//! with readiness and an HTTP probe for the nginx image, which EXPOSEs 80; a version flag the
//! program answers on every platform (nginx has no `--version`); an audit setting that holds on
//! the image it came from (the planted defects warn); and each spec passes `archsmoke run` on
//! its image.

mod common;

use serde_json::Value;

use common::{json_report, platform, real, run};

/// `init` on `tag`, then `run` of what it wrote: the spec's text, parsed, and the run's report.
fn init_then_run(tag: &str) -> (String, toml::Table, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("smoke.toml");
    let spec = spec.to_str().expect("utf-8 path");
    let init = run(&["init", &real(tag), "-o", spec]);
    assert_eq!(init.code, 0, "{tag}: {}", init.explain());
    let text = std::fs::read_to_string(spec).expect("init wrote the spec");
    let parsed: toml::Table = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("{tag}: init wrote invalid TOML ({e}):\n{text}"));
    let json = dir.path().join("report.json");
    let r = run(&["run", spec, "--json", json.to_str().expect("utf-8 path")]);
    assert_eq!(
        r.code,
        0,
        "{tag}: init's spec fails on its image:\n{text}\n{}",
        r.explain()
    );
    (text, parsed, json_report(&json))
}

fn status<'a>(report: &'a Value, p: &str, name: &str) -> &'a Value {
    &platform(report, p)["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name} on {p} in {report:#}"))["status"]
}

/// The version test init wrote, as its command.
fn version_command(spec: &toml::Table) -> Option<Vec<String>> {
    let tests = spec.get("test")?.as_array()?;
    let version = tests
        .iter()
        .find(|t| t["name"].as_str() == Some("version"))?;
    Some(
        version["command"]
            .as_array()?
            .iter()
            .map(|a| a.as_str().expect("string").to_owned())
            .collect(),
    )
}

/// On main, init ignored `EXPOSE 80`, suggested `nginx --version` (which nginx rejects), and
/// wrote a `uname` test on an image without `uname`: its spec failed on its own image.
#[test]
fn init_on_a_server_writes_a_service_an_http_probe_and_a_version_flag_it_answers() {
    let (text, spec, report) = init_then_run("nginx");
    let ready = &spec["service"]["ready"];
    assert_eq!(ready["tcp"].as_integer(), Some(80), "{text}");
    let probes = spec["probe"].as_array().expect("a [[probe]]");
    assert_eq!(probes[0]["http"]["port"].as_integer(), Some(80), "{text}");
    let command = version_command(&spec).unwrap_or_else(|| panic!("no version test:\n{text}"));
    assert_eq!(command[0], "nginx", "{text}");
    assert!(["-v", "-V"].contains(&command[1].as_str()), "{text}");
    assert_eq!(spec["audit"]["elf"].as_str(), Some("error"), "{text}");
    for p in ["linux/amd64", "linux/arm64"] {
        for name in ["service ready", "probe port 80", "version", "audit elf"] {
            assert_eq!(status(&report, p, name), "passed", "{p} {name}: {report:#}");
        }
    }
}

/// A program that answers `--version` keeps it; a shell that reads its empty stdin and exits 0
/// on any flag is not taken for answering; the audit is "error" on clean images and "warn" on
/// one whose findings would fail the spec on its own image.
#[test]
fn init_keeps_only_what_passes_on_its_image() {
    let (text, spec, _) = init_then_run("python");
    assert_eq!(
        version_command(&spec),
        Some(vec!["python3".to_owned(), "--version".to_owned()]),
        "{text}"
    );
    assert!(!spec.contains_key("service"), "{text}");
    let (text, spec, _) = init_then_run("kitchen");
    assert_eq!(version_command(&spec), None, "{text}");
    assert_eq!(spec["audit"]["elf"].as_str(), Some("error"), "{text}");
    let (text, spec, report) = init_then_run("kitchen-defects");
    assert_eq!(spec["audit"]["elf"].as_str(), Some("warn"), "{text}");
    assert!(text.contains("The ELF audit finds"), "{text}");
    assert_eq!(
        status(&report, "linux/arm64", "audit elf"),
        "passed",
        "{report:#}"
    );
}
