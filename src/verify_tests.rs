//! The verify rule on the report fixtures, as written to the wire.

use super::*;
use crate::image::IndexEntry;
use crate::outcome::RunReport;
use crate::report::fixtures;

fn wire_of(report: &RunReport) -> wire::Report {
    wire::Report::from(report)
}

fn list(report: &RunReport, extra: Option<&str>) -> ResolvedImage {
    let mut entries: Vec<IndexEntry> = report
        .platforms
        .iter()
        .filter_map(|p| p.entry.as_ref())
        .map(|e| IndexEntry {
            digest: e.digest.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            platform: Some(e.platform.clone()),
            kind: IndexEntryKind::Image,
            nested_in: None,
        })
        .collect();
    if let Some(d) = extra {
        entries.push(IndexEntry {
            digest: d.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 1,
            platform: Platform::parse("linux/s390x").ok(),
            kind: IndexEntryKind::Image,
            nested_in: None,
        });
    }
    ResolvedImage {
        reference: "registry.example/app:1".into(),
        digest: "sha256:list".into(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        is_index: true,
        entries,
    }
}

#[test]
fn a_list_of_passed_children_verifies_and_an_untested_child_is_named() {
    let report = fixtures::all_passing();
    assert!(unverified(&list(&report, None), &wire_of(&report)).is_empty());
    let bad = unverified(&list(&report, Some("sha256:untested")), &wire_of(&report));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].digest, "sha256:untested");
    assert!(bad[0].why.contains("was not tested"), "{}", bad[0].why);
}

#[test]
fn a_child_that_failed_is_named_with_its_platform() {
    let mut report = fixtures::all_passing();
    report.platforms[1].tests[0].status = crate::outcome::TestStatus::Failed;
    let bad = unverified(&list(&report, None), &wire_of(&report));
    assert_eq!(bad.len(), 1);
    let p = report.platforms[1].platform.to_string();
    assert!(bad[0].why.contains("did not pass"), "{}", bad[0].why);
    assert!(bad[0].why.contains(&p), "{}", bad[0].why);
}

/// Verify names a test's status with the reports' words: a test that could not run says so,
/// as the terminal, JUnit and HTML reports say it.
#[test]
fn a_test_that_could_not_run_is_named_in_the_reports_words() {
    let mut report = fixtures::all_passing();
    report.platforms[1].tests[0].status = crate::outcome::TestStatus::Error;
    let name = report.platforms[1].tests[0].name.clone();
    let bad = unverified(&list(&report, None), &wire_of(&report));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].why.contains(&format!("{name} (could not run)")),
        "{}",
        bad[0].why
    );
}

/// The first bypass: a platform whose tests were all limited to another one ran nothing.
#[test]
fn a_child_that_ran_no_test_is_refused() {
    let mut report = fixtures::all_passing();
    report.platforms[1].tests.clear();
    let bad = unverified(&list(&report, None), &wire_of(&report));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].why.contains("not tested"), "{}", bad[0].why);
    assert!(
        bad[0].why.contains("fewer than the 1 required"),
        "{}",
        bad[0].why
    );
}

/// The second bypass: the report's own words say failed; the rows were emptied by hand.
#[test]
fn an_edited_report_that_says_failed_or_interrupted_is_refused() {
    let report = fixtures::all_passing();
    let mut w = wire_of(&report);
    w.interrupted = true;
    w.result = Some(Verdict::Failed);
    w.exit_code = Some(1);
    for p in &mut w.platforms {
        p.result = Some(Verdict::Failed);
        p.tests.clear();
    }
    let bad = unverified(&list(&report, None), &w);
    assert_eq!(bad.len(), report.platforms.len());
    for b in &bad {
        assert!(b.why.contains("interrupted"), "{}", b.why);
        assert!(b.why.contains("the report says failed"), "{}", b.why);
        assert!(b.why.contains("fewer than"), "{}", b.why);
    }
}

#[test]
fn a_verdict_edited_to_passed_does_not_outvote_a_failed_test() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests[0].status = crate::outcome::TestStatus::TimedOut;
    let mut w = wire_of(&report);
    w.platforms[0].result = Some(Verdict::Passed);
    let bad = unverified(&list(&report, None), &w);
    assert_eq!(bad.len(), 1);
    assert!(bad[0].why.contains("timed out"), "{}", bad[0].why);
}

#[test]
fn min_tests_counts_passed_tests_of_the_child_itself() {
    let report = fixtures::all_passing();
    let w = wire_of(&report);
    let l = list(&report, None);
    let each = report.platforms[0].tests.len();
    let ok = children(&l, &w, Rules { min_tests: each });
    assert!(ok.iter().all(Child::verified), "{ok:?}");
    let strict = children(
        &l,
        &w,
        Rules {
            min_tests: each + 1,
        },
    );
    assert!(strict.iter().all(|c| !c.verified()));
    assert!(strict[0].refusals[0].contains(&format!("fewer than the {}", each + 1)));
}
