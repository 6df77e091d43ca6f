//! The terminal reporter's text: skipped platforms, quiet mode, no control codes without colour.

use super::*;
use crate::outcome::{Problem, ProblemKind};
use crate::report::fixtures;

fn render(report: &RunReport, quiet: bool) -> String {
    let mut out = Vec::new();
    summary(
        report,
        &mut out,
        TerminalOptions {
            color: false,
            quiet,
        },
    )
    .expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// all_passing() with linux/arm64 not tested on purpose.
fn with_a_skip() -> RunReport {
    let mut report = fixtures::all_passing();
    let arm = &mut report.platforms[1];
    arm.problem = Some(Problem {
        kind: ProblemKind::NotTested,
        message: "not tested: policy says so".into(),
        hint: Some("use --emulation allow".into()),
    });
    for t in &mut arm.tests {
        t.status = TestStatus::Skipped;
    }
    report
}

#[test]
fn a_skipped_platform_is_a_visible_row_and_does_not_fail_the_run() {
    let report = with_a_skip();
    assert_eq!(report.exit_code(), 0);
    let text = render(&report, false);
    let row = text
        .lines()
        .find(|l| l.starts_with("linux/arm64"))
        .expect("arm64 row");
    assert!(row.ends_with("skipped"), "{row}");
    assert!(
        text.contains("not tested:\n  linux/arm64 not tested: policy says so\n    = hint: use --emulation allow"),
        "{text}"
    );
    assert!(!text.contains("failures:"), "{text}");
    assert!(
        text.contains("PASSED: 1/1 platforms passed (1 not tested), 2/2 tests passed"),
        "{text}"
    );
}

#[test]
fn quiet_shows_failures_and_the_verdict_only() {
    let quiet = render(&fixtures::mixed(), true);
    assert!(!quiet.contains("PLATFORM"), "no matrix:\n{quiet}");
    assert!(!quiet.contains("engine Docker"), "{quiet}");
    assert!(quiet.contains("failures:"), "{quiet}");
    assert!(quiet.contains("linux/arm64 › uname failed"), "{quiet}");
    assert!(quiet.contains("\nFAILED: "), "{quiet}");
    let passing = render(&fixtures::all_passing(), true);
    assert_eq!(
        passing.trim(),
        passing.lines().last().expect("a line").trim()
    );
    assert!(
        passing.trim().starts_with("PASSED: 2/2 platforms passed"),
        "{passing}"
    );

    let opts = TerminalOptions {
        color: false,
        quiet: true,
    };
    let pass = Event::TestFinished {
        platform: fixtures::platform("linux/amd64"),
        test: fixtures::passed("ok", "", 10),
    };
    assert_eq!(event_line(&pass, opts), None, "passes are not printed");
    let progress = Event::PullFinished {
        platform: fixtures::platform("linux/amd64"),
        pulled: true,
        duration: std::time::Duration::from_secs(1),
    };
    assert_eq!(event_line(&progress, opts), None, "nor is progress");
    let fail = Event::TestFinished {
        platform: fixtures::platform("linux/amd64"),
        test: fixtures::timed_out("slow"),
    };
    assert!(
        event_line(&fail, opts)
            .expect("a failure is printed")
            .starts_with("[linux/amd64] TIMEOUT slow"),
    );
}

#[test]
fn no_colour_means_no_control_codes() {
    let text = render(&fixtures::mixed(), false);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    let mut coloured = Vec::new();
    summary(
        &fixtures::mixed(),
        &mut coloured,
        TerminalOptions {
            color: true,
            quiet: false,
        },
    )
    .expect("render");
    assert!(String::from_utf8_lossy(&coloured).contains('\u{1b}'));
}

#[test]
fn a_cut_failure_shows_both_ends_of_its_output_and_what_was_omitted() {
    let mut t = fixtures::failed("flood", 1, "199999\n200000\n", Vec::new());
    t.stderr.clear();
    t.stdout_head = "1\n2\n3\n".into();
    t.stdout_omitted = 12345;
    let mut out = Vec::new();
    test_failure("linux/amd64", &t, &mut out, &Palette::new(false)).expect("write to a Vec");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains(
            "stdout: 12345 bytes omitted between its first 6 and its last 14 bytes (output_limit)"
        ),
        "{text}"
    );
    assert!(text.contains(r#"begins: "1\n2\n3\n""#), "{text}");
    assert!(text.contains(r#"ends:   "199999\n200000\n""#), "{text}");
    assert!(!text.contains("stderr:"), "{text}");
    // A report written before heads were kept: the tail alone.
    let mut t = fixtures::failed("flood", 1, "tail", Vec::new());
    t.stdout_omitted = 12345;
    let mut out = Vec::new();
    test_failure("linux/amd64", &t, &mut out, &Palette::new(false)).expect("write to a Vec");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.contains(
            "stdout: its first 12345 bytes omitted (output_limit), its last 4 bytes kept"
        ),
        "{text}"
    );
    assert!(!text.contains("begins:"), "{text}");
}

#[test]
fn the_summary_says_where_the_time_went_and_skips_phases_never_reached() {
    let text = render(&fixtures::all_passing(), false);
    let last = text.lines().last().expect("a line");
    assert_eq!(
        last,
        "time: engine 14ms · index 9ms · containers 40.1s · audit 2.30s"
    );
    let mut partial = fixtures::all_passing();
    partial.phases.audit = None;
    let text = render(&partial, false);
    assert!(text.ends_with("containers 40.1s\n"), "{text}");
    assert!(!render(&fixtures::all_passing(), true).contains("time:"));
}

/// A static image check (the ELF audit) that fails on an emulated platform and passes on the
/// native one says nothing about emulation: only container tests are listed.
#[test]
fn image_checks_are_never_failures_only_under_emulation() {
    let audit = |status: TestStatus| TestReport {
        command: None,
        timeout: std::time::Duration::ZERO,
        status,
        ..fixtures::passed("audit elf", "", 5)
    };
    let report = fixtures::run(vec![
        fixtures::platform_report(
            "linux/amd64",
            1,
            Some(fixtures::native()),
            vec![fixtures::passed("cpu", "x", 10), audit(TestStatus::Passed)],
        ),
        fixtures::platform_report(
            "linux/arm64",
            2,
            Some(fixtures::emulated("aarch64")),
            vec![
                fixtures::failed("cpu", 1, "y", Vec::new()),
                audit(TestStatus::Failed),
            ],
        ),
    ]);
    let text = render(&report, false);
    assert!(
        text.contains("failed only under emulation (passed natively): cpu on linux/arm64\n"),
        "{text}"
    );
    assert!(!text.contains("audit elf on linux/arm64"), "{text}");
}

#[test]
fn a_platform_that_ran_nothing_says_not_tested_in_the_matrix_list_and_verdict() {
    let mut report = fixtures::all_passing();
    report.platforms[0].tests.clear();
    let text = render(&report, false);
    let row = text
        .lines()
        .find(|l| l.starts_with("linux/amd64"))
        .expect("amd64 row");
    assert!(row.ends_with("NOT TESTED"), "{text}");
    assert!(
        text.contains("FAILED (not every platform was tested): 1/2 platforms passed, 1 NOT TESTED"),
        "{text}"
    );
    assert!(
        text.contains("not tested:\n  linux/amd64 no test or image check ran on linux/amd64"),
        "{text}"
    );
}

/// Issue 28: at 80 columns (a CI log) the footnote was 80 wide plus the dim style's reset, and
/// the image and engine lines 82 to 95: every line of the summary now fits.
#[test]
fn every_line_fits_80_columns_with_a_long_reference_and_endpoint() {
    // terminal_width(): no COLUMNS and no terminal under `cargo test` is 80 columns.
    let mut report = fixtures::all_passing();
    report.image.reference = "127.0.0.1:5000/archsmoke/busybox:multi".into();
    report.image.attestations = 2;
    if let Some(e) = &mut report.engine {
        e.version = "20.10.24+dfsg1".into();
        e.endpoint = "unix:///var/run/docker.sock".into();
    }
    let text = render(&report, false);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}\n{text}",
            line.chars().count()
        );
    }
    assert!(
        text.contains("\n  2 attestation manifest(s) skipped\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  at unix:///var/run/docker.sock\n"),
        "{text}"
    );
}

