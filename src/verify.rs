//! `archsmoke verify LIST --report REPORT.json`: the bytes promoted are the bytes tested. In the
//! native-runner pattern each runner pushes a single-platform image and a final job assembles
//! the list (`docker buildx imagetools create`); verify then checks that every runnable child of
//! the assembled list is a manifest digest that passed in the report (or in the merged report
//! of the shards), and names every child that did not. Pure: the list and the report come in
//! already read.

use crate::image::{EntryKind, ResolvedImage};
use crate::outcome::RunReport;
use crate::platform::Platform;

/// A child of the list that the report does not vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub platform: Option<Platform>,
    pub digest: String,
    pub why: String,
}

/// Every runnable child of `list` that did not pass in `report`, in index order.
pub fn unverified(list: &ResolvedImage, report: &RunReport) -> Vec<Unverified> {
    list.entries
        .iter()
        .filter(|e| e.kind == EntryKind::Image)
        .filter_map(|e| {
            let rows: Vec<_> = report
                .platforms
                .iter()
                .filter(|p| p.entry.as_ref().is_some_and(|x| x.digest == e.digest))
                .collect();
            let why = if rows.is_empty() {
                "was not tested: no platform of the report ran this digest".to_owned()
            } else if rows.iter().all(|p| p.ok()) {
                return None;
            } else {
                let failed: Vec<String> = rows
                    .iter()
                    .filter(|p| !p.ok())
                    .map(|p| p.platform.to_string())
                    .collect();
                format!("did not pass (on {})", failed.join(", "))
            };
            Some(Unverified {
                platform: e.platform.clone(),
                digest: e.digest.clone(),
                why,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::IndexEntry;
    use crate::report::fixtures;

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
                kind: EntryKind::Image,
                nested_in: None,
            })
            .collect();
        if let Some(d) = extra {
            entries.push(IndexEntry {
                digest: d.into(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 1,
                platform: Platform::parse("linux/s390x").ok(),
                kind: EntryKind::Image,
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
        assert!(unverified(&list(&report, None), &report).is_empty());
        let bad = unverified(&list(&report, Some("sha256:untested")), &report);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].digest, "sha256:untested");
        assert!(bad[0].why.contains("was not tested"), "{}", bad[0].why);
    }

    #[test]
    fn a_child_that_failed_is_named_with_its_platform() {
        let mut report = fixtures::all_passing();
        report.platforms[1].tests[0].status = crate::outcome::TestStatus::Failed;
        let bad = unverified(&list(&report, None), &report);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].why.contains("did not pass"), "{}", bad[0].why);
    }
}
