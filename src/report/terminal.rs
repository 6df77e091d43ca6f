//! The terminal: one plain line per event while the run goes (CI logs stay readable and free of
//! control codes), then the platform matrix and every failure with expected vs actual.
//!
//! Everything writes to any `io::Write`, so tests render into a buffer. Colour is decided once by
//! the caller (TTY and `NO_COLOR`) and passed in.

use std::io::{self, Write};
use std::time::Duration;

use console::Style;

use super::words::{self, mode as mode_text, secs, short_digest, status as status_word};
use crate::event::{Event, EventSink};
use crate::mode::ExecMode;
use crate::outcome::{PlatformReport, RunReport, TestReport, TestStatus};

#[derive(Debug, Clone, Copy)]
pub struct TerminalOptions {
    pub color: bool,
    /// Only failures and the final verdict.
    pub quiet: bool,
}

struct Palette {
    ok: Style,
    bad: Style,
    warn: Style,
    dim: Style,
    bold: Style,
}

impl Palette {
    fn new(color: bool) -> Palette {
        let s = |st: Style| st.force_styling(color);
        Palette {
            ok: s(Style::new().green()),
            bad: s(Style::new().red().bold()),
            warn: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
        }
    }
}

/// The plain reporter: [`event_line`]'s line for each event on stderr, secrets masked.
pub struct EventLines(pub TerminalOptions);

impl EventSink for EventLines {
    fn handle(&mut self, event: &Event) {
        if let Some(line) = event_line(event, self.0) {
            eprintln!("{}", crate::redact::text(&line));
        }
    }
}

/// One line per event, for logs. Returns nothing to print for events that need no line.
pub fn event_line(event: &Event, opts: TerminalOptions) -> Option<String> {
    let p = Palette::new(opts.color);
    let line = match event {
        Event::RunStarted { .. } if opts.quiet => return None,
        Event::RunStarted {
            run_id,
            image,
            platforms,
            tests,
        } => format!(
            "testing {image}: {} platform(s), {tests} test run(s) [run {run_id}]",
            platforms.len()
        ),
        Event::PlatformStarted { .. } | Event::PullFinished { .. } if opts.quiet => return None,
        Event::PlatformStarted {
            platform,
            mode,
            engine,
            ..
        } => {
            format!(
                "[{platform}] {}",
                started_text(mode.as_ref(), engine.as_deref())
            )
        }
        Event::PullFinished {
            platform,
            pulled,
            duration,
        } => format!(
            "[{platform}] image {} in {}",
            if *pulled { "pulled" } else { "already present" },
            secs(*duration)
        ),
        Event::TestStarted { .. } | Event::PullStarted { .. } => return None,
        Event::TestFinished { platform, test } => {
            let status = match test.status {
                TestStatus::Passed => p.ok.apply_to("pass").to_string(),
                TestStatus::Failed => p.bad.apply_to("FAIL").to_string(),
                TestStatus::TimedOut => p.bad.apply_to("TIMEOUT").to_string(),
                TestStatus::Error => p.bad.apply_to("ERROR").to_string(),
                TestStatus::NotRun => p.warn.apply_to("not run").to_string(),
                TestStatus::Skipped => p.warn.apply_to("skipped").to_string(),
            };
            if opts.quiet && matches!(test.status, TestStatus::Passed | TestStatus::Skipped) {
                return None;
            }
            format!(
                "[{platform}] {status} {} ({})",
                test.name,
                secs(test.duration)
            )
        }
        Event::PlatformFinished { report } => {
            if report.skipped() {
                if opts.quiet {
                    return None;
                }
                let reason = report.problem.as_ref().map_or("", |p| p.message.as_str());
                format!(
                    "[{}] {} {reason}",
                    report.platform,
                    p.warn.apply_to("skipped")
                )
            } else if let Some(problem) = &report.problem {
                format!(
                    "[{}] {} {}",
                    report.platform,
                    p.bad.apply_to("ERROR"),
                    problem.message
                )
            } else if report.untested() {
                format!(
                    "[{}] {} no test or image check ran on it",
                    report.platform,
                    p.bad.apply_to("NOT TESTED:")
                )
            } else if opts.quiet {
                return None;
            } else {
                format!(
                    "[{}] done: {} passed, {} failed in {}",
                    report.platform,
                    report.passed(),
                    report.not_passed(),
                    secs(report.duration)
                )
            }
        }
        Event::Cancelling => {
            "interrupted: stopping containers (press Ctrl-C again to force)".into()
        }
        Event::Warning { message } => format!("warning: {message}"),
        Event::Note { .. } if opts.quiet => return None,
        Event::Note { message } => message.clone(),
    };
    Some(line)
}

