//! GitHub Actions output: escaping, annotations and the job summary, on the shared fixtures.

use super::*;
use crate::outcome::{Problem, ProblemKind};
use crate::report::fixtures::{self, failed, mismatch};

#[test]
fn only_the_exact_value_true_enables_it() {
    assert!(enabled(Some("true")));
    for other in [None, Some(""), Some("false"), Some("1"), Some("TRUE")] {
        assert!(!enabled(other), "{other:?}");
    }
}

#[test]
fn escaping_follows_the_toolkit() {
    assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
    // `%` first: an escape already in the text must not be decoded back by the runner.
    assert_eq!(escape_data("%0A"), "%250A");
    assert_eq!(
        escape_property("a: b, c\nd"),
        "a%3A b%2C c%0Ad",
        "properties also escape : and ,"
    );
}

#[test]
fn every_failure_is_one_annotation_that_cannot_inject_another() {
    let mut report = fixtures::mixed();
    report.platforms[1].tests[1] = failed(
        "uname\n::error::injected",
        1,
        "",
        vec![mismatch("stdout", "aarch64\n", "armv7l\n")],
    );
    let lines = annotations(&report);
    for line in &lines {
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(
            line.starts_with("::error title=") || line.starts_with("::warning title="),
            "{line}"
        );
    }
    // arm64: uname failed, node starts timed out, pull tls could not run; three platform problems.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    let uname = lines
        .iter()
        .find(|l| l.contains("uname"))
        .expect("the uname failure");
    assert!(
        uname.starts_with(
            "::error title=archsmoke%3A uname%0A%3A%3Aerror%3A%3Ainjected failed on linux/arm64::"
        ),
        "{uname}"
    );
    assert!(
        uname.contains(r#"%0Astdout: expected "aarch64\n", got "armv7l\n""#),
        "{uname}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("node starts timed out on linux/arm64")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("::error title=archsmoke%3A linux/arm/v7 could not be tested::")
            && l.contains("%0Ahint: sudo archsmoke binfmt install arm")),
        "{lines:#?}"
    );
}

#[test]
fn a_passing_run_has_no_annotations_and_a_skipped_platform_is_a_warning() {
    let mut report = fixtures::all_passing();
    assert!(annotations(&report).is_empty());
    let arm = &mut report.platforms[1];
    arm.problem = Some(Problem {
        kind: ProblemKind::NotTested,
        message: "not tested: linux/arm64 runs natively".into(),
        hint: None,
    });
    for t in &mut arm.tests {
        t.status = TestStatus::Skipped;
    }
    let lines = annotations(&report);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("::warning title=archsmoke%3A linux/arm64 not tested::"),
        "{}",
        lines[0]
    );
    let md = summary_markdown(&report);
    assert!(
        md.contains("✅ passed"),
        "skipped platforms do not fail the run:\n{md}"
    );
    assert!(md.contains("| ⏭️ not tested |"), "{md}");
    assert!(
        md.contains("#### Not tested\n\n- `linux/arm64`: not tested"),
        "{md}"
    );
    assert!(md.contains("**1/1 platforms passed"), "{md}");
}

