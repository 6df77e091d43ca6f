//! GitHub Actions: a Markdown job summary appended to `$GITHUB_STEP_SUMMARY` (the platform
//! matrix, a Mermaid chart of time per platform, native vs emulated, and every failure) and
//! `::error` workflow commands that GitHub shows as annotations on the run. Active only when
//! `GITHUB_ACTIONS=true`; like every reporter, it reads the finished [`RunReport`] and never
//! touches Docker.
//!
//! Workflow command values are escaped as the runner's own toolkit does (`%`, `\r`, `\n` in the
//! message; also `:` and `,` in properties such as `title`), so a test name or an output with
//! newlines can neither cut an annotation short nor inject another command.
//!
//! Everything else archsmoke prints under Actions (event lines, the matrix, failures quoting a
//! test's output) holds text that the image under test controls; the runner would act on a line
//! of it that reads `::error ...` or `::add-mask::`. That text is printed between
//! `::stop-commands::<token>` and `::<token>::` (the runner's own mechanism), with a token the
//! image cannot guess, so only archsmoke's annotations are commands.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::words::{self, mode as mode_text, secs, short_digest, status as status_word};
use crate::outcome::{PlatformReport, RunReport, TestReport, TestStatus};

/// Longest annotation message; GitHub truncates long ones anyway, and the summary has the rest.
const ANNOTATION_CHARS: usize = 4000;
/// About the most bytes of one expected or actual value a failure shows.
const VALUE_BYTES: usize = 1500;

/// Whether the process runs inside a GitHub Actions job.
pub fn enabled(github_actions: Option<&str>) -> bool {
    github_actions == Some("true")
}

/// A fresh token for [`stop_commands`]: unguessable by the tests, whose output it fences.
pub fn pause_token() -> String {
    crate::digest::random_hex(16)
}

/// The line after which the runner ignores workflow commands, until [`resume_commands`].
pub fn stop_commands(token: &str) -> String {
    format!("::stop-commands::{token}")
}

/// The line that makes the runner process workflow commands again.
pub fn resume_commands(token: &str) -> String {
    format!("::{token}::")
}

/// Escapes a workflow command's message (`::error ...::<message>`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (`title=<value>`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command per failure: a test that failed, timed out or could not run, a platform
/// that could not be tested, or the run itself. Platforms skipped on purpose become warnings, so
/// that a policy never hides one.
pub fn annotations(report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(problem) = &report.problem {
        out.push(command(
            "error",
            "archsmoke: nothing could be tested",
            &with_hint(&problem.message, problem.hint.as_deref()),
        ));
    }
    for p in &report.platforms {
        let untested = p.untested().then(|| p.untested_problem());
        if let Some(problem) = p.problem.as_ref().or(untested.as_ref()) {
            let (level, title) = if p.untested() {
                (
                    "error",
                    format!("archsmoke: {} NOT TESTED: no test ran", p.platform),
                )
            } else if p.skipped() {
                ("warning", format!("archsmoke: {} not tested", p.platform))
            } else {
                (
                    "error",
                    format!("archsmoke: {} could not be tested", p.platform),
                )
            };
            out.push(command(
                level,
                &title,
                &with_hint(&problem.message, problem.hint.as_deref()),
            ));
        }
        for t in p.tests.iter().filter(|t| is_failure(t)) {
            let line = report.spec_lines.get(&t.name).copied();
            out.push(command_at(
                "error",
                line.map(|l| (report.spec.as_str(), l)),
                &format!("archsmoke: {} {} on {}", t.name, verb(t), p.platform),
                &test_details(t),
            ));
        }
    }
    out
}

fn command(level: &str, title: &str, message: &str) -> String {
    command_at(level, None, title, message)
}

/// A workflow command; with `at` (the spec's path and a line), GitHub shows it on that line
/// of the spec in the pull request's diff, beside the test that failed.
fn command_at(level: &str, at: Option<(&str, usize)>, title: &str, message: &str) -> String {
    let message: String = message.chars().take(ANNOTATION_CHARS).collect();
    let place = at.map_or_else(String::new, |(file, line)| {
        format!(
            "file={},line={line},",
            escape_property(file.trim_start_matches("./"))
        )
    });
    format!(
        "::{level} {place}title={}::{}",
        escape_property(title),
        escape_data(&message)
    )
}

fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint {
        Some(h) => format!("{message}\nhint: {h}"),
        None => message.to_owned(),
    }
}

fn is_failure(t: &TestReport) -> bool {
    matches!(
        t.status,
        TestStatus::Failed | TestStatus::TimedOut | TestStatus::Error
    )
}

fn verb(t: &TestReport) -> &'static str {
    words::failure_verb(t.status)
}

