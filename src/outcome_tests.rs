//! The exit-code contract and the slowdown arithmetic, on the reporters' fixture reports.

use std::time::Duration;

use super::*;
use crate::report::fixtures::{
    all_passing, engine_error, failed, interrupted, mismatch, mixed, not_run, passed, platform,
    registry_unreachable, timed_out,
};

fn problem(kind: ProblemKind) -> Problem {
    Problem {
        kind,
        message: "m".into(),
        hint: None,
    }
}

/// What each problem of a platform does to the exit code, decided here for every kind: a new
/// kind does not compile until someone says what it means for CI.
fn expected(kind: ProblemKind) -> i32 {
    match kind {
        ProblemKind::MissingPlatform | ProblemKind::ConfigMismatch | ProblemKind::NativeProcess => {
            exit::TEST_FAILED
        }
        ProblemKind::EmulatorUnavailable
        | ProblemKind::Registry
        | ProblemKind::Engine
        | ProblemKind::Interrupted
        | ProblemKind::EmulationForbidden => exit::INFRASTRUCTURE,
        ProblemKind::NotTested => exit::SUCCESS,
    }
}

const KINDS: [ProblemKind; 9] = [
    ProblemKind::MissingPlatform,
    ProblemKind::ConfigMismatch,
    ProblemKind::NativeProcess,
    ProblemKind::EmulatorUnavailable,
    ProblemKind::Registry,
    ProblemKind::Engine,
    ProblemKind::Interrupted,
    ProblemKind::EmulationForbidden,
    ProblemKind::NotTested,
];

#[test]
fn a_platform_problem_sets_the_exit_code_by_its_kind() {
    for kind in KINDS {
        let mut report = all_passing();
        report.platforms[1].problem = Some(problem(kind));
        assert_eq!(report.exit_code(), expected(kind), "{kind:?}");
        assert_eq!(kind.is_defect(), expected(kind) == exit::TEST_FAILED);
    }
}

#[test]
fn test_statuses_set_the_exit_code() {
    assert_eq!(all_passing().exit_code(), exit::SUCCESS);
    let with = |test: TestReport| {
        let mut report = all_passing();
        report.platforms[1].tests.push(test);
        report.exit_code()
    };
    let wrong = vec![mismatch("stdout", "a", "b")];
    assert_eq!(with(failed("f", 1, "", wrong)), exit::TEST_FAILED);
    assert_eq!(with(timed_out("t")), exit::TEST_FAILED);
    assert_eq!(with(engine_error("e")), exit::INFRASTRUCTURE);
    assert_eq!(with(not_run("n")), exit::INFRASTRUCTURE);
    let mut skipped = passed("s", "", 0);
    skipped.status = TestStatus::Skipped;
    assert_eq!(with(skipped), exit::SUCCESS);
}

#[test]
fn a_proven_defect_outranks_broken_infrastructure() {
    let mut report = all_passing();
    report.platforms[0].tests.push(engine_error("e"));
    report.platforms[1].problem = Some(problem(ProblemKind::ConfigMismatch));
    assert_eq!(report.exit_code(), exit::TEST_FAILED);
    report.interrupted = true;
    report.problem = Some(problem(ProblemKind::Engine));
    assert_eq!(report.exit_code(), exit::TEST_FAILED);
    assert_eq!(mixed().exit_code(), exit::TEST_FAILED);
}

#[test]
fn a_run_that_never_ran_or_was_interrupted_is_infrastructure() {
    assert_eq!(registry_unreachable().exit_code(), exit::INFRASTRUCTURE);
    assert_eq!(interrupted().exit_code(), exit::INFRASTRUCTURE);
    let mut report = all_passing();
    report.interrupted = true;
    assert_eq!(report.exit_code(), exit::INFRASTRUCTURE);
}

#[test]
fn skipped_and_ok_platforms() {
    let mut report = all_passing();
    assert!(report.platforms.iter().all(PlatformReport::ok));
    report.platforms[1].problem = Some(problem(ProblemKind::NotTested));
    assert!(report.platforms[1].skipped() && !report.platforms[1].ok());
    report.platforms[0].tests.push(timed_out("t"));
    assert_eq!(
        (report.platforms[0].passed(), report.platforms[0].failed()),
        (2, 1)
    );
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn slowdowns_compare_passed_tests_with_the_native_platform() {
    // amd64 110 ms + 90 ms; arm64 1100 ms + 950 ms (the fixture computes them against amd64).
    let report = all_passing();
    let (amd, arm) = (&report.platforms[0], &report.platforms[1]);
    assert!(close(amd.slowdown, 1.0));
    assert!(close(arm.tests[0].slowdown, 10.0));
    assert!(close(arm.tests[1].slowdown, 950.0 / 90.0));
    assert!(close(arm.slowdown, 2050.0 / 200.0));
}

#[test]
fn slowdowns_skip_what_cannot_be_compared() {
    let mut report = all_passing();
    for p in &mut report.platforms {
        p.slowdown = None;
        p.tests.iter_mut().for_each(|t| t.slowdown = None);
    }
    // A test that failed here, one native never ran, and one whose native time is zero.
    report.platforms[1].tests[1].status = TestStatus::Failed;
    report.platforms[1].tests.push(passed("arm only", "", 500));
    report.platforms[0].tests.push(passed("instant", "", 0));
    report.platforms[1].tests.push(passed("instant", "", 40));
    report.compute_slowdowns();
    let arm = &report.platforms[1];
    assert!(close(arm.tests[0].slowdown, 10.0));
    assert_eq!(
        (
            arm.tests[1].slowdown,
            arm.tests[2].slowdown,
            arm.tests[3].slowdown
        ),
        (None, None, None)
    );
    // Only the comparable test counts for the platform.
    assert!(close(arm.slowdown, 10.0));

    // No native platform in the run: nothing to compare with.
    let mut report = all_passing();
    report.platforms[0].tests[0].slowdown = None;
    report.platforms[1].slowdown = None;
    report.engines[0].platform = platform("linux/s390x");
    report.compute_slowdowns();
    assert_eq!(
        (
            report.platforms[0].tests[0].slowdown,
            report.platforms[1].slowdown
        ),
        (None, None)
    );
    assert_eq!(
        report.platforms[1].tests[0].duration,
        Duration::from_millis(1100)
    );
}

/// Issue 28: SLOW read 0.1× on a one-test run, the native platform's image audit (reading
/// layers beside the containers) dwarfing the emulated one's. Image checks are no part of it.
#[test]
fn image_checks_are_left_out_of_slowdowns() {
    let mut report = all_passing();
    let audit = |millis: u64| TestReport {
        command: None,
        timeout: Duration::ZERO,
        ..passed("audit elf", "", millis)
    };
    report.platforms[0].tests = vec![passed("machine", "", 100), audit(9000)];
    report.platforms[1].tests = vec![passed("machine", "", 300), audit(200)];
    for p in &mut report.platforms {
        p.slowdown = None;
    }
    report.compute_slowdowns();
    let arm = &report.platforms[1];
    assert!(close(arm.slowdown, 3.0), "{:?}", arm.slowdown);
    assert_eq!(arm.tests[1].slowdown, None);
}