#[test]
fn the_summary_has_the_matrix_and_the_failures() {
    let report = fixtures::mixed();
    let md = summary_markdown(&report);
    assert!(md.starts_with("### archsmoke `"), "{md}");
    assert!(md.contains("❌ failed"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `linux/")).collect();
    assert_eq!(
        rows.len(),
        report.platforms.len(),
        "one row per platform:\n{md}"
    );
    let arm = rows
        .iter()
        .find(|r| r.starts_with("| `linux/arm64`"))
        .expect("arm64 row");
    assert!(
        arm.contains("| qemu-aarch64") && arm.ends_with("| ❌ FAIL |"),
        "{arm}"
    );
    assert!(md.contains("#### Failures"), "{md}");
    assert!(md.contains("- `linux/arm64` › **uname** failed"), "{md}");
    assert!(
        md.contains(r#"stdout: expected "aarch64\n", got "armv7l\n""#),
        "{md}"
    );
    assert!(
        md.contains("- `linux/s390x`: the image has no linux/s390x entry"),
        "{md}"
    );
    // Interrupted tests are not failures of their own.
    assert!(!md.contains("shell runs** "), "{md}");
}

#[test]
fn hostile_text_cannot_break_the_table() {
    assert_eq!(cell("a|b\n<script>&"), "a\\|b<br>&lt;script&gt;&amp;");
    assert_eq!(code("x`y"), "``x`y``");
    assert_eq!(code("a|b\nc"), "`a b c`");
}

#[test]
fn a_run_that_never_started_says_why() {
    let md = summary_markdown(&fixtures::registry_unreachable());
    assert!(md.contains("⚠️ could not be checked"), "{md}");
    assert!(md.contains("**Nothing was tested:**"), "{md}");
    assert!(!md.contains("| Platform |"), "{md}");
    let lines = annotations(&fixtures::registry_unreachable());
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("::error title=archsmoke%3A nothing could be tested::"));
}

#[test]
fn the_summary_is_appended_never_truncated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("summary.md");
    std::fs::write(&path, "earlier step\n").expect("seed");
    append_summary(&fixtures::all_passing(), &path).expect("append");
    append_summary(&fixtures::all_passing(), &path).expect("append again");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("earlier step\n### archsmoke"), "{text}");
    assert_eq!(text.matches("### archsmoke").count(), 2);
    let missing = dir.path().join("no-such-dir").join("summary.md");
    let err = append_summary(&fixtures::all_passing(), &missing).expect_err("missing dir");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn the_time_chart_is_mermaid_with_native_and_emulated_series() {
    let report = fixtures::all_passing();
    let chart = time_chart(&report).expect("a chart when platforms ran");
    // amd64: 110 + 90 ms of tests + 1.234 s pull; arm64: 1100 + 950 ms + 1.234 s.
    assert_eq!(
        chart,
        "```mermaid\n\
         %%{init: {\"themeVariables\": {\"xyChart\": {\"plotColorPalette\": \"#1f6feb, #d4570b\"}}}}%%\n\
         xychart-beta\n    \
         title \"Time per platform (s): native blue, emulated orange\"\n    \
         x-axis [\"linux/amd64 (native)\", \"linux/arm64 (emulated)\"]\n    \
         y-axis \"seconds\" 0 --> 3.7\n    \
         bar [1.43, 0]\n    \
         bar [0, 3.28]\n\
         ```\n"
    );
    let md = summary_markdown(&report);
    let table_end = md
        .find("**1/2 platforms")
        .or_else(|| md.find("**2/2 platforms"));
    let at = md.find("```mermaid").expect("the chart is in the summary");
    assert!(
        table_end.is_some_and(|t| t < at) && at < md.len(),
        "the chart comes under the matrix:\n{md}"
    );
}

#[test]
fn the_time_chart_leaves_out_platforms_that_did_not_run() {
    let report = fixtures::mixed();
    let chart = time_chart(&report).expect("amd64 and arm64 ran");
    let axis = chart
        .lines()
        .find(|l| l.trim_start().starts_with("x-axis"))
        .expect("an x axis");
    // arm/v7 (no emulator) and s390x (missing) never ran; ppc64le ran nothing either but has a
    // duration, and counts as emulated.
    assert!(
        !axis.contains("arm/v7") && !axis.contains("s390x"),
        "{axis}"
    );
    assert!(
        axis.contains("\"linux/amd64 (native)\"") && axis.contains("\"linux/arm64 (emulated)\""),
        "{axis}"
    );
    assert!(time_chart(&fixtures::registry_unreachable()).is_none());
    let md = summary_markdown(&fixtures::registry_unreachable());
    assert!(!md.contains("mermaid"), "{md}");
}

#[test]
fn chart_labels_cannot_break_out_of_their_quotes() {
    assert_eq!(chart_text("linux/arm/v7 (native)"), "linux/arm/v7 (native)");
    assert_eq!(
        chart_text("a\"b`c%%d#e;f\n]"),
        "a_b_c__d_e_f__",
        "quotes, fences, comments, entities and brackets"
    );
}

#[test]
fn a_failed_test_points_at_its_line_of_the_spec() {
    let mut report = fixtures::mixed();
    report.spec = "./smoke-tests/app.toml".into();
    report.spec_lines.insert("uname".into(), 12);
    let lines = annotations(&report);
    let uname = lines
        .iter()
        .find(|l| l.contains("uname failed"))
        .expect("the uname failure");
    assert!(
        uname.starts_with("::error file=smoke-tests/app.toml,line=12,title=archsmoke%3A uname"),
        "{uname}"
    );
    // A result the spec does not declare (a platform's problem) has no place.
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("could not be tested"))
            .all(|l| !l.contains("file=")),
        "{lines:#?}"
    );
}

#[test]
fn a_platform_that_ran_nothing_is_an_error_annotation_and_not_tested_in_the_summary() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests.clear();
    let lines = annotations(&report);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("::error title=archsmoke%3A linux/amd64 NOT TESTED")),
        "{lines:?}"
    );
    let md = summary_markdown(&report);
    assert!(md.contains("| 🚫 NOT TESTED |"), "{md}");
    assert!(md.contains("1/2 platforms passed, 1 NOT TESTED"), "{md}");
    assert!(md.contains("#### Not tested"), "{md}");
}