/// Expected vs actual, one check per pair of lines.
fn test_details(t: &TestReport) -> String {
    let mut lines = Vec::new();
    if let Some(cmd) = &t.command {
        lines.push(format!("command: {cmd:?}"));
    }
    if t.status == TestStatus::TimedOut {
        lines.push(format!(
            "timed out after {}; the container was killed",
            humantime::format_duration(t.timeout)
        ));
    }
    if let Some(e) = &t.error {
        lines.push(format!("error: {e}"));
    }
    for m in &t.mismatches {
        // Both ends of a long value (a cut output's head and tail): an annotation keeps its
        // first characters only, and a job summary has a size limit.
        let (expected, actual) = (
            words::both_ends(&m.expected, VALUE_BYTES),
            words::both_ends(&m.actual, VALUE_BYTES),
        );
        let (expected, actual) = if super::needs_quotes(m) {
            (format!("{expected:?}"), format!("{actual:?}"))
        } else {
            (expected.into_owned(), actual.into_owned())
        };
        lines.push(format!("{}: expected {expected}, got {actual}", m.check));
        if let Some(note) = &m.note {
            lines.push(format!("note: {note}"));
        }
    }
    for (stream, head, omitted, tail) in [
        ("stdout", &t.stdout_head, t.stdout_omitted, &t.stdout),
        ("stderr", &t.stderr_head, t.stderr_omitted, &t.stderr),
    ] {
        if omitted > 0 {
            lines.push(words::cut_note(stream, head, omitted, tail));
        }
    }
    lines.join("\n")
}

/// The job summary: verdict, the platform matrix, what was not tested, and every failure.
pub fn summary_markdown(report: &RunReport) -> String {
    let mut md = String::new();
    let verdict = match report.exit_code() {
        0 => "✅ passed",
        1 => "❌ failed",
        _ => "⚠️ could not be checked",
    };
    md.push_str(&format!(
        "### archsmoke {}: {verdict}\n\n",
        code(&report.image.reference)
    ));
    if let Some(problem) = &report.problem {
        md.push_str(&format!(
            "**Nothing was tested:** {}\n\n",
            cell(&with_hint(&problem.message, problem.hint.as_deref()))
        ));
        return md;
    }
    md.push_str("| Platform | Digest | Mode | Passed | Failed | Time | Slowdown | Result |\n");
    md.push_str("|---|---|---|--:|--:|--:|--:|---|\n");
    for p in &report.platforms {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            code(&p.platform.to_string()),
            p.entry
                .as_ref()
                .map_or_else(|| "-".into(), |e| code(&short_digest(&e.digest))),
            cell(&engine_mode(report, p)),
            p.passed(),
            p.not_passed(),
            secs(p.duration),
            p.slowdown.map_or_else(|| "-".into(), words::ratio),
            result(p),
        ));
    }
    let tested: Vec<&PlatformReport> = report.platforms.iter().filter(|p| !p.skipped()).collect();
    let tests: usize = tested.iter().map(|p| p.counted()).sum();
    let passed: usize = tested.iter().map(|p| p.passed()).sum();
    let untested = report.untested();
    md.push_str(&format!(
        "\n**{}/{} platforms passed{}, {passed}/{tests} tests passed in {}**\n",
        tested.iter().filter(|p| p.ok()).count(),
        tested.len(),
        if untested > 0 {
            format!(", {untested} NOT TESTED (not every platform was tested)")
        } else {
            String::new()
        },
        secs(report.duration)
    ));
    if let Some(line) = super::service::ready_line(report) {
        md.push_str(&format!("\n{}\n", cell(&line)));
    }
    if let Some(chart) = time_chart(report) {
        md.push('\n');
        md.push_str(&chart);
    }
    let skipped: Vec<&PlatformReport> = report
        .platforms
        .iter()
        .filter(|p| p.skipped() || p.untested())
        .collect();
    if !skipped.is_empty() {
        md.push_str("\n#### Not tested\n\n");
        for p in skipped {
            let untested = p.untested().then(|| p.untested_problem());
            let message = p
                .problem
                .as_ref()
                .or(untested.as_ref())
                .map_or("", |x| x.message.as_str());
            md.push_str(&format!(
                "- {}: {}\n",
                code(&p.platform.to_string()),
                cell(message)
            ));
        }
    }
    let mut failures = String::new();
    for p in report.platforms.iter().filter(|p| !p.skipped()) {
        if let Some(problem) = &p.problem {
            failures.push_str(&format!(
                "- {}: {}\n",
                code(&p.platform.to_string()),
                cell(&with_hint(&problem.message, problem.hint.as_deref()))
            ));
        }
        for t in p.tests.iter().filter(|t| is_failure(t)) {
            failures.push_str(&format!(
                "- {} › **{}** {}\n\n  ```\n{}\n  ```\n",
                code(&p.platform.to_string()),
                cell(&t.name),
                verb(t),
                indent_block(&test_details(t))
            ));
        }
    }
    if !failures.is_empty() {
        md.push_str("\n#### Failures\n\n");
        md.push_str(&failures);
    }
    let only = report.emulation_only();
    if !only.is_empty() {
        md.push_str("\n#### Failed only under emulation (passed natively)\n\n");
        for e in &only {
            let on: Vec<String> = e
                .passed_natively_on
                .iter()
                .map(ToString::to_string)
                .collect();
            md.push_str(&format!(
                "- {} › **{}** {} (passed natively on {}){}\n",
                code(&e.platform.to_string()),
                cell(&e.test),
                status_word(e.status),
                on.join(", "),
                if e.per_platform_expectation {
                    ", against its per-platform expectation"
                } else {
                    ""
                }
            ));
        }
    }
    if !report.emulation_differences.is_empty() {
        md.push_str("\n#### Emulation differences (the same platform, native vs emulated)\n\n");
        for d in &report.emulation_differences {
            md.push_str(&format!(
                "- {} › **{}**: {} differs (native {} on {}, emulated {} on {})\n",
                code(&d.platform.to_string()),
                cell(&d.test),
                d.differs.join(", "),
                status_word(d.native),
                cell(d.native_engine.as_deref().unwrap_or("-")),
                status_word(d.emulated),
                cell(d.emulated_engine.as_deref().unwrap_or("-")),
            ));
        }
    }
    md
}

