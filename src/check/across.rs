//! Checks across platforms: a test marked `same_output` must print the same stdout everywhere.

use crate::outcome::{Mismatch, RunReport, TestStatus};
use crate::platform::Platform;

/// Fail every platform whose stdout for one of `tests` differs from the reference platform's:
/// the native one when it ran the test, else the first platform that did.
pub fn same_output(report: &mut RunReport, tests: &[String], native: &Platform) {
    for name in tests {
        let ran = |status: TestStatus| matches!(status, TestStatus::Passed | TestStatus::Failed);
        let outputs: Vec<(usize, usize)> = report
            .platforms
            .iter()
            .enumerate()
            .filter_map(|(pi, p)| {
                p.tests
                    .iter()
                    .position(|t| &t.name == name && ran(t.status))
                    .map(|ti| (pi, ti))
            })
            .collect();
        let reference = outputs
            .iter()
            .find(|(pi, _)| &report.platforms[*pi].platform == native)
            .or_else(|| outputs.first())
            .copied();
        let Some((rp, rt)) = reference else { continue };
        let ref_platform = report.platforms[rp].platform.clone();
        let ref_stdout = report.platforms[rp].tests[rt].stdout.clone();
        for (pi, ti) in outputs {
            if (pi, ti) == (rp, rt) {
                continue;
            }
            let test = &mut report.platforms[pi].tests[ti];
            if test.stdout != ref_stdout {
                test.mismatches.push(Mismatch {
                    check: format!("same output as {ref_platform}"),
                    expected: ref_stdout.clone(),
                    actual: test.stdout.clone(),
                });
                test.status = TestStatus::Failed;
            }
        }
    }
}
