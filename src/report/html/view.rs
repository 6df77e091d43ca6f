//! The HTML page's content, computed from a [`RunReport`]: every value the template shows, as
//! cleaned text and ready-made chart geometry, so that the template only lays things out.
//!
//! Text from the image, the spec or a container passes through [`clean`] here (ANSI escapes
//! removed, control characters made visible, long outputs cut to their tail); the template then
//! escapes it. Nothing here produces markup.

use askama::Template;

mod pictures;

use crate::mode::ExecMode;
use crate::outcome::{
    EmulationOnly, Mismatch, PlatformReport, ProblemKind, RunReport, TestReport, TestStatus,
};
use crate::report::words::{self, secs, short_digest};

#[cfg(test)]
pub(in crate::report::html) use pictures::phases_of;
use pictures::{Chart, Heat, chart, heat};

/// About the most bytes of one value (an output, an expected or actual text) the page shows:
/// its start and its end (a diff's line keeps its end).
const VALUE_CHARS: usize = 16 * 1024;
/// Values up to this long and without inner newlines are shown inline, quoted.
const INLINE_CHARS: usize = 160;

/// The whole page; `templates/report.html` renders it.
#[derive(Template)]
#[template(path = "report.html")]
pub struct Page {
    pub title: String,
    pub verdict: Verdict,
    pub image: Image,
    pub run: RunInfo,
    /// Why nothing could be tested, when nothing could.
    pub problem: Option<Note>,
    pub rows: Vec<Row>,
    pub chart: Option<Chart>,
    pub heat: Option<Heat>,
    pub platform_problems: Vec<PlatformNote>,
    pub failures: Vec<Failure>,
    pub not_tested: Vec<PlatformNote>,
    /// Tests that passed natively and failed or timed out under emulation, one line each.
    pub emulation_only: Vec<String>,
    pub audit: Audit,
}

pub struct Verdict {
    /// `passed`, `failed` or `broken`: a CSS class.
    pub class: &'static str,
    pub text: &'static str,
    pub totals: String,
    pub phases: String,
}

pub struct Image {
    pub reference: String,
    pub digest: Option<String>,
    pub source: &'static str,
    pub media_type: Option<String>,
    pub offered: String,
    pub attestations: usize,
}

pub struct RunInfo {
    pub id: String,
    pub spec: String,
    pub started_at: String,
    pub duration: String,
    pub engine: Option<String>,
}

pub struct Note {
    pub message: String,
    pub hint: Option<String>,
}

