//! `archsmoke run`: the command line merged with the spec into a [`Config`], the pipeline run
//! with a reporter attached (the live view or plain lines), the report files and the summary
//! written, and the exit code returned.

use std::io::IsTerminal;

use super::outputs;
use super::{GlobalArgs, IsolationArg, RunArgs};
use crate::diagnostic::Diagnostic;
use crate::event::EventSink;
use crate::outcome::RunReport;
use crate::pipeline::{self, Config, Flags};
use crate::report::live::{self, LiveView};
use crate::report::terminal::{EventLines, TerminalOptions};
use crate::spec;

pub async fn run(args: &RunArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let config = Config::load(flags(args, global)?)?;
    outputs::pause_github_commands(args.format);
    let report = pipeline::run(&config, reporter(global), super::signals::watch).await?;
    finish(&report, args, global).await
}

/// What the command line said, in the pipeline's terms.
fn flags(args: &RunArgs, global: &GlobalArgs) -> Result<Flags, Diagnostic> {
    Ok(Flags {
        spec: args.spec_path().to_path_buf(),
        image: crate::pipeline::image_arg(&args.image)?,
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
        trust_spec_engines: args.trust_spec_engines,
        skip_unavailable: args.skip_unavailable,
        engines: args.engines.clone(),
        compare_emulation: args.compare_emulation.clone(),
        service_env: args.service_env.clone(),
        service_command: (!args.service_command.is_empty()).then(|| args.service_command.clone()),
        reprobe: args.reprobe,
        probe_cache_ttl: args.probe_cache_ttl,
    })
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
async fn finish(
    report: &RunReport,
    args: &RunArgs,
    global: &GlobalArgs,
) -> Result<i32, Diagnostic> {
    let files = outputs::ReportFiles {
        junit: args.junit.as_deref(),
        json: args.json.as_deref(),
        html: args.html.as_deref(),
    };
    let code = outputs::write(report, &files, args.format, global)?;
    if args.attest {
        let wire = crate::report::json::wire::Report::from(report);
        let attested = super::attest::sign_and_push(&wire, &args.signing).await;
        // A run that passed but could not be attested has not given the gate what it needs.
        if let Err(e) = attested {
            eprintln!("{e}");
            return Ok(if code == crate::exit::SUCCESS {
                e.exit_code
            } else {
                code
            });
        }
    }
    Ok(code)
}
