//! `archsmoke run`: the command line merged with the spec into a [`Config`], the pipeline run
//! with a reporter attached (the live view or plain lines), the report files and the summary
//! written, and the exit code returned.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::{Format, GlobalArgs, IsolationArg, RunArgs};
use crate::diagnostic::Diagnostic;
use crate::event::EventSink;
use crate::exit;
use crate::outcome::RunReport;
use crate::pipeline::{self, Canceller, Config, Flags};
use crate::report::live::{self, LiveView};
use crate::report::terminal::{self, EventLines, TerminalOptions};
use crate::spec;

/// Under GitHub Actions, the token that fences everything this run prints from the runner's
/// command processing (see [`crate::report::github`]).
static COMMANDS_PAUSED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub async fn run(args: &RunArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let config = Config::load(flags(args, global))?;
    if crate::report::github::enabled(std::env::var("GITHUB_ACTIONS").ok().as_deref()) {
        let token = COMMANDS_PAUSED.get_or_init(crate::report::github::pause_token);
        fenced(args.format, &crate::report::github::stop_commands(token));
    }
    let report = pipeline::run(&config, reporter(global), Canceller::on_signals).await?;
    finish(&report, args, global)
}

/// What the command line said, in the pipeline's terms.
fn flags(args: &RunArgs, global: &GlobalArgs) -> Flags {
    Flags {
        spec: args.spec_path().to_path_buf(),
        image: args.image.clone(),
        host: global.host.clone(),
        platforms: args.platforms.clone(),
        jobs: args.jobs.map(usize::from),
        isolation: args.isolation.map(|i| match i {
            IsolationArg::Container => spec::Isolation::Container,
            IsolationArg::Exec => spec::Isolation::Exec,
        }),
        variant_match: args.variant_match.map(Into::into),
        emulation: args.emulation.map(Into::into),
        output_limit: args.output_limit,
        allow_privileged: args.allow_privileged,
        skip_unavailable: args.skip_unavailable,
        engines: args.engines.clone(),
        compare_emulation: args.compare_emulation.clone(),
        quiet: global.quiet,
    }
}

/// The live view where it helps (see [`live::wanted`]), else one plain line per event.
fn reporter(global: &GlobalArgs) -> Box<dyn EventSink> {
    let term = TerminalOptions {
        color: global.stderr_color(),
        quiet: global.quiet,
    };
    let wanted = live::wanted(
        std::io::stderr().is_terminal(),
        global.quiet,
        global.verbose,
        std::env::var_os("RUST_LOG").is_some(),
        std::env::var("TERM").ok().as_deref(),
    );
    if wanted {
        Box::new(LiveView::stderr(term))
    } else {
        Box::new(EventLines(term))
    }
}

/// Write the report files (whatever the outcome: a failed run is what dashboards need most),
/// print the summary, and return the run's exit code.
fn finish(report: &RunReport, args: &RunArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let files = ReportFiles {
        junit: args.junit.as_deref(),
        json: args.json.as_deref(),
        html: args.html.as_deref(),
    };
    outputs(report, &files, args.format, global)
}

/// The report files a command writes (`run` and `merge` share them).
pub(super) struct ReportFiles<'a> {
    pub junit: Option<&'a Path>,
    pub json: Option<&'a Path>,
    pub html: Option<&'a Path>,
}

/// [`finish`]'s work for any report (`merge` shares it): files, GitHub, summary, exit code.
pub(super) fn outputs(
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
        fenced(format, &crate::report::github::resume_commands(token));
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
