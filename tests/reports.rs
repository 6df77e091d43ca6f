//! End to end: the JUnit and JSON files of a real run with passing, failing, timed-out and
//! erroring platforms, and output full of hostile bytes. The JUnit file must validate against
//! Jenkins' xUnit schema (xmllint) and read correctly with a real JUnit library (junitparser).

mod common;

use std::process::Command;

use common::{image, run, spec};

fn xsd() -> std::path::PathBuf {
    common::junit_xsd()
}

#[test]
fn junit_and_json_reports_of_a_mixed_run() {
    let text = format!(
        r#"
image = "{}"
platforms = ["linux/amd64", "linux/arm64", "linux/mips64le"]
# The counts below are of container tests; the image audit has its own end-to-end test.
[audit]
elf = "off"
[[test]]
name = "passes"
command = ["true"]
[[test]]
name = "fails on arm64"
command = ["uname", "-m"]
stdout = "x86_64\n"
[[test]]
name = "hostile output"
command = ["sh", "-c", "printf '\\033[31mred\\033[0m \\001\\002\\013 ]]> \\377\\376 end'; printf ']]>' >&2"]
[[test]]
name = "hangs"
command = ["sleep", "60"]
timeout = "1s"
platforms = ["linux/amd64"]
"#,
        image("multi")
    );
    let s = spec("mixed", &text);
    let dir = s.dir.path();
    let junit = dir.join("report.xml");
    let json = dir.join("report.json");
    let r = run(&[
        "run",
        s.path(),
        "--junit",
        junit.to_str().expect("path"),
        "--json",
        json.to_str().expect("path"),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());

    let lint = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(xsd())
        .arg(&junit)
        .output()
        .expect("xmllint runs (Debian's libxml2-utils; tests/testbed/up.sh installs it)");
    assert!(
        lint.status.success(),
        "JUnit does not validate: {}",
        String::from_utf8_lossy(&lint.stderr)
    );

    // junitparser reads it as dashboards do; count per suite (= platform).
    let script = r#"
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    cases = list(suite)
    f = sum(1 for c in cases for r in c.result if isinstance(r, Failure))
    e = sum(1 for c in cases for r in c.result if isinstance(r, Error))
    print(f"{suite.name} tests={len(cases)} failures={f} errors={e} attr_failures={suite.failures} attr_errors={suite.errors}")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&junit)
        .output()
        .expect("python3 runs");
    let counts = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "junitparser failed (tests/testbed/up.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        counts.contains("linux/amd64 tests=4 failures=1 errors=0 attr_failures=1 attr_errors=0"),
        "{counts}"
    );
    assert!(
        counts.contains("linux/arm64 tests=3 failures=1 errors=0 attr_failures=1 attr_errors=0"),
        "{counts}"
    );
    // The missing platform: its problem, and its three tests listed as not run (skipped).
    assert!(
        counts.contains("linux/mips64le tests=4 failures=1"),
        "{counts}"
    );

    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(!xml.contains('\u{1b}'), "ANSI escapes must be stripped");
    assert!(xml.contains("classname=\"mixed.linux/arm64\""), "{xml}");

    let report = common::json_report(&json);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["exit_code"], 1);
    let platforms = report["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 3);
    let mips = &platforms[2];
    assert_eq!(mips["problem"]["kind"], "missing_platform");
}
