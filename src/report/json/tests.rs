//! The JSON reporter against its own JSON Schema, and the values scripts rely on.

use serde_json::{Value, json};

use super::{SCHEMA, SCHEMA_VERSION, render};
use crate::report::fixtures;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("report.schema.json is JSON");
    jsonschema::draft202012::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("report.schema.json is not a valid draft 2020-12 schema: {e}"));
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("report.schema.json does not compile: {e}"))
}

/// Renders, parses and validates; returns the parsed document.
fn rendered(report: &crate::outcome::RunReport) -> Value {
    let text = render(report);
    assert!(text.ends_with("}\n"));
    let doc: Value = serde_json::from_str(&text).expect("render writes JSON");
    let validator = validator();
    let errors = validator.iter_errors(&doc).into_errors();
    assert!(errors.is_empty(), "the report breaks its schema:\n{errors}");
    doc
}

fn platform<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .find(|p| p["platform"] == name)
        .unwrap_or_else(|| panic!("no platform {name}"))
}

fn test<'a>(platform: &'a Value, name: &str) -> &'a Value {
    platform["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name}"))
}

#[test]
fn a_passing_run() {
    let doc = rendered(&fixtures::all_passing());
    assert_eq!(doc["schema_version"], SCHEMA_VERSION);
    assert_eq!(doc["tool"]["name"], "archsmoke");
    assert_eq!(doc["result"], "passed");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["duration_secs"], 42.5);
    assert_eq!(
        doc["image"],
        json!({
            "reference": "127.0.0.1:5000/demo/busybox:multi",
            "digest": fixtures::INDEX_DIGEST,
            "media_type": "application/vnd.oci.image.index.v1+json",
            "is_index": true,
            "available": ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le"],
            "attestations": 4
        })
    );
    assert_eq!(doc["engine"]["platform"], "linux/amd64");
    assert!(
        doc["engine"].get("name").is_none(),
        "the old field keeps its shape"
    );
    assert_eq!(doc["engines"][0]["name"], "default");
    assert_eq!(doc["engines"][0]["endpoint"], doc["engine"]["endpoint"]);
    assert_eq!(platform(&doc, "linux/arm64")["engine"], "default");
    assert_eq!(
        doc["totals"],
        json!({
            "platforms": {"total": 2, "passed": 2, "failed": 0, "error": 0, "skipped": 0},
            "tests": {"tests": 4, "passed": 4, "failed": 0, "timed_out": 0, "errors": 0, "not_run": 0, "skipped": 0}
        })
    );
    let arm = platform(&doc, "linux/arm64");
    assert_eq!(arm["result"], "passed");
    assert_eq!(arm["mode"], "qemu-aarch64 7.2.11");
    assert_eq!(arm["execution"]["mode"], "emulated");
    assert_eq!(arm["execution"]["emulator"]["entry"], "qemu-aarch64");
    // (1100 + 950) / (110 + 90)
    assert_eq!(arm["slowdown"], 10.25);
    assert_eq!(test(arm, "shell runs")["slowdown"], 10.0);
    assert_eq!(
        arm["entry"]["reason"], "exact match in the index",
        "why this index entry was chosen"
    );
    assert_eq!(arm["pull"]["duration_secs"], 1.234);
    assert_eq!(platform(&doc, "linux/amd64")["execution"]["mode"], "native");
}