pub struct PlatformNote {
    pub platform: String,
    pub kind: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// One row of the matrix.
pub struct Row {
    pub platform: String,
    pub digest: String,
    pub digest_full: String,
    pub engine: String,
    pub mode: &'static str,
    pub emulator: String,
    pub passed: usize,
    pub failed: usize,
    pub time: String,
    pub slowdown: String,
    pub result: &'static str,
    /// `ok`, `fail`, `error` or `skipped`: a CSS class.
    pub result_class: &'static str,
}

pub struct Failure {
    pub platform: String,
    pub test: String,
    pub verb: &'static str,
    pub time: String,
    pub command: Option<String>,
    pub error: Option<String>,
    pub checks: Vec<Check>,
    pub diffs: Vec<Diff>,
    pub notes: Vec<String>,
    pub stdout: Option<Value>,
    pub stderr: Option<Value>,
}

/// One expectation that did not hold.
pub struct Check {
    pub name: String,
    pub expected: Value,
    pub actual: Value,
}

/// A text shown either inline (quoted, escapes visible) or as a block.
pub struct Value {
    pub text: String,
    pub block: bool,
}

/// The unified diff of a `same_output` test against its reference platform.
pub struct Diff {
    pub reference: String,
    pub lines: Vec<DiffLine>,
}

pub struct DiffLine {
    /// `add`, `del`, `hunk`, `head` or `ctx`: a CSS class.
    pub class: &'static str,
    pub text: String,
}

pub struct Audit {
    pub ran: bool,
    pub checks: usize,
    pub platforms: usize,
    /// Every finding, also those a check counted but did not list (the ELF audit lists at
    /// most a hundred): what the page says, not the number of checks with findings.
    pub total: usize,
    pub findings: Vec<Finding>,
}

pub struct Finding {
    pub platform: String,
    pub check: String,
    /// `failed`, `warning` or `error`: a CSS class and the label.
    pub level: &'static str,
    pub error: Option<String>,
    pub mismatches: Vec<Check>,
}

pub fn page(report: &RunReport) -> Page {
    let tested: Vec<&PlatformReport> = report.platforms.iter().filter(|p| !p.skipped()).collect();
    let only = report.emulation_only();
    let only_line = |e: &EmulationOnly| clean_line(&crate::report::words::emulation_only(e));
    Page {
        title: format!("archsmoke: {}", clean_line(&report.image.reference)),
        verdict: verdict(report),
        image: image(report),
        run: RunInfo {
            id: clean_line(&report.run_id),
            spec: clean_line(&report.spec),
            started_at: clean_line(&report.started_at),
            duration: secs(report.duration),
            engine: report.engine.as_ref().map(|e| {
                clean_line(&format!(
                    "Docker {} (API {}), {} at {}{}",
                    e.version,
                    e.api_version,
                    e.platform,
                    e.endpoint,
                    if e.rootless { ", rootless" } else { "" }
                ))
            }),
        },
        problem: report.problem.as_ref().map(|p| Note {
            message: clean(&p.message),
            hint: p.hint.as_deref().map(clean),
        }),
        rows: report.platforms.iter().map(|p| row(report, p)).collect(),
        chart: chart(&report.platforms),
        heat: heat(&report.platforms),
        platform_problems: tested
            .iter()
            .filter_map(|p| {
                let pr = p.problem.as_ref()?;
                (!unavailable(pr.kind)).then(|| platform_note(p))
            })
            .collect(),
        failures: tested
            .iter()
            .flat_map(|p| {
                p.tests
                    .iter()
                    .filter(|t| !is_audit(t) && is_failure(t))
                    .map(|t| {
                        let mut f = failure(p, t);
                        let e = only
                            .iter()
                            .find(|e| e.platform == p.platform && e.test == t.name);
                        if let Some(e) = e {
                            f.notes.insert(0, only_line(e));
                        }
                        f
                    })
            })
            .collect(),
        emulation_only: only
            .iter()
            .map(|e| clean_line(&format!("{} on {}: {}", e.test, e.platform, only_line(e))))
            .collect(),
        not_tested: report
            .platforms
            .iter()
            .filter(|p| {
                p.skipped()
                    || p.untested()
                    || p.problem.as_ref().is_some_and(|pr| unavailable(pr.kind))
            })
            .map(platform_note)
            .collect(),
        audit: audit(&report.platforms),
    }
}

fn verdict(report: &RunReport) -> Verdict {
    let (class, text) = match report.exit_code() {
        0 => ("passed", "passed"),
        1 => ("failed", "failed"),
        _ => ("broken", "could not be checked"),
    };
    let skipped = report.platforms.iter().filter(|p| p.skipped()).count();
    let tested = report.platforms.len() - skipped;
    let ok = report.platforms.iter().filter(|p| p.ok()).count();
    let tests: usize = report.platforms.iter().map(PlatformReport::counted).sum();
    let passed: usize = report.platforms.iter().map(PlatformReport::passed).sum();
    let mut totals = format!(
        "{ok}/{tested} platforms passed, {passed}/{tests} tests passed in {}",
        secs(report.duration)
    );
    if skipped > 0 {
        totals.push_str(&format!(", {skipped} platform(s) not tested"));
    }
    let untested = report.untested();
    if untested > 0 {
        totals.push_str(&format!(
            ", {untested} platform(s) NOT TESTED (no test ran there: not every platform was tested)"
        ));
    }
    if report.interrupted {
        totals.push_str(" (interrupted)");
    }
    let ph = &report.phases;
    let phases = crate::report::words::phases(ph, secs).join(" · ");
    Verdict {
        class,
        text,
        totals,
        phases,
    }
}

fn image(report: &RunReport) -> Image {
    let img = &report.image;
    let reference = &img.reference;
    let source = if reference.starts_with("oci-layout:") {
        "OCI layout"
    } else if reference.starts_with("oci-archive:") {
        "OCI archive"
    } else if reference.starts_with("docker-daemon:") {
        "engine image"
    } else {
        "registry"
    };
    Image {
        reference: clean_line(reference),
        digest: img.digest.as_deref().map(clean_line),
        source,
        media_type: img.media_type.as_deref().map(clean_line),
        offered: img
            .available
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        attestations: img.attestations,
    }
}

fn row(report: &RunReport, p: &PlatformReport) -> Row {
    let (result, result_class) = if p.skipped() {
        ("not tested", "skipped")
    } else if p.problem.is_some() {
        ("error", "error")
    } else if p.untested() {
        ("NOT TESTED", "fail")
    } else if p.ok() {
        ("ok", "ok")
    } else {
        ("FAIL", "fail")
    };
    let (mode, emulator) = match &p.mode {
        Some(ExecMode::Native { compat: false }) => ("native", "-".to_owned()),
        Some(ExecMode::Native { compat: true }) => ("native (32-bit compat)", "-".to_owned()),
        Some(ExecMode::Emulated { emulator }) => (
            "emulated",
            clean_line(&match emulator.version_number() {
                Some(v) => format!("{} {v}", emulator.entry),
                None => emulator.entry.clone(),
            }),
        ),
        Some(ExecMode::Unavailable { .. }) => ("unavailable", "-".to_owned()),
        None => ("-", "-".to_owned()),
    };
    let digest_full = p
        .entry
        .as_ref()
        .map_or_else(String::new, |e| e.digest.clone());
    Row {
        platform: p.platform.to_string(),
        digest: clean_line(&short_digest(&digest_full)),
        digest_full: clean_line(&digest_full),
        // The row's own engine: with several, each platform names the one that ran it.
        engine: report
            .engines
            .iter()
            .find(|e| Some(&e.name) == p.engine.as_ref())
            .or(report.engine.as_ref())
            .map_or_else(
                || "-".to_owned(),
                |e| {
                    if report.engines.len() > 1 {
                        clean_line(&format!("{} (Docker {})", e.name, e.version))
                    } else {
                        clean_line(&format!("Docker {}", e.version))
                    }
                },
            ),
        mode,
        emulator,
        passed: p.passed(),
        failed: p.not_passed(),
        time: secs(p.duration),
        slowdown: p.slowdown.map_or_else(|| "-".into(), words::ratio),
        result,
        result_class,
    }
}

fn is_failure(t: &TestReport) -> bool {
    matches!(
        t.status,
        TestStatus::Failed | TestStatus::TimedOut | TestStatus::Error | TestStatus::NotRun
    )
}

/// An image check (`file …`, `metadata`, `audit elf`): it runs no command and has no timeout.
fn is_audit(t: &TestReport) -> bool {
    t.command.is_none()
        && t.timeout.is_zero()
        && (t.name == "audit elf"
            || t.name == "metadata"
            || t.name == "Metadata Test"
            || t.name.starts_with("file "))
}

/// Problems that mean "could not run here", listed with the skipped platforms.
fn unavailable(kind: ProblemKind) -> bool {
    matches!(
        kind,
        ProblemKind::NotTested | ProblemKind::EmulatorUnavailable | ProblemKind::EmulationForbidden
    )
}

fn platform_note(p: &PlatformReport) -> PlatformNote {
    let untested = p.untested().then(|| p.untested_problem());
    let problem = p.problem.as_ref().or(untested.as_ref());
    PlatformNote {
        platform: p.platform.to_string(),
        kind: problem.map_or("", |pr| match pr.kind {
            ProblemKind::MissingPlatform => "missing from the index",
            ProblemKind::ConfigMismatch => "config disagrees with the index",
            ProblemKind::NativeProcess => "a process ran outside the emulator",
            ProblemKind::EmulatorUnavailable => "no emulator",
            ProblemKind::Registry => "registry",
            ProblemKind::Engine => "engine",
            ProblemKind::Interrupted => "interrupted",
            ProblemKind::EmulationForbidden => "emulation forbidden",
            ProblemKind::NotTested if p.untested() => "no test ran",
            ProblemKind::NotTested => "skipped",
        }),
        message: problem.map_or_else(String::new, |pr| clean(&pr.message)),
        hint: problem.and_then(|pr| pr.hint.as_deref().map(clean)),
    }
}

fn failure(p: &PlatformReport, t: &TestReport) -> Failure {
    let platform = p.platform.to_string();
    let mut checks = Vec::new();
    let mut diffs = Vec::new();
    for m in &t.mismatches {
        match m.check.strip_prefix("same output as ") {
            Some(reference) => diffs.push(diff(reference, &platform, &m.expected, &m.actual)),
            None => checks.push(check(&m.check, &m.expected, &m.actual)),
        }
    }
    let mut notes: Vec<String> = t
        .mismatches
        .iter()
        .filter_map(|m| m.note.as_deref().map(clean_line))
        .collect();
    if t.status == TestStatus::TimedOut {
        notes.push(format!(
            "timed out after {}; the container was killed",
            humantime::format_duration(t.timeout)
        ));
    }
    if t.status == TestStatus::NotRun {
        notes.push("not run: the run was interrupted first".to_owned());
    }
    let streams = [
        ("stdout", &t.stdout_head, t.stdout_omitted, &t.stdout),
        ("stderr", &t.stderr_head, t.stderr_omitted, &t.stderr),
    ];
    for (stream, head, omitted, tail) in streams {
        if omitted > 0 {
            notes.push(words::cut_note(stream, head, omitted, tail));
        }
    }
    let shows = |stream: &str| t.mismatches.iter().any(|m| m.check.starts_with(stream));
    let output = |(stream, head, omitted, tail): (&str, &String, u64, &String)| {
        let s = words::output(head, omitted, tail);
        (!s.trim().is_empty() && !shows(stream) && diffs.is_empty()).then(|| block(&s))
    };
    Failure {
        test: clean_line(&t.name),
        verb: match t.status {
            TestStatus::NotRun => words::status(t.status),
            s => words::failure_verb(s),
        },
        time: secs(t.duration),
        command: t.command.as_ref().map(|c| clean_line(&format!("{c:?}"))),
        error: t.error.as_deref().map(clean),
        stdout: output(streams[0]),
        stderr: output(streams[1]),
        checks,
        diffs,
        notes,
        platform,
    }
}

fn check(name: &str, expected: &str, actual: &str) -> Check {
    Check {
        name: clean_line(name),
        expected: value(expected),
        actual: value(actual),
    }
}

/// Like the terminal's diff (see `check::across`): reference platform first, this one second.
fn diff(reference: &str, platform: &str, expected: &str, actual: &str) -> Diff {
    let text = similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .header(reference, platform)
        .to_string();
    let lines = text
        .lines()
        .map(|l| DiffLine {
            class: if l.starts_with("+++") || l.starts_with("---") {
                "head"
            } else if l.starts_with("@@") {
                "hunk"
            } else if l.starts_with('+') {
                "add"
            } else if l.starts_with('-') {
                "del"
            } else {
                "ctx"
            },
            text: clean(&tail(l, VALUE_CHARS)),
        })
        .take(2000)
        .collect();
    Diff {
        reference: clean_line(reference),
        lines,
    }
}

fn audit(platforms: &[PlatformReport]) -> Audit {
    let checks: Vec<(&PlatformReport, &TestReport)> = platforms
        .iter()
        .flat_map(|p| p.tests.iter().filter(|t| is_audit(t)).map(move |t| (p, t)))
        .collect();
    let findings = checks
        .iter()
        .filter(|(_, t)| t.status != TestStatus::Passed || !t.mismatches.is_empty())
        .map(|(p, t)| Finding {
            platform: p.platform.to_string(),
            check: clean_line(&t.name),
            level: match t.status {
                TestStatus::Passed => "warning",
                s if s.is_failure() => "failed",
                _ => "error",
            },
            error: t.error.as_deref().map(clean),
            mismatches: t
                .mismatches
                .iter()
                .map(|m| check(&m.check, &m.expected, &m.actual))
                .collect(),
        })
        .collect();
    let mut audited: Vec<String> = checks.iter().map(|(p, _)| p.platform.to_string()).collect();
    audited.dedup();
    let total = checks
        .iter()
        .filter(|(_, t)| t.status != TestStatus::Passed || !t.mismatches.is_empty())
        .map(|(_, t)| {
            let counted: usize = t.mismatches.iter().map(Mismatch::findings).sum();
            // A check that failed without a mismatch (it could not read the image) is one.
            counted.max(1)
        })
        .sum();
    Audit {
        ran: !checks.is_empty(),
        checks: checks.len(),
        platforms: audited.len(),
        total,
        findings,
    }
}

fn value(s: &str) -> Value {
    let body = s.strip_suffix('\n').unwrap_or(s);
    if !body.contains('\n') && s.chars().count() <= INLINE_CHARS {
        // Quoted like the terminal does: a trailing newline or a tab stays visible.
        Value {
            text: clean(&format!("{s:?}")),
            block: false,
        }
    } else {
        block(s)
    }
}

/// A long value keeps both ends: a cut output's head and tail (the line between them says how
/// much is missing) or any other text's start and end.
fn block(s: &str) -> Value {
    Value {
        text: clean(&words::both_ends(s, VALUE_CHARS)),
        block: true,
    }
}

/// The last `max` characters of `s`, with a first line saying how much was left out.
fn tail(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_owned();
    }
    let start = s.char_indices().nth(count - max).map_or(0, |(i, _)| i);
    format!("[the first {start} bytes are not shown]\n{}", &s[start..])
}

/// Text that HTML (and XML) can carry and a reader can see: ANSI escape sequences removed, C0
/// controls other than tab and newline shown as their Unicode control pictures (`␀`, `␛`), DEL
/// as `␡`, C1 controls and non-characters as U+FFFD. Markup characters are left to the
/// template's escaping.
pub fn clean(s: &str) -> String {
    console::strip_ansi_codes(s)
        .chars()
        .map(|c| match c {
            '\t' | '\n' => c,
            '\r' => '␍',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'),
            '\u{7f}' => '␡',
            '\u{80}'..='\u{9f}' => '\u{FFFD}',
            c if is_noncharacter(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// [`clean`], on one line (names, references, attribute values).
pub fn clean_line(s: &str) -> String {
    clean(s).replace(['\n', '\t'], " ")
}

fn is_noncharacter(c: char) -> bool {
    let v = c as u32;
    (0xFDD0..=0xFDEF).contains(&v) || (v & 0xFFFE) == 0xFFFE
}