/// Issue 28: `linux/arm64 linux/arm64 would run emulated ...`.
#[test]
fn a_problem_that_names_its_platform_is_not_headed_by_it_twice() {
    let mut report = fixtures::all_passing();
    let arm = &mut report.platforms[1];
    let name = arm.platform.to_string();
    arm.problem = Some(Problem {
        kind: ProblemKind::EmulationForbidden,
        message: format!("{name} would run emulated by qemu-aarch64, and the policy forbids it"),
        hint: None,
    });
    let text = render(&report, false);
    assert!(
        text.contains(&format!("\n  {name} would run emulated")),
        "{text}"
    );
    assert!(!text.contains(&format!("{name} {name}")), "{text}");
}

#[test]
fn a_warning_is_a_line_even_when_quiet() {
    let warning = Event::Warning {
        message: "engine \"remote\" did not answer".into(),
    };
    for quiet in [false, true] {
        let opts = TerminalOptions {
            color: false,
            quiet,
        };
        assert_eq!(
            event_line(&warning, opts).as_deref(),
            Some("warning: engine \"remote\" did not answer")
        );
    }
}

#[test]
fn a_note_is_a_line_unless_quiet() {
    let note = Event::Note {
        message: "probing 1 platform(s) on remote engines".into(),
    };
    let opts = |quiet| TerminalOptions {
        color: false,
        quiet,
    };
    assert_eq!(
        event_line(&note, opts(false)).as_deref(),
        Some("probing 1 platform(s) on remote engines")
    );
    assert_eq!(event_line(&note, opts(true)), None);
}