#[test]
fn failures_timeouts_errors_and_broken_platforms() {
    let doc = rendered(&fixtures::mixed());
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(
        doc["totals"],
        json!({
            "platforms": {"total": 5, "passed": 1, "failed": 3, "error": 1, "skipped": 0},
            "tests": {"tests": 10, "passed": 5, "failed": 1, "timed_out": 1, "errors": 1, "not_run": 2, "skipped": 0}
        })
    );

    let arm = platform(&doc, "linux/arm64");
    assert_eq!(arm["result"], "failed");
    assert_eq!(
        arm["counts"],
        json!({"tests": 4, "passed": 1, "failed": 1, "timed_out": 1, "errors": 1, "not_run": 0, "skipped": 0})
    );
    let uname = test(arm, "uname");
    assert_eq!(uname["status"], "failed");
    assert_eq!(uname["exit_code"], 1);
    assert_eq!(uname["expected_exit_code"], 0);
    assert_eq!(
        uname["mismatches"],
        json!([
            {"check": "exit code", "expected": "0", "actual": "1"},
            {"check": "stdout", "expected": "aarch64\n", "actual": "armv7l\n"}
        ])
    );
    assert_eq!(uname["command"], json!(["sh", "-c", "echo armv7l\n"]));
    assert_eq!(uname["stderr"], "uname: warning: something\n");
    let node = test(arm, "node starts");
    assert_eq!(node["status"], "timed_out");
    assert_eq!(node["exit_code"], Value::Null);
    assert_eq!(node["timeout_secs"], 300.0);
    let tls = test(arm, "pull tls");
    assert_eq!(tls["status"], "error");
    assert!(
        tls["error"]
            .as_str()
            .expect("error text")
            .starts_with("the engine failed")
    );

    let v7 = platform(&doc, "linux/arm/v7");
    assert_eq!(v7["result"], "error");
    assert_eq!(v7["execution"]["mode"], "unavailable");
    assert_eq!(v7["pull"], Value::Null);
    assert_eq!(
        v7["problem"],
        json!({
            "kind": "emulator_unavailable",
            "defect": false,
            "message": "linux/arm/v7 cannot run here: no binfmt entry can run arm binaries on this engine",
            "hint": "sudo archsmoke binfmt install arm"
        })
    );
    let s390x = platform(&doc, "linux/s390x");
    assert_eq!(s390x["result"], "failed");
    assert_eq!(s390x["entry"], Value::Null);
    assert_eq!(s390x["mode"], Value::Null);
    assert_eq!(s390x["problem"]["kind"], "missing_platform");
    assert_eq!(s390x["problem"]["defect"], true);
    let ppc = platform(&doc, "linux/ppc64le");
    assert_eq!(ppc["result"], "failed");
    assert_eq!(test(ppc, "uname")["status"], "not_run");
}

#[test]
fn a_run_that_never_started() {
    let doc = rendered(&fixtures::registry_unreachable());
    assert_eq!(doc["result"], "error");
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["problem"]["kind"], "registry");
    assert_eq!(
        doc["problem"]["hint"],
        "start the registry, or check the image reference"
    );
    assert_eq!(doc["platforms"], json!([]));
    assert_eq!(doc["image"]["digest"], Value::Null);
    assert_eq!(doc["image"]["available"], json!([]));
    assert_eq!(doc["totals"]["platforms"]["total"], 0);
}

#[test]
fn an_interrupted_run() {
    let doc = rendered(&fixtures::interrupted());
    assert_eq!(doc["interrupted"], true);
    assert_eq!(doc["exit_code"], 3);
    let arm = platform(&doc, "linux/arm64");
    assert_eq!(arm["result"], "error");
    assert_eq!(arm["problem"]["kind"], "interrupted");
    assert_eq!(arm["problem"]["hint"], Value::Null);
    assert_eq!(arm["counts"]["not_run"], 1);
}

#[test]
fn output_is_carried_exactly_colour_codes_and_controls_included() {
    let report = fixtures::hostile();
    let doc = rendered(&report);
    let amd = platform(&doc, "linux/amd64");
    let original = &report.platforms[0].tests[0];
    let colours = test(amd, &original.name);
    assert_eq!(colours["stdout"], original.stdout.as_str());
    assert_eq!(colours["stderr"], original.stderr.as_str());
    let huge = test(amd, "huge output");
    assert_eq!(huge["stdout"], fixtures::big_output().as_str());
    assert_eq!(huge["stdout_dropped_bytes"], 3 * 1024 * 1024);
    assert_eq!(huge["stderr_dropped_bytes"], 0);
}

