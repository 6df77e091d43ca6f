//! Where a finished [`RunReport`] goes, for `run` and `merge` alike: the report files (JUnit,
//! JSON, HTML; written whatever the outcome), GitHub Actions' annotations and job summary, the
//! summary on stdout, and the exit code that follows from the report and from those writes.

use std::io::Write;
use std::path::Path;

use super::{Format, GlobalArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::outcome::RunReport;
use crate::report::terminal::{self, TerminalOptions};

/// Under GitHub Actions, the token that fences everything this run prints from the runner's
/// command processing (see [`crate::report::github`]).
static COMMANDS_PAUSED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Under GitHub Actions, stop the runner from reading anything printed from now on as a
/// workflow command (test output could forge one); [`write`] resumes it for the annotations.
pub(super) fn pause_github_commands(format: Format) {
    if crate::report::github::enabled(std::env::var("GITHUB_ACTIONS").ok().as_deref()) {
        let token = COMMANDS_PAUSED.get_or_init(crate::report::github::pause_token);
        fenced_everywhere(format, &crate::report::github::stop_commands(token));
    }
}

/// The report files a command writes (`run` and `merge` share them).
pub(super) struct ReportFiles<'a> {
    pub junit: Option<&'a Path>,
    pub json: Option<&'a Path>,
    pub html: Option<&'a Path>,
}

/// Everything a finished report goes to (`run` and `merge` share it): the files, GitHub
/// Actions, the summary on stdout; then the exit code.
pub(super) fn write(
    report: &RunReport,
    files: &ReportFiles<'_>,
    format: Format,
    global: &GlobalArgs,
) -> Result<i32, Diagnostic> {
    let mut redacted = report.clone();
    crate::redact::report(&mut redacted);
    let report = &redacted;
    let mut write_failed = false;
    if let Some(path) = files.junit
        && let Err(e) = crate::report::junit::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    if let Some(path) = files.json
        && let Err(e) = crate::report::json::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    if let Some(path) = files.html
        && let Err(e) = crate::report::html::write(report, path)
    {
        eprintln!("error: {e}");
        write_failed = true;
    }
    let paused = COMMANDS_PAUSED.get();
    if crate::report::github::enabled(std::env::var("GITHUB_ACTIONS").ok().as_deref()) {
        // Annotations are the only commands: resumed for them, paused again for the summary.
        if let Some(token) = paused {
            fenced(format, &crate::report::github::resume_commands(token));
        }
        if !github_actions(report, format) {
            write_failed = true;
        }
        // On the annotations' stream only: read before them from the other one, it would
        // silence them.
        if let Some(token) = paused {
            fenced(format, &crate::report::github::stop_commands(token));
        }
    }
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Json => out.write_all(crate::report::json::render(report).as_bytes()),
        Format::Human => terminal::summary(
            report,
            &mut out,
            TerminalOptions {
                color: global.stdout_color(),
                quiet: global.quiet,
            },
        ),
    };
    drop(out);
    if let Some(token) = paused {
        fenced_everywhere(format, &crate::report::github::resume_commands(token));
    }
    written.map_err(|e| Diagnostic::infrastructure(format!("cannot write the summary: {e}")))?;
    // A report that could not be written is an infrastructure failure unless a test failed.
    Ok(match report.exit_code() {
        exit::SUCCESS if write_failed => exit::INFRASTRUCTURE,
        code => code,
    })
}

/// A runner control line, on the stream the annotations go to (stderr when stdout carries the
/// JSON report).
fn fenced(format: Format, line: &str) {
    match format {
        Format::Json => eprintln!("{line}"),
        Format::Human => println!("{line}"),
    }
}

/// A runner control line on both streams: the fence opens and finally closes on stderr too,
/// since progress lines and warnings quote image and engine text there. Each stream's fence is
/// balanced on its own; where the runner shares one state, the line twice is harmless (a second
/// stop while stopped is plain text, a second resume an unknown command).
fn fenced_everywhere(format: Format, line: &str) {
    if format == Format::Human {
        println!("{line}");
    }
    eprintln!("{line}");
}

/// Inside GitHub Actions: append the job summary and print an annotation per failure (on stderr
/// when stdout carries the JSON report, which a stray line would break). False when the summary
/// could not be written.
fn github_actions(report: &RunReport, format: Format) -> bool {
    use crate::report::github;
    for line in github::annotations(report) {
        match format {
            Format::Json => eprintln!("{line}"),
            Format::Human => println!("{line}"),
        }
    }
    match std::env::var_os("GITHUB_STEP_SUMMARY") {
        Some(path) if !path.is_empty() => match github::append_summary(report, Path::new(&path)) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        },
        _ => true,
    }
}
