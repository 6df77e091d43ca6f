//! Checks across platforms: a test marked `same_output` must print the same stdout everywhere;
//! a platform run both natively and emulated lists every test the two rows disagree on.

use crate::outcome::{
    EmulationDifference, Mismatch, PlatformReport, RunReport, TestReport, TestStatus,
};
use crate::platform::Platform;

/// A captured stream as the report keeps it: head, bytes omitted between, tail. Two streams are
/// the same output only when all three agree: a long output cut by the capture limit keeps its
/// beginning too, and two runs that differ only there are not the same.
fn stdout_of(t: &TestReport) -> (&str, u64, &str) {
    (&t.stdout_head, t.stdout_omitted, &t.stdout)
}

fn stderr_of(t: &TestReport) -> (&str, u64, &str) {
    (&t.stderr_head, t.stderr_omitted, &t.stderr)
}

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
        let reference = report.platforms[rp].tests[rt].clone();
        let (ref_head, ref_omitted, ref_tail) = stdout_of(&reference);
        for (pi, ti) in outputs {
            if (pi, ti) == (rp, rt) {
                continue;
            }
            let test = &mut report.platforms[pi].tests[ti];
            let (head, omitted, tail) = stdout_of(test);
            if (head, omitted, tail) == (ref_head, ref_omitted, ref_tail) {
                continue;
            }
            // Show the part that differs: the tail, unless only the beginnings (or the amount
            // cut between) do.
            let mismatch = if tail != ref_tail {
                Mismatch {
                    check: format!("same output as {ref_platform}"),
                    expected: ref_tail.to_owned(),
                    actual: tail.to_owned(),
                    note: None,
                }
            } else {
                Mismatch {
                    check: format!("same output as {ref_platform} (the beginning of stdout)"),
                    expected: ref_head.to_owned(),
                    actual: head.to_owned(),
                    note: (omitted != ref_omitted).then(|| {
                        format!(
                            "{ref_omitted} byte(s) omitted between head and tail there, \
                             {omitted} here"
                        )
                    }),
                }
            };
            test.mismatches.push(mismatch);
            test.status = TestStatus::Failed;
        }
    }
}

