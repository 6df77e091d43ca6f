//! JSON reports are what `merge`, `verify --report` and `attest` read, and a report is a file
//! anyone in the pipeline can write: any text must read as a report or give an error, never a
//! panic. What reads must
//!
//! - round-trip: rendered again it reads back, and renders to the same text (the wire model is
//!   the one contract between CI shards);
//! - never be vouched for beyond what it shows: every child `verify` accepts has rows for
//!   exactly its digest, all saying passed, with at least one passed test and none that did
//!   not pass, no problem, in a run that was not interrupted (an independent restatement of
//!   the rule in src/verify.rs); a digest no row names is refused;
//! - give attestation statements only for digests its rows name;
//! - merge with itself without a panic.
#![no_main]

use archsmoke::image::{IndexEntryKind, IndexEntry, ResolvedImage};
use archsmoke::outcome::TestStatus;
use archsmoke::report::json::{self, wire};
use archsmoke::report::{merge, read};
use archsmoke::verify;
use libfuzzer_sys::fuzz_target;

const UNTESTED: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = match read::parse_wire(text) {
        Ok(report) => report,
        Err(e) => {
            assert!(!e.is_empty());
            return;
        }
    };

    // Round trip.
    let once = json::render(&report.clone().into_run_report());
    let again = read::parse(&once).unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{once}"));
    assert_eq!(json::render(&again), once, "a second round trip changed the report");

    // verify.
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
    entries.push(IndexEntry {
        digest: UNTESTED.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        size: 1,
        platform: None,
        kind: IndexEntryKind::Image,
        nested_in: None,
    });
    let list = ResolvedImage {
        reference: "registry.example/app:1".into(),
        digest: "sha256:list".into(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        is_index: true,
        entries,
    };
    for child in verify::children(&list, &report, verify::Rules::default()) {
        let rows: Vec<&wire::PlatformRow> = report
            .platforms
            .iter()
            .filter(|p| p.entry.as_ref().is_some_and(|e| e.digest == child.digest))
            .collect();
        if child.digest == UNTESTED && rows.is_empty() {
            assert!(!child.verified(), "a digest no row names was verified");
        }
        if !child.verified() {
            assert!(child.refusals.iter().all(|r| !r.is_empty()));
            continue;
        }
        assert!(!report.interrupted && report.problem.is_none(), "{child:?}");
        assert!(!rows.is_empty(), "{child:?}");
        for row in rows {
            assert!(matches!(row.result, Some(wire::Verdict::Passed)), "{child:?}");
            assert!(row.problem.is_none(), "{child:?}");
            assert!(row.tests.iter().all(|t| t.status == TestStatus::Passed), "{child:?}");
            assert!(row.tests.iter().any(|t| t.status == TestStatus::Passed), "{child:?}");
        }
    }

    // Attestation statements name only digests of the rows.
    for statement in archsmoke::attest::statement::statements(&report, "registry.example/app") {
        let digest = statement.subject_digest().expect("a statement has a sha256 subject");
        assert!(
            report
                .platforms
                .iter()
                .any(|p| p.entry.as_ref().is_some_and(|e| e.digest == digest)),
            "a statement for {digest}, which no row names"
        );
        serde_json::to_vec(&statement).expect("a statement serializes");
    }

    // merge.
    let run = report.into_run_report();
    let _ = merge::merge(vec![("a.json".into(), run.clone()), ("b.json".into(), run)]);
});
