//! The live view drawn on indicatif's in-memory terminal (a vt100 emulator): what a person sees.

use std::time::Duration;

use indicatif::{InMemoryTerm, ProgressDrawTarget};

use super::*;
use crate::outcome::{Problem, ProblemKind};
use crate::report::fixtures::{self, emulated, native, passed};

fn view(term: &InMemoryTerm) -> LiveView {
    LiveView::new(
        ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 100),
        TerminalOptions {
            color: false,
            quiet: false,
        },
        false,
    )
}

fn started(platforms: &[&str]) -> Event {
    Event::RunStarted {
        run_id: "abc123".into(),
        image: "127.0.0.1:5000/archsmoke/busybox:multi".into(),
        platforms: platforms.iter().map(|p| fixtures::platform(p)).collect(),
        tests: 4,
    }
}

/// The screen's line that starts with the platform's name (after the indent).
fn line_of(term: &InMemoryTerm, platform: &str) -> String {
    term.contents()
        .lines()
        .find(|l| l.trim_start().starts_with(platform))
        .unwrap_or_else(|| panic!("no line for {platform} on screen:\n{}", term.contents()))
        .to_owned()
}

/// indicatif limits its redraw rate; a state change is drawn after at most one interval.
fn settle() {
    std::thread::sleep(Duration::from_millis(30));
}

#[test]
fn each_platform_has_a_line_that_follows_its_progress() {
    let term = InMemoryTerm::new(20, 100);
    let mut live = view(&term);
    live.handle(&started(&["linux/arm64", "linux/amd64"]));
    settle();
    assert!(
        term.contents()
            .starts_with("testing 127.0.0.1:5000/archsmoke/busybox:multi: 2 platform(s)"),
        "{}",
        term.contents()
    );
    assert!(line_of(&term, "linux/arm64").contains("waiting"));

    let arm = fixtures::platform("linux/arm64");
    live.handle(&Event::PlatformStarted {
        platform: arm.clone(),
        mode: Some(emulated("aarch64")),
        engine: Some("arm-box".into()),
        tests: 2,
    });
    settle();
    let resolving = line_of(&term, "linux/arm64");
    assert!(
        resolving.contains("qemu-aarch64 7.2.11 on arm-box") && resolving.contains("  resolving"),
        "{resolving}"
    );
    live.handle(&Event::PullStarted {
        platform: arm.clone(),
    });
    settle();
    assert!(line_of(&term, "linux/arm64").contains("pulling"));
    live.handle(&Event::PullFinished {
        platform: arm.clone(),
        pulled: true,
        duration: Duration::from_millis(300),
    });
    live.handle(&Event::TestFinished {
        platform: arm.clone(),
        test: passed("shell runs", "hello\n", 100),
    });
    settle();
    let running = line_of(&term, "linux/arm64");
    assert!(running.contains("running 1/2"), "{running}");
    assert!(
        line_of(&term, "linux/amd64").contains("waiting"),
        "the other platform's line is untouched"
    );

    let mut report = fixtures::all_passing();
    let arm_report = report.platforms.remove(1);
    assert_eq!(arm_report.platform, arm);
    live.handle(&Event::PlatformFinished { report: arm_report });
    settle();
    let done = line_of(&term, "linux/arm64");
    assert!(done.contains("done   2/2 passed"), "{done}");
    assert!(
        !done.contains('\u{1b}'),
        "no colour was asked for: {done:?}"
    );
    live.finish();
}

