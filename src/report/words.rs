//! The reports' one vocabulary: the words for a test's status, a failure, a platform's mode and a
//! problem's kind, and the number formats (seconds, slowdowns, digests) that the terminal, JUnit,
//! GitHub and HTML renderers print. A word changes here or nowhere, so two reports of one run
//! cannot name one thing two ways. The JSON report's words are its wire names
//! ([`problem_kind`] is shared with JUnit's `type`).

use std::borrow::Cow;
use std::time::Duration;

use crate::mode::ExecMode;
use crate::outcome::{EmulationOnly, Phases, PlatformVerdict, ProblemKind, TestStatus};

/// A test status as the reports' sentences say it.
pub fn status(s: TestStatus) -> &'static str {
    match s {
        TestStatus::Passed => "passed",
        TestStatus::Failed => "failed",
        TestStatus::TimedOut => "timed out",
        TestStatus::Error => "could not run",
        TestStatus::NotRun => "not run",
        TestStatus::Skipped => "skipped",
    }
}

/// A platform's verdict in prose and tables (`not tested`, not the JSON's `not_tested`).
pub fn verdict(v: PlatformVerdict) -> &'static str {
    match v {
        PlatformVerdict::Passed => "passed",
        PlatformVerdict::Failed => "failed",
        PlatformVerdict::Error => "error",
        PlatformVerdict::Skipped => "skipped",
        PlatformVerdict::NotTested => "not tested",
    }
}

/// What a test that did not pass did, as a failure's heading says it: it timed out, could not
/// run, or (anything else) failed.
pub fn failure_verb(s: TestStatus) -> &'static str {
    match s {
        TestStatus::TimedOut | TestStatus::Error => status(s),
        _ => status(TestStatus::Failed),
    }
}

/// `native` or `emulated`, as the charts tell a platform's bars apart; `None` for a platform
/// that did not run (unavailable, or no mode).
pub fn mode_kind(mode: Option<&ExecMode>) -> Option<&'static str> {
    match mode? {
        ExecMode::Native { .. } => Some("native"),
        ExecMode::Emulated { .. } => Some("emulated"),
        ExecMode::Unavailable { .. } => None,
    }
}

/// A mode in a table: `native`, `native (32-bit compat)`, `qemu-aarch64 7.2.22`, `unavailable`.
pub fn mode(mode: &ExecMode) -> String {
    mode.to_string()
}

/// The name of a problem kind in report files (JSON `kind`, JUnit `type`); part of both formats.
pub fn problem_kind(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::MissingPlatform => "missing_platform",
        ProblemKind::ConfigMismatch => "config_mismatch",
        ProblemKind::NativeProcess => "native_process",
        ProblemKind::EmulatorUnavailable => "emulator_unavailable",
        ProblemKind::Registry => "registry",
        ProblemKind::Engine => "engine",
        ProblemKind::Interrupted => "interrupted",
        ProblemKind::EmulationForbidden => "emulation_forbidden",
        ProblemKind::NotTested => "not_tested",
    }
}

/// Seconds for people: two decimals below ten seconds, one above (`1.25s`, `12.5s`).
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2}s")
    } else {
        format!("{s:.1}s")
    }
}