/// The schema must be able to say no, or validating against it proves nothing.
#[test]
fn the_schema_rejects_reports_that_break_the_format() {
    let good: Value =
        serde_json::from_str(&render(&fixtures::mixed())).expect("render writes JSON");
    let v = validator();
    assert!(v.is_valid(&good));
    type Breakage = (&'static str, fn(&mut Value));
    let broken: [Breakage; 7] = [
        ("a missing field", |d| {
            d.as_object_mut().expect("object").remove("exit_code");
        }),
        ("an undocumented field", |d| {
            d["platforms"][0]["surprise"] = json!(1);
        }),
        ("an unknown test status", |d| {
            d["platforms"][1]["tests"][1]["status"] = json!("flaky");
        }),
        ("another schema version", |d| d["schema_version"] = json!(2)),
        ("a failed test without mismatches", |d| {
            d["platforms"][1]["tests"][1]["mismatches"] = json!([]);
        }),
        ("a defect flag that contradicts the kind", |d| {
            d["platforms"][3]["problem"]["defect"] = json!(false);
        }),
        ("an emulated mode without its emulator", |d| {
            d["platforms"][1]["execution"]
                .as_object_mut()
                .expect("execution")
                .remove("emulator");
        }),
    ];
    for (what, breaks) in broken {
        let mut doc = good.clone();
        breaks(&mut doc);
        assert!(!v.is_valid(&doc), "the schema accepts {what}");
    }
}

#[test]
fn a_skipped_platform_is_skipped_in_the_schema_and_does_not_fail_the_run() {
    let mut report = fixtures::all_passing();
    let arm = &mut report.platforms[1];
    arm.problem = Some(crate::outcome::Problem {
        kind: crate::outcome::ProblemKind::NotTested,
        message: "skipped (--skip-unavailable): cannot run linux/arm64 on this engine".into(),
        hint: Some("sudo archsmoke binfmt install arm64".into()),
    });
    for t in &mut arm.tests {
        t.status = crate::outcome::TestStatus::Skipped;
        t.error = Some("skipped (--skip-unavailable)".into());
    }
    let doc = rendered(&report);
    assert_eq!(doc["result"], "passed");
    assert_eq!(doc["exit_code"], 0);
    let arm = platform(&doc, "linux/arm64");
    assert_eq!(arm["result"], "skipped");
    assert_eq!(arm["problem"]["kind"], "not_tested");
    assert_eq!(arm["problem"]["defect"], false);
    assert_eq!(test(arm, "shell runs")["status"], "skipped");
    assert_eq!(arm["counts"]["skipped"], 2);
    assert_eq!(
        doc["totals"]["platforms"],
        json!({"total": 2, "passed": 1, "failed": 0, "error": 0, "skipped": 1})
    );
}

#[test]
fn forbidden_emulation_is_an_error_not_a_defect() {
    let mut report = fixtures::all_passing();
    report.platforms[1].problem = Some(crate::outcome::Problem {
        kind: crate::outcome::ProblemKind::EmulationForbidden,
        message: "linux/arm64 would run emulated".into(),
        hint: None,
    });
    report.platforms[1].tests.clear();
    let doc = rendered(&report);
    assert_eq!(doc["exit_code"], 3);
    let arm = platform(&doc, "linux/arm64");
    assert_eq!(arm["result"], "error");
    assert_eq!(arm["problem"]["kind"], "emulation_forbidden");
}

#[test]
fn a_platform_that_ran_nothing_is_not_tested_and_counted_apart() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests.clear();
    let doc = rendered(&report);
    assert_eq!(doc["platforms"][0]["result"], "not_tested");
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(
        doc["totals"]["platforms"],
        json!({"total": 2, "passed": 1, "failed": 0, "error": 0, "skipped": 0, "not_tested": 1})
    );
}

