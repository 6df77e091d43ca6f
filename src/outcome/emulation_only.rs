//! Tests that failed only under emulation: they passed where a native platform ran them and
//! failed (or timed out) where an emulated platform did. Every report shows the same list (the
//! terminal, JSON's `failed_only_under_emulation`, JUnit's failure message and suite property,
//! the HTML page), so it is computed once, here, from the platforms' results.

use serde::Serialize;

use super::{Platform, RunReport, TestReport, TestStatus, is_image_check};

/// One test of one emulated platform that passed natively and failed there.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EmulationOnly {
    pub platform: Platform,
    pub test: String,
    /// `failed` or `timed_out`.
    pub status: TestStatus,
    /// The native platforms where the same test passed.
    pub passed_natively_on: Vec<Platform>,
    /// The emulated run was held to other expectations than the native ones (a per-platform
    /// override), and the native output would not have met the ones that failed: the override
    /// may be what is wrong, rather than the emulator.
    pub per_platform_expectation: bool,
}

impl RunReport {
    /// Every test that passed on a native platform and failed or timed out on an emulated one,
    /// in platform order. An image check is never one: it reads the image, not a running
    /// platform, so its verdict cannot depend on emulation. A test with a per-platform override
    /// is one (it did fail only where it ran emulated), marked so that the reader checks the
    /// override too.
    pub fn emulation_only(&self) -> Vec<EmulationOnly> {
        let mut out = Vec::new();
        for r in &self.platforms {
            if !r.mode.as_ref().is_some_and(|m| m.is_emulated()) {
                continue;
            }
            for t in &r.tests {
                if is_image_check(t)
                    || !matches!(t.status, TestStatus::Failed | TestStatus::TimedOut)
                {
                    continue;
                }
                let native: Vec<(&Platform, &TestReport)> = self
                    .platforms
                    .iter()
                    .filter(|n| n.mode.as_ref().is_some_and(|m| m.is_native()))
                    .filter_map(|n| {
                        n.tests
                            .iter()
                            .find(|n| n.name == t.name && n.status == TestStatus::Passed)
                            .map(|nt| (&n.platform, nt))
                    })
                    .collect();
                if native.is_empty() {
                    continue;
                }
                let mut passed_natively_on: Vec<Platform> =
                    native.iter().map(|(p, _)| (*p).clone()).collect();
                passed_natively_on.dedup();
                out.push(EmulationOnly {
                    platform: r.platform.clone(),
                    test: t.name.clone(),
                    status: t.status,
                    passed_natively_on,
                    per_platform_expectation: !native
                        .iter()
                        .any(|(_, n)| meets_failed_expectations(n, t)),
                });
            }
        }
        out
    }
}

/// Whether the native run `native` also satisfies every expectation `emulated` failed (they
/// differ when a `per_platform` override applies to one of them). A timeout has no failed
/// expectation of its own: only the exit code expected is compared.
fn meets_failed_expectations(native: &TestReport, emulated: &TestReport) -> bool {
    native.expected_exit == emulated.expected_exit
        && emulated.mismatches.iter().all(|m| {
            let stream = |name: &str| match name {
                "stdout" => Some(native.stdout.as_str()),
                "stderr" => Some(native.stderr.as_str()),
                _ => None,
            };
            let (name, how) = m.check.split_once(' ').unwrap_or((m.check.as_str(), ""));
            match (stream(name), how) {
                (Some(actual), "") => actual == m.expected,
                (Some(actual), "contains") => actual.contains(m.expected.as_str()),
                (Some(actual), "matches") => regex::RegexBuilder::new(&m.expected)
                    .multi_line(true)
                    .build()
                    .map_or(true, |re| re.is_match(actual)),
                _ => true,
            }
        })
}