/// How a platform runs, as the progress lines say it, with the engine unless it is the only,
/// default one; a run without containers says so.
pub(crate) fn started_text(mode: Option<&ExecMode>, engine: Option<&str>) -> String {
    let mode = mode.map_or_else(|| "image checks only".to_owned(), mode_text);
    match engine {
        Some(e) if e != crate::outcome::DEFAULT_ENGINE => format!("{mode} on {e}"),
        _ => mode,
    }
}

/// What the matrix's TIME and SLOW measure, under the matrix (they can seem to disagree), in 80
/// columns. The README shows it as printed (`tests/docs.rs` checks that).
pub const MATRIX_FOOTNOTE: &str = "TIME is each platform's wall time: pull and image checks in, waits for a job\n\
     slot out. SLOW is its passed tests' time over the same tests' native time,\n\
     container starts included: compute-bound code slows down more than SLOW says.";

/// The final summary: header, matrix, failures, totals.
pub fn summary(report: &RunReport, w: &mut dyn Write, opts: TerminalOptions) -> io::Result<()> {
    let p = Palette::new(opts.color);
    if opts.quiet {
        // Failures only: what went wrong and the verdict, no matrix of what went right.
        if let Some(problem) = &report.problem {
            writeln!(w, "{} {}", p.bad.apply_to("error:"), problem.message)?;
            if let Some(h) = &problem.hint {
                writeln!(w, "  = hint: {h}")?;
            }
            return Ok(());
        }
        failures(report, w, &p)?;
        emulation_only(report, w, &p)?;
        return totals(report, w, &p);
    }
    writeln!(w)?;
    let img = &report.image;
    let mut what = img.reference.clone();
    if let Some(d) = &img.digest {
        what.push_str(&format!(" ({})", short_digest(d)));
    }
    let tail = (img.attestations > 0)
        .then(|| format!("{} attestation manifest(s) skipped", img.attestations));
    header_line(w, &p, "image", &what, ", ", tail.as_deref())?;
    if report.engines.is_empty() && report.problem.is_none() && !report.platforms.is_empty() {
        writeln!(
            w,
            "{} none: only the image is read",
            p.bold.apply_to("engine")
        )?;
    } else if report.engines.len() > 1 {
        for e in &report.engines {
            writeln!(
                w,
                "{} {} Docker {} {} at {}",
                p.bold.apply_to("engine"),
                e.name,
                e.version,
                e.platform,
                e.endpoint
            )?;
        }
    } else if let Some(e) = &report.engine {
        let what = format!(
            "Docker {} (API {}) {}",
            e.version, e.api_version, e.platform
        );
        header_line(
            w,
            &p,
            "engine",
            &what,
            " ",
            Some(&format!("at {}", e.endpoint)),
        )?;
    }
    if let Some(problem) = &report.problem {
        writeln!(w, "\n{} {}", p.bad.apply_to("error:"), problem.message)?;
        if let Some(h) = &problem.hint {
            writeln!(w, "  = hint: {h}")?;
        }
        return Ok(());
    }
    if !report.platforms.is_empty() {
        writeln!(w)?;
        matrix(&report.platforms, w, &p)?;
        if report.platforms.iter().any(|r| r.slowdown.is_some()) {
            // TIME and SLOW measure different things and can seem to disagree; say what each is.
            writeln!(w, "{}", p.dim.apply_to(MATRIX_FOOTNOTE))?;
        }
    }
    if let Some(line) = super::service::ready_line(report) {
        writeln!(w, "{line}")?;
    }
    failures(report, w, &p)?;
    skipped(report, w, &p)?;
    emulation_only(report, w, &p)?;
    emulation_differences(report, w, &p)?;
    totals(report, w, &p)?;
    phases(report, w, &p)
}