/// Seconds for machines (JUnit's `time`): milliseconds, no unit.
pub fn secs_exact(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// A slowdown as the matrices show it: one decimal, two below 0.1 (a system-emulated "native"
/// engine can be 30 times slower than QEMU user emulation, and `0.0×` would say nothing).
pub fn ratio(s: f64) -> String {
    if s < 0.1 {
        format!("{s:.2}×")
    } else {
        format!("{s:.1}×")
    }
}

/// A digest as tables show it: the first twelve hex digits, as `docker images` does.
pub fn short_digest(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.chars().take(12).collect()
}

/// Where a run's time went, a part a phase (`engine 12ms`, `emulators (cached) 0.16s`), each
/// duration written by `secs` (the terminal shows milliseconds, the page seconds).
pub fn phases(ph: &Phases, secs: fn(Duration) -> String) -> Vec<String> {
    [
        ("engine", ph.engine),
        ("index", ph.resolve),
        ("emulators", ph.probe.map(|p| p.duration)),
        ("containers", ph.run),
        ("audit", ph.audit),
    ]
    .into_iter()
    .filter_map(|(name, d)| {
        d.map(|d| {
            // Answers from the cache cost no container: say so, or the time looks too good.
            let cached = name == "emulators" && ph.probe.is_some_and(|p| p.probed == 0);
            format!(
                "{name}{} {}",
                if cached { " (cached)" } else { "" },
                secs(d)
            )
        })
    })
    .collect()
}

/// `failed only under emulation (passed natively on linux/amd64)`, with a word on a
/// per-platform expectation the native output would not meet.
pub fn emulation_only(e: &EmulationOnly) -> String {
    let on: Vec<String> = e
        .passed_natively_on
        .iter()
        .map(ToString::to_string)
        .collect();
    let what = match e.status {
        TestStatus::TimedOut => "timed out",
        _ => "failed",
    };
    let against = if e.per_platform_expectation {
        ", against its per-platform expectation"
    } else {
        ""
    };
    format!(
        "{what} only under emulation (passed natively on {}{against})",
        on.join(", ")
    )
}

/// The line that stands in a text for bytes it does not show: `[… 239999 bytes omitted …]`.
pub fn omitted(bytes: u64) -> String {
    format!("[… {bytes} bytes omitted …]")
}

/// A captured stream as every report shows it: all of it, or its head, the [`omitted`] line and
/// its tail. A report written before heads were kept has none: the line then opens the tail.
pub fn output<'a>(head: &str, omitted: u64, tail: &'a str) -> Cow<'a, str> {
    if omitted == 0 && head.is_empty() {
        return Cow::Borrowed(tail);
    }
    let mut s = String::with_capacity(head.len() + tail.len() + 40);
    s.push_str(head);
    if !head.is_empty() && !head.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&self::omitted(omitted));
    s.push('\n');
    s.push_str(tail);
    Cow::Owned(s)
}

/// What the capture limit did to a stream, as a failure's notes say it.
pub fn cut_note(stream: &str, head: &str, omitted: u64, tail: &str) -> String {
    if head.is_empty() {
        format!(
            "{stream}: its first {omitted} bytes omitted (output_limit), its last {} bytes kept",
            tail.len()
        )
    } else {
        format!(
            "{stream}: {omitted} bytes omitted between its first {} and its last {} \
             bytes (output_limit)",
            head.len(),
            tail.len()
        )
    }
}

/// `text` cut to about `max` bytes for a place that shows no more: its start and its end, with
/// the [`omitted`] line between them, each cut on a character boundary.
pub fn both_ends(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut start = max / 2;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = text.len() - max / 2;
    while !text.is_char_boundary(end) {
        end += 1;
    }
    Cow::Owned(format!(
        "{}\n{}\n{}",
        &text[..start],
        omitted((end - start) as u64),
        &text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_reports_print_them() {
        assert_eq!(secs(Duration::from_millis(1250)), "1.25s");
        assert_eq!(secs(Duration::from_millis(12_500)), "12.5s");
        assert_eq!(secs_exact(Duration::from_millis(1250)), "1.250");
        assert_eq!(ratio(0.05), "0.05×");
        assert_eq!(ratio(2.54), "2.5×");
        assert_eq!(
            short_digest(&format!("sha256:{}", "ab".repeat(32))),
            "abababababab"
        );
        assert_eq!(failure_verb(TestStatus::NotRun), "failed");
        assert_eq!(failure_verb(TestStatus::Error), "could not run");
        assert_eq!(verdict(PlatformVerdict::NotTested), "not tested");
    }

    #[test]
    fn a_cut_stream_reads_head_omitted_tail() {
        assert_eq!(output("", 0, "all\n"), "all\n");
        assert_eq!(
            output("1\n2\n", 10, "9\n10\n"),
            "1\n2\n[… 10 bytes omitted …]\n9\n10\n"
        );
        // A head cut inside a line still leaves the line its own line.
        assert_eq!(output("ab", 3, "yz"), "ab\n[… 3 bytes omitted …]\nyz");
        // A report from before heads were kept.
        assert_eq!(output("", 7, "tail"), "[… 7 bytes omitted …]\ntail");
        assert_eq!(
            cut_note("stdout", "ab", 3, "yz"),
            "stdout: 3 bytes omitted between its first 2 and its last 2 bytes (output_limit)"
        );
        assert_eq!(
            cut_note("stderr", "", 3, "yz"),
            "stderr: its first 3 bytes omitted (output_limit), its last 2 bytes kept"
        );
    }

    #[test]
    fn a_long_text_keeps_both_ends() {
        assert_eq!(both_ends("short", 10), "short");
        assert_eq!(
            both_ends("0123456789abcdefghij", 10),
            "01234\n[… 10 bytes omitted …]\nfghij"
        );
        // Never inside a character: `é` is two bytes.
        assert_eq!(both_ends("aaéébb", 6), "aa\n[… 4 bytes omitted …]\nbb");
    }
}
