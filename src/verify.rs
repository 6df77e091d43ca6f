//! `archsmoke verify LIST --report REPORT.json`: the bytes promoted are the bytes tested. In the
//! native-runner pattern each runner pushes a single-platform image and a final job assembles
//! the list (`docker buildx imagetools create`); verify then checks that every runnable child of
//! the assembled list is a manifest digest that passed in the report (or in the merged report
//! of the shards), and names every child that did not. Pure: the list and the report come in
//! already read, the report as written ([`wire::Report`]), so that what the report *says*
//! (its verdicts) is checked as well as what its rows show.
//!
//! # The rule
//!
//! A child verifies only when every report row for exactly its digest
//!
//! 1. says `"result": "passed"`, and its tests agree (none failed, timed out, errored or was
//!    left unrun: an edited verdict does not outvote the rows),
//! 2. has at least [`Rules::min_tests`] tests of its own that passed (a platform that ran
//!    nothing proves nothing),
//! 3. has no problem,
//!
//! and the run itself was not interrupted and had no problem. There must be at least one such
//! row: a child nobody tested is refused.

use crate::image::{IndexEntryKind, ResolvedImage};
use crate::outcome::TestStatus;
use crate::platform::Platform;
use crate::report::json::wire::{self, Verdict};
use crate::report::words;

/// What verify demands of each child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Passed tests a row needs of its own (`--min-tests`, default 1).
    pub min_tests: usize,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules { min_tests: 1 }
    }
}

/// One child of the list and what the report says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub platform: Option<Platform>,
    pub digest: String,
    /// Passed tests over all tests of its rows (0/0 when no row names it).
    pub passed: usize,
    pub tests: usize,
    /// Every reason it is refused; empty when it verifies.
    pub refusals: Vec<String>,
}

impl Child {
    pub fn verified(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// A child of the list that the report does not vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub platform: Option<Platform>,
    pub digest: String,
    pub why: String,
}

/// Every runnable child of `list`, in index order, judged against `report` by `rules`.
pub fn children(list: &ResolvedImage, report: &wire::Report, rules: Rules) -> Vec<Child> {
    let run_refusals = run_refusals(report);
    list.entries
        .iter()
        .filter(|e| e.kind == IndexEntryKind::Image)
        .map(|e| {
            let rows: Vec<&wire::PlatformRow> = report
                .platforms
                .iter()
                .filter(|p| p.entry.as_ref().is_some_and(|x| x.digest == e.digest))
                .collect();
            let mut refusals = run_refusals.clone();
            if rows.is_empty() {
                refusals.push("was not tested: no platform of the report ran this digest".into());
            }
            for row in &rows {
                refusals.extend(row_refusals(row, rules));
            }
            let count = |s: Option<TestStatus>| {
                rows.iter()
                    .flat_map(|r| &r.tests)
                    .filter(|t| s.is_none_or(|s| t.status == s))
                    .count()
            };
            Child {
                platform: e.platform.clone(),
                digest: e.digest.clone(),
                passed: count(Some(TestStatus::Passed)),
                tests: count(None),
                refusals,
            }
        })
        .collect()
}

/// Every runnable child of `list` that `report` does not vouch for (by the default rules), in
/// index order.
pub fn unverified(list: &ResolvedImage, report: &wire::Report) -> Vec<Unverified> {
    children(list, report, Rules::default())
        .into_iter()
        .filter(|c| !c.verified())
        .map(|c| Unverified {
            platform: c.platform,
            digest: c.digest,
            why: c.refusals.join("; "),
        })
        .collect()
}

/// Reasons that refuse every child: the run as a whole cannot vouch for anything.
fn run_refusals(report: &wire::Report) -> Vec<String> {
    let mut out = Vec::new();
    if report.interrupted {
        out.push("the run was interrupted, so it did not finish what it vouches for".into());
    }
    if let Some(p) = &report.problem {
        out.push(format!("the run had a problem: {}", p.message));
    }
    out
}

/// Why one row of the report does not vouch for its digest.
fn row_refusals(row: &wire::PlatformRow, rules: Rules) -> Vec<String> {
    let on = &row.platform;
    let mut out = Vec::new();
    match row.result {
        Some(Verdict::Passed) => {}
        Some(v) => out.push(format!(
            "the report says {} on {on}",
            words::verdict(v.into())
        )),
        None => out.push(format!("the report gives no result for {on}")),
    }
    let bad: Vec<String> = row
        .tests
        .iter()
        .filter(|t| !matches!(t.status, TestStatus::Passed))
        .map(|t| format!("{} ({})", t.name, words::status(t.status)))
        .collect();
    if !bad.is_empty() {
        out.push(format!("on {on} these did not pass: {}", bad.join(", ")));
    }
    let passed = row
        .tests
        .iter()
        .filter(|t| t.status == TestStatus::Passed)
        .count();
    if passed < rules.min_tests {
        out.push(format!(
            "{passed} test(s) passed on {on}, fewer than the {} required (--min-tests): a \
             platform that ran nothing proves nothing",
            rules.min_tests
        ));
    }
    if let Some(p) = &row.problem {
        out.push(format!("{on} had a problem: {}", p.message));
    }
    out
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