/// Where the time went, so that a slow run says whether the registry, the engine or the
/// emulated containers were slow.
fn phases(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let ph = &report.phases;
    let parts = super::words::phases(ph, short_secs);
    if parts.is_empty() {
        return Ok(());
    }
    writeln!(
        w,
        "{}",
        p.dim.apply_to(format!("time: {}", parts.join(" · ")))
    )
}

/// Like [`secs`], in milliseconds under a second: registry round trips are a few of them.
fn short_secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        secs(d)
    }
}

/// Platforms not tested, on purpose or because nothing applied to them: listed with why, so
/// that neither a policy nor a spec's `platforms` lists ever hide a platform.
fn skipped(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let mut first = true;
    for r in report
        .platforms
        .iter()
        .filter(|r| r.skipped() || r.untested())
    {
        if first {
            writeln!(w, "\n{}", p.warn.apply_to("not tested:"))?;
            first = false;
        }
        let untested = r.untested().then(|| r.untested_problem());
        let Some(problem) = r.problem.as_ref().or(untested.as_ref()) else {
            continue;
        };
        writeln!(w, "  {} {}", p.bold.apply_to(&r.platform), problem.message)?;
        if let Some(h) = &problem.hint {
            writeln!(w, "    = hint: {h}")?;
        }
    }
    Ok(())
}

/// `--compare-emulation`: each test whose native and emulated runs of one platform disagree.
fn emulation_differences(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    if report.emulation_differences.is_empty() {
        return Ok(());
    }
    writeln!(
        w,
        "\n{}",
        p.warn
            .apply_to("emulation differences (the same platform, native vs emulated):")
    )?;
    for d in &report.emulation_differences {
        writeln!(
            w,
            "  {} › {}: {} differs (native {} on {}, emulated {} on {})",
            d.platform,
            d.test,
            d.differs.join(", "),
            status_word(d.native),
            d.native_engine.as_deref().unwrap_or("-"),
            status_word(d.emulated),
            d.emulated_engine.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(())
}

/// Tests that passed natively but failed (or timed out) under emulation
/// ([`RunReport::emulation_only`]): the differences this tool exists to make visible.
fn emulation_only(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let mut failed = Vec::new();
    let mut timed_out = Vec::new();
    for e in report.emulation_only() {
        let mut item = format!("{} on {}", e.test, e.platform);
        if e.per_platform_expectation {
            item.push_str(" (against its per-platform expectation)");
        }
        match e.status {
            TestStatus::TimedOut => timed_out.push(item),
            _ => failed.push(item),
        }
    }
    if !failed.is_empty() {
        writeln!(
            w,
            "\n{} {}",
            p.warn
                .apply_to("failed only under emulation (passed natively):"),
            failed.join(", ")
        )?;
    }
    if !timed_out.is_empty() {
        writeln!(
            w,
            "\n{} {}",
            p.warn.apply_to("timed out only under emulation:"),
            timed_out.join(", ")
        )?;
    }
    Ok(())
}

/// `LABEL WHAT<sep>TAIL` on one line when it fits the terminal, else TAIL on a line of its own,
/// indented, so that a long reference or endpoint does not wrap mid-word at 80 columns.
fn header_line(
    w: &mut dyn Write,
    p: &Palette,
    label: &str,
    what: &str,
    sep: &str,
    tail: Option<&str>,
) -> io::Result<()> {
    let label_styled = p.bold.apply_to(label);
    match tail {
        None => writeln!(w, "{label_styled} {what}"),
        Some(tail) => {
            let one = label.chars().count() + 1 + what.chars().count() + sep.chars().count();
            if one + tail.chars().count() <= terminal_width() {
                writeln!(w, "{label_styled} {what}{sep}{tail}")
            } else {
                writeln!(w, "{label_styled} {what}{}\n  {tail}", sep.trim_end())
            }
        }
    }
}

/// The columns the final matrix may use: `COLUMNS`, else the terminal's width, else 80 (a log or
/// a pipe: the width people read CI logs at).
pub(crate) fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
        })
        .unwrap_or(80)
}