#[test]
fn failures_are_printed_above_the_lines_and_the_line_says_failed() {
    let term = InMemoryTerm::new(20, 120);
    let mut live = view(&term);
    live.handle(&started(&["linux/amd64", "linux/arm64"]));
    let mixed = fixtures::mixed();
    let arm = mixed.platforms[1].clone();
    for t in &arm.tests {
        live.handle(&Event::TestFinished {
            platform: arm.platform.clone(),
            test: t.clone(),
        });
    }
    live.handle(&Event::PlatformFinished { report: arm });
    settle();
    let screen = term.contents();
    let rows: Vec<&str> = screen.lines().collect();
    let fail = rows
        .iter()
        .position(|l| l.starts_with("[linux/arm64] FAIL uname"))
        .unwrap_or_else(|| panic!("failure printed:\n{screen}"));
    let line = rows
        .iter()
        .position(|l| l.trim_start().starts_with("linux/arm64"))
        .expect("arm64 line");
    assert!(fail < line, "printed above the live lines:\n{screen}");
    assert!(
        screen.contains("[linux/arm64] TIMEOUT node starts"),
        "{screen}"
    );
    assert!(
        !screen.contains("pass shell runs"),
        "passing tests are not printed:\n{screen}"
    );
    assert!(rows[line].contains("FAILED 1/4 passed"), "{}", rows[line]);
}

#[test]
fn skipped_and_broken_platforms_finish_their_lines() {
    let term = InMemoryTerm::new(20, 120);
    let mut live = view(&term);
    live.handle(&started(&["linux/amd64", "linux/arm/v7"]));
    let mut amd = fixtures::all_passing().platforms.remove(0);
    amd.problem = Some(Problem {
        kind: ProblemKind::NotTested,
        message: "not tested: policy".into(),
        hint: None,
    });
    amd.mode = Some(native());
    live.handle(&Event::PlatformFinished { report: amd });
    let arm = fixtures::mixed().platforms.remove(2);
    live.handle(&Event::PlatformFinished { report: arm });
    settle();
    assert!(line_of(&term, "linux/amd64").contains("skipped"));
    assert!(line_of(&term, "linux/arm/v7").contains("error"));
    assert!(
        term.contents()
            .contains("[linux/arm/v7] ERROR linux/arm/v7 cannot run here"),
        "{}",
        term.contents()
    );
    assert!(
        !term.contents().contains("[linux/amd64]"),
        "a skip is no failure to shout about"
    );
}

#[test]
fn colour_only_when_asked() {
    let term = InMemoryTerm::new(10, 100);
    let mut live = LiveView::new(
        ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 100),
        TerminalOptions {
            color: true,
            quiet: false,
        },
        false,
    );
    live.handle(&started(&["linux/amd64"]));
    let amd = fixtures::all_passing().platforms.remove(0);
    live.handle(&Event::PlatformFinished { report: amd });
    settle();
    let formatted = String::from_utf8_lossy(&term.contents_formatted()).into_owned();
    assert!(
        formatted.contains("\u{1b}[32m"),
        "green on a colour terminal: {formatted:?}"
    );
}

#[test]
fn only_a_real_terminal_without_other_stderr_writers_gets_the_live_view() {
    assert!(wanted(true, false, 0, false, Some("xterm-256color")));
    assert!(wanted(true, false, 0, false, None));
    assert!(!wanted(false, false, 0, false, Some("xterm")), "CI logs");
    assert!(!wanted(true, true, 0, false, Some("xterm")), "-q");
    assert!(!wanted(true, false, 1, false, Some("xterm")), "-v");
    assert!(!wanted(true, false, 0, true, Some("xterm")), "RUST_LOG");
    assert!(!wanted(true, false, 0, false, Some("dumb")), "TERM=dumb");
}

#[test]
fn a_pipeline_warning_is_printed_above_the_lines_with_secrets_masked() {
    let term = InMemoryTerm::new(20, 120);
    let mut live = view(&term);
    live.handle(&started(&["linux/arm64"]));
    crate::redact::register(["warning-secret-4711"]);
    live.handle(&Event::Warning {
        message: "could not sweep engine \"remote\": token warning-secret-4711 refused".into(),
    });
    settle();
    let screen = term.contents();
    assert!(
        screen.contains("warning: could not sweep engine \"remote\": token"),
        "{screen}"
    );
    assert!(!screen.contains("warning-secret-4711"), "{screen}");
    assert!(line_of(&term, "linux/arm64").contains("waiting"));
}