/// Every test of a platform compared natively and emulated (`--compare-emulation`) whose
/// outcome, exit code or output differs between the native row and the emulated one: what
/// emulation changes, measured rather than guessed. Tests that did not run on both rows (not
/// run, skipped, or an engine that could not run them) are left out: an engine's failure says
/// nothing about emulation, and the failures section already shows it.
pub fn emulation_differences(platforms: &[PlatformReport]) -> Vec<EmulationDifference> {
    let ran = |t: &&crate::outcome::TestReport| t.status.ran();
    let mut out = Vec::new();
    for native in platforms
        .iter()
        .filter(|p| p.mode.as_ref().is_some_and(|m| m.is_native()))
    {
        let Some(emulated) = platforms.iter().find(|p| {
            p.platform == native.platform && p.mode.as_ref().is_some_and(|m| m.is_emulated())
        }) else {
            continue;
        };
        for n in native.tests.iter().filter(ran) {
            let Some(e) = emulated.tests.iter().filter(ran).find(|e| e.name == n.name) else {
                continue;
            };
            let mut differs = Vec::new();
            if n.status != e.status {
                differs.push("outcome".to_owned());
            }
            if n.exit_code != e.exit_code {
                differs.push("exit code".to_owned());
            }
            if stdout_of(n) != stdout_of(e) {
                differs.push("stdout".to_owned());
            }
            if stderr_of(n) != stderr_of(e) {
                differs.push("stderr".to_owned());
            }
            if !differs.is_empty() {
                out.push(EmulationDifference {
                    platform: native.platform.clone(),
                    test: n.name.clone(),
                    native_engine: native.engine.clone(),
                    emulated_engine: emulated.engine.clone(),
                    native: n.status,
                    emulated: e.status,
                    differs,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{emulated, native, passed, platform_report, run};

    /// arm64 natively on an arm64 engine, and emulated on the default (amd64) one.
    fn compared() -> RunReport {
        let mut on_arm = platform_report(
            "linux/arm64",
            1,
            Some(native()),
            vec![
                passed("machine", "aarch64\n", 100),
                passed("page size", "4096\n", 200),
            ],
        );
        on_arm.engine = Some("arm64-box".into());
        let emulated_row = platform_report(
            "linux/arm64",
            1,
            Some(emulated("aarch64")),
            vec![
                passed("machine", "aarch64\n", 300),
                passed("page size", "65536\n", 800),
            ],
        );
        run(vec![on_arm, emulated_row])
    }

    #[test]
    fn a_test_whose_output_differs_under_emulation_is_listed_with_both_engines() {
        let report = compared();
        let found = emulation_differences(&report.platforms);
        assert_eq!(found.len(), 1, "{found:#?}");
        let d = &found[0];
        assert_eq!(d.test, "page size");
        assert_eq!(d.differs, ["stdout"]);
        assert_eq!(d.native_engine.as_deref(), Some("arm64-box"));
        assert_eq!(d.emulated_engine.as_deref(), Some("default"));
    }

    /// Two long outputs with the same last lines but different first ones (the capture kept
    /// both ends) are different outputs, both for `same_output` and under emulation.
    #[test]
    fn outputs_that_differ_only_before_the_cut_differ() {
        let mut report = compared();
        for (p, head) in [(0, "native start\n"), (1, "emulated start\n")] {
            let t = &mut report.platforms[p].tests[0];
            t.stdout_head = head.into();
            t.stdout_omitted = 1000;
        }
        let found = emulation_differences(&report.platforms);
        assert!(
            found
                .iter()
                .any(|d| d.test == "machine" && d.differs == ["stdout"]),
            "{found:#?}"
        );
        let native = report.platforms[0].platform.clone();
        same_output(&mut report, &["machine".to_owned()], &native);
        let t = &report.platforms[1].tests[0];
        assert_eq!(t.status, TestStatus::Failed, "{t:#?}");
        let m = &t.mismatches[0];
        assert!(m.check.contains("the beginning of stdout"), "{m:#?}");
        assert_eq!(m.expected, "native start\n");
        assert_eq!(m.actual, "emulated start\n");
        assert!(m.note.is_none(), "{m:#?}");
        // The same beginning, a different amount cut: still different, and the note says so.
        let mut report = compared();
        report.platforms[0].tests[0].stdout_omitted = 10;
        report.platforms[1].tests[0].stdout_omitted = 20;
        same_output(&mut report, &["machine".to_owned()], &native);
        let m = &report.platforms[1].tests[0].mismatches[0];
        assert!(
            m.note.as_deref().is_some_and(|n| n.contains("10 byte(s)")),
            "{m:#?}"
        );
    }

    #[test]
    fn an_engine_that_could_not_run_a_test_is_no_emulation_difference() {
        let mut report = compared();
        report.platforms[0].tests[1] = crate::report::fixtures::engine_error("page size");
        assert!(emulation_differences(&report.platforms).is_empty());
    }

    #[test]
    fn the_emulated_twin_is_timed_against_its_native_twin() {
        let report = compared();
        let twin = &report.platforms[1];
        // 300 ms and 800 ms against 100 ms and 200 ms: 3× and 4×, 11/3 in all.
        let close = |x: Option<f64>, want: f64| x.is_some_and(|x| (x - want).abs() < 1e-9);
        assert!(
            close(twin.tests[0].slowdown, 3.0),
            "{:?}",
            twin.tests[0].slowdown
        );
        assert!(
            close(twin.tests[1].slowdown, 4.0),
            "{:?}",
            twin.tests[1].slowdown
        );
        let whole = twin.slowdown.expect("a slowdown");
        assert!((whole - 11.0 / 3.0).abs() < 1e-9, "{whole}");
    }
}