/// How much the matrix gives up to fit: each step is tried in order until the table fits. Full
/// values (digests, emulator versions) stay in the JSON report.
#[derive(Clone, Copy)]
struct Fit {
    short_headers: bool,
    digest_chars: usize,
    mode_version: bool,
    digest: bool,
}

const FITS: [Fit; 4] = [
    Fit {
        short_headers: false,
        digest_chars: 12,
        mode_version: true,
        digest: true,
    },
    Fit {
        short_headers: true,
        digest_chars: 7,
        mode_version: true,
        digest: true,
    },
    Fit {
        short_headers: true,
        digest_chars: 7,
        mode_version: false,
        digest: true,
    },
    Fit {
        short_headers: true,
        digest_chars: 7,
        mode_version: false,
        digest: false,
    },
];

fn matrix(platforms: &[PlatformReport], w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let width = terminal_width();
    let mut table = matrix_lines(platforms, FITS[0]);
    for fit in &FITS[1..] {
        if table.iter().all(|(l, _)| l.chars().count() <= width) {
            break;
        }
        table = matrix_lines(platforms, *fit);
    }
    for (i, (text, result)) in table.iter().enumerate() {
        let style = match (i, result.as_str()) {
            (0, _) => &p.bold,
            (_, "ok") => &p.ok,
            (_, "skipped") => &p.warn,
            _ => &p.bad,
        };
        writeln!(w, "{}", style.apply_to(text))?;
    }
    Ok(())
}