#[test]
fn a_cut_streams_head_is_written_and_read_back_and_a_report_without_heads_still_reads() {
    let mut report = fixtures::all_passing();
    let t = &mut report.platforms[0].tests[0];
    t.stdout_head = "1\n2\n".into();
    t.stdout_omitted = 1000;
    t.stdout = "999\n1000\n".into();
    let text = render(&report);
    let doc = rendered(&report);
    let cut = test(platform(&doc, "linux/amd64"), "shell runs");
    assert_eq!(cut["stdout_head"], "1\n2\n");
    assert_eq!(cut["stdout_dropped_bytes"], 1000);
    assert_eq!(cut["stdout"], "999\n1000\n");
    let whole = test(platform(&doc, "linux/arm64"), "shell runs");
    assert!(whole.get("stdout_head").is_none(), "{whole:#}");
    let back = crate::report::read::parse(&text).expect("reads back");
    let t = &back.platforms[0].tests[0];
    assert_eq!(
        (t.stdout_head.as_str(), t.stdout_omitted, t.stdout.as_str()),
        ("1\n2\n", 1000, "999\n1000\n")
    );

    // As the previous version wrote it: no head, and the bytes before the tail dropped.
    let mut old: Value = serde_json::from_str(&text).expect("JSON");
    old["platforms"][0]["tests"][0]
        .as_object_mut()
        .expect("a test")
        .remove("stdout_head");
    let old = old.to_string();
    assert!(validator().is_valid(&serde_json::from_str(&old).expect("JSON")));
    crate::report::read::parse_wire(&old).expect("verify reads an old report");
    let back = crate::report::read::parse(&old).expect("merge reads an old report");
    let shard = |platform: &str| {
        let mut r = back.clone();
        r.platforms.retain(|p| p.platform.to_string() == platform);
        r
    };
    let merged = crate::report::merge::merge(vec![
        ("amd64.json".into(), shard("linux/amd64")),
        ("arm64.json".into(), shard("linux/arm64")),
    ])
    .expect("old shards merge");
    let t = &merged.platforms[0].tests[0];
    assert_eq!(
        (t.stdout_head.as_str(), t.stdout_omitted, t.stdout.as_str()),
        ("", 1000, "999\n1000\n")
    );
    let again = rendered(&merged);
    assert!(
        test(platform(&again, "linux/amd64"), "shell runs")
            .get("stdout_head")
            .is_none()
    );
}

/// Issue 30: a range of exit codes is written with its bounds as the spec wrote them, valid
/// against the schema, and read back (`merge`, `verify`) as the same range.
#[test]
fn an_expected_range_of_exit_codes_is_written_and_read_back() {
    use crate::range::{Bound, IntRange};
    let mut report = fixtures::all_passing();
    let range = IntRange {
        lower: Some(Bound::Exclusive(0)),
        upper: Some(Bound::Inclusive(2)),
    };
    report.platforms[0].tests[0].expected_exit = range;
    let name = report.platforms[0].tests[0].name.clone();
    let doc = rendered(&report);
    let t = test(&doc["platforms"][0], &name);
    assert_eq!(t["expected_exit_range"], json!({"gt": 0, "le": 2}), "{t:#}");
    assert_eq!(
        t["expected_exit_code"], 1,
        "the smallest code the range accepts"
    );
    let exact = test(&doc["platforms"][1], "uname");
    assert_eq!(exact["expected_exit_range"], Value::Null);
    let back = crate::report::read::parse(&render(&report)).expect("reads back");
    assert_eq!(back.platforms[0].tests[0].expected_exit, range);
    assert_eq!(
        back.platforms[1].tests[0].expected_exit,
        IntRange::exactly(0)
    );
    // A report of an older version has no such field: one code, as it says.
    let old = render(&report).replace(r#""expected_exit_range": null,"#, "");
    assert!(!old.contains(r#""expected_exit_range": null"#));
    let back = crate::report::read::parse(&old).expect("an older report reads");
    assert_eq!(
        back.platforms[1].tests[0].expected_exit,
        IntRange::exactly(0)
    );
}