/// The mode, and the engine when the run used more than one.
fn engine_mode(report: &RunReport, p: &PlatformReport) -> String {
    let mode = p.mode.as_ref().map_or_else(|| "-".into(), mode_text);
    match &p.engine {
        Some(engine) if report.engines.len() > 1 => format!("{mode} on {engine}"),
        _ => mode,
    }
}

/// Series colours of [`time_chart`]: native first, emulated second (the HTML report's hues).
const CHART_PALETTE: &str = "#1f6feb, #d4570b";

/// A Mermaid bar chart (`xychart-beta`, which GitHub renders in Markdown) of each tested
/// platform's time. Native and emulated platforms are two series, so they get two colours, and
/// each label also says which it is, for readers who cannot tell the colours apart. `None` when
/// no platform ran.
pub fn time_chart(report: &RunReport) -> Option<String> {
    let bars: Vec<(String, bool, f64)> = report
        .platforms
        .iter()
        .filter(|p| !p.skipped() && !p.duration.is_zero())
        .filter_map(|p| {
            let kind = words::mode_kind(p.mode.as_ref())?;
            let emulated = p.mode.as_ref().is_some_and(|m| m.is_emulated());
            let label = chart_text(&format!("{} ({kind})", p.platform));
            Some((label, emulated, p.duration.as_secs_f64()))
        })
        .collect();
    if bars.is_empty() {
        return None;
    }
    let longest = bars.iter().map(|b| b.2).fold(0.0, f64::max);
    // Headroom above the longest bar, rounded to a readable axis end.
    let top = ((longest * 1.1) * 10.0).ceil() / 10.0;
    let series = |emulated: bool| {
        bars.iter()
            .map(|(_, e, s)| {
                if *e == emulated {
                    format!("{s:.2}")
                } else {
                    "0".into()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let labels = bars
        .iter()
        .map(|(l, _, _)| format!("\"{l}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "```mermaid\n\
         %%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{CHART_PALETTE}\"}}}}}}}}%%\n\
         xychart-beta\n    \
         title \"Time per platform (s): native blue, emulated orange\"\n    \
         x-axis [{labels}]\n    \
         y-axis \"seconds\" 0 --> {top:.1}\n    \
         bar [{}]\n    \
         bar [{}]\n\
         ```\n",
        series(false),
        series(true)
    ))
}

/// A label Mermaid reads inside double quotes: it has no escape for `"`, and `%%`, `#`, `;` or
/// a backtick (closing the fence) could change how the rest is read, so only the characters of
/// platform names and a few more are kept.
fn chart_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " /._+()-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn result(p: &PlatformReport) -> &'static str {
    if p.skipped() {
        "⏭️ not tested"
    } else if p.problem.is_some() {
        "⚠️ error"
    } else if p.untested() {
        "🚫 NOT TESTED"
    } else if p.ok() {
        "✅ ok"
    } else {
        "❌ FAIL"
    }
}

/// Text for a table cell or a list item: one line, no table breaks, no HTML.
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\r', "")
        .replace('\n', "<br>")
}

/// Inline code that the text cannot break out of.
fn code(s: &str) -> String {
    let fence = if s.contains('`') { "``" } else { "`" };
    format!("{fence}{}{fence}", s.replace(['\n', '\r', '|'], " "))
}

/// A fenced block's body, indented under its list item; fences inside are broken up.
fn indent_block(s: &str) -> String {
    s.replace("```", "`\u{200b}``")
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Appends the summary to the file GitHub names in `$GITHUB_STEP_SUMMARY`; other steps may have
/// written there already, so the file is never truncated.
pub fn append_summary(report: &RunReport, path: &Path) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open the job summary {}: {e}", path.display()),
            )
        })?;
    f.write_all(summary_markdown(report).as_bytes())
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write the job summary {}: {e}", path.display()),
            )
        })
}

#[cfg(test)]
mod tests;