/// The header and one line per platform (with its RESULT cell, for the colour).
fn matrix_lines(platforms: &[PlatformReport], fit: Fit) -> Vec<(String, String)> {
    // An ENGINE column only when platforms ran on more than one engine: a one-engine run's
    // matrix stays as it always was.
    let mut names: Vec<&str> = platforms
        .iter()
        .filter_map(|r| r.engine.as_deref())
        .collect();
    names.sort_unstable();
    names.dedup();
    let engine_column = names.len() > 1;
    let rows: Vec<Vec<String>> = platforms
        .iter()
        .map(|r| {
            let result = if r.skipped() {
                "skipped"
            } else if r.problem.is_some() {
                "ERROR"
            } else if r.untested() {
                "NOT TESTED"
            } else if r.ok() {
                "ok"
            } else {
                "FAIL"
            };
            let mode = r.mode.as_ref().map_or_else(
                || "-".into(),
                |m| match m {
                    ExecMode::Emulated { emulator } if !fit.mode_version => emulator.entry.clone(),
                    ExecMode::Native { compat: true } if !fit.mode_version => {
                        "native (compat)".into()
                    }
                    m => mode_text(m),
                },
            );
            vec![
                r.platform.to_string(),
                r.engine.clone().unwrap_or_else(|| "-".into()),
                r.entry.as_ref().map_or_else(
                    || "-".into(),
                    |e| {
                        short_digest(&e.digest)
                            .chars()
                            .take(fit.digest_chars)
                            .collect()
                    },
                ),
                mode,
                r.passed().to_string(),
                r.not_passed().to_string(),
                secs(r.duration),
                r.slowdown.map_or_else(|| "-".into(), words::ratio),
                result.to_owned(),
            ]
        })
        .collect();
    let header: Vec<String> = if fit.short_headers {
        [
            "PLATFORM", "ENGINE", "DIGEST", "MODE", "PASS", "FAIL", "TIME", "SLOW", "RESULT",
        ]
    } else {
        [
            "PLATFORM", "ENGINE", "DIGEST", "MODE", "PASSED", "FAILED", "TIME", "SLOWDOWN",
            "RESULT",
        ]
    }
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    let shown: Vec<usize> = (0..header.len())
        .filter(|i| (*i != 1 || engine_column) && (*i != 2 || fit.digest))
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let right = [false, false, false, false, true, true, true, true, false];
    let line = |cells: &[String]| -> String {
        shown
            .iter()
            .map(|&i| {
                if right[i] {
                    format!("{:>width$}", cells[i], width = widths[i])
                } else {
                    format!("{:<width$}", cells[i], width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![(line(&header), String::new())];
    for row in &rows {
        out.push((line(row), row[8].clone()));
    }
    out
}

fn failures(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let mut first = true;
    let mut heading = |w: &mut dyn Write| -> io::Result<()> {
        if first {
            writeln!(w, "\n{}", p.bad.apply_to("failures:"))?;
            first = false;
        }
        Ok(())
    };
    for r in report.platforms.iter().filter(|r| !r.skipped()) {
        if let Some(problem) = &r.problem {
            heading(w)?;
            // Messages that already open with the platform ("linux/arm64 would run emulated
            // ...") are not prefixed with it a second time; the platform is still in bold.
            let name = r.platform.to_string();
            let rest = problem
                .message
                .strip_prefix(&name)
                .filter(|rest| rest.starts_with(' '))
                .map_or_else(|| format!(" {}", problem.message), str::to_owned);
            writeln!(w, "\n  {}{rest}", p.bold.apply_to(&name))?;
            if let Some(h) = &problem.hint {
                writeln!(w, "    = hint: {h}")?;
            }
            // Its tests that never ran say nothing the problem did not; counted, not listed.
            match r.count(TestStatus::NotRun) {
                0 => {}
                1 => writeln!(w, "    1 test not run")?,
                n => writeln!(w, "    {n} tests not run")?,
            }
        }
        // A passed test with mismatches carries warnings (`[audit] elf = "warn"`): shown too.
        for t in r.tests.iter().filter(|t| {
            (t.status != TestStatus::Passed || !t.mismatches.is_empty())
                && !(r.problem.is_some() && t.status == TestStatus::NotRun)
        }) {
            heading(w)?;
            test_failure(&r.platform.to_string(), t, w, p)?;
        }
    }
    Ok(())
}

fn test_failure(platform: &str, t: &TestReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let what = match t.status {
        TestStatus::TimedOut => "timed out",
        TestStatus::Error => "could not run",
        TestStatus::NotRun if t.error.is_some() => "not run",
        TestStatus::NotRun => "not run (interrupted)",
        TestStatus::Skipped => "skipped",
        TestStatus::Passed => "passed with warnings",
        _ => "failed",
    };
    writeln!(
        w,
        "\n  {} › {} {what} ({})",
        p.bold.apply_to(platform),
        p.bold.apply_to(&t.name),
        secs(t.duration)
    )?;
    if let Some(cmd) = &t.command {
        writeln!(w, "    command: {}", p.dim.apply_to(format!("{cmd:?}")))?;
    }
    if let Some(e) = &t.error {
        writeln!(w, "    error: {e}")?;
    }
    for m in &t.mismatches {
        if let Some(reference) = m.check.strip_prefix("same output as ") {
            writeln!(w, "    stdout differs from {reference}:")?;
            let diff = similar::TextDiff::from_lines(&m.expected, &m.actual);
            let text = diff
                .unified_diff()
                .context_radius(2)
                .header(reference, platform)
                .to_string();
            for line in text.lines() {
                let style = match line.chars().next() {
                    Some('+') => &p.bad,
                    Some('-') => &p.ok,
                    _ => &p.dim,
                };
                writeln!(w, "      {}", style.apply_to(line))?;
            }
            continue;
        }
        let quoted = super::needs_quotes(m);
        let shown = |v: &str| if quoted { quote(v) } else { shorten(v) };
        writeln!(w, "    {}:", m.check)?;
        writeln!(w, "      expected: {}", p.ok.apply_to(shown(&m.expected)))?;
        writeln!(w, "      actual:   {}", p.bad.apply_to(shown(&m.actual)))?;
        if let Some(note) = &m.note {
            writeln!(w, "      = note: {note}")?;
        }
    }
    let mentions = |stream: &str| t.mismatches.iter().any(|m| m.check.starts_with(stream));
    // A cut stream: how much is missing, and both of its ends (a mismatch quoting it shows
    // only the start of what it quotes).
    for (stream, head, omitted, tail) in [
        ("stdout", &t.stdout_head, t.stdout_omitted, &t.stdout),
        ("stderr", &t.stderr_head, t.stderr_omitted, &t.stderr),
    ] {
        if omitted > 0 {
            writeln!(w, "    {}", words::cut_note(stream, head, omitted, tail))?;
            if !head.is_empty() && !mentions(stream) {
                writeln!(w, "      begins: {}", p.dim.apply_to(quote(head)))?;
            }
            writeln!(w, "      ends:   {}", p.dim.apply_to(quote_end(tail)))?;
        }
    }
    if !mentions("stderr")
        && t.stderr_omitted == 0
        && !t.stderr.trim().is_empty()
        && t.status != TestStatus::Passed
    {
        writeln!(w, "    stderr: {}", p.dim.apply_to(quote(&t.stderr)))?;
    }
    Ok(())
}

/// The most characters of one value a failure shows.
const VALUE_MAX: usize = 400;

/// Show a value with escapes visible and long values shortened, on one line.
fn quote(s: &str) -> String {
    cut(&format!("{s:?}"), s.len())
}

/// Like [`quote`], long values shortened at their start: the end of an output.
fn quote_end(s: &str) -> String {
    let shown = format!("{s:?}");
    let count = shown.chars().count();
    if count > VALUE_MAX {
        let end: String = shown.chars().skip(count - VALUE_MAX).collect();
        format!("…{end} ({} bytes)", s.len())
    } else {
        shown
    }
}

/// Show a plain value as it is, long values shortened.
fn shorten(s: &str) -> String {
    cut(s, s.len())
}

/// `shown` cut to [`VALUE_MAX`] characters, saying how long the value (`bytes`) was.
fn cut(shown: &str, bytes: usize) -> String {
    if shown.chars().count() > VALUE_MAX {
        let head: String = shown.chars().take(VALUE_MAX).collect();
        format!("{head}… ({bytes} bytes)")
    } else {
        shown.to_owned()
    }
}

fn totals(report: &RunReport, w: &mut dyn Write, p: &Palette) -> io::Result<()> {
    let skipped = report.platforms.iter().filter(|r| r.skipped()).count();
    let platforms = report.platforms.len() - skipped;
    let ok_platforms = report.platforms.iter().filter(|r| r.ok()).count();
    let tests: usize = report.platforms.iter().map(PlatformReport::counted).sum();
    let passed: usize = report.platforms.iter().map(PlatformReport::passed).sum();
    let untested = report.untested();
    let verdict = if report.exit_code() == 0 {
        p.ok.apply_to("PASSED")
    } else if untested > 0 && report.exit_code() == crate::exit::TEST_FAILED && !report.defect() {
        p.bad.apply_to("FAILED (not every platform was tested)")
    } else {
        p.bad.apply_to("FAILED")
    };
    writeln!(
        w,
        "\n{verdict}: {ok_platforms}/{platforms} platforms passed{}{}, {passed}/{tests} tests passed in {}{}",
        if skipped > 0 {
            format!(" ({skipped} not tested)")
        } else {
            String::new()
        },
        if untested > 0 {
            format!(", {untested} NOT TESTED")
        } else {
            String::new()
        },
        secs(report.duration),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests;
