//! `archsmoke audit IMAGE`: the ELF audit alone, with no spec, gathered by the library
//! ([`crate::pipeline::audit_image`]) as `run` gathers a run, and reported like a run (terminal,
//! JSON or HTML), one `audit elf` test per platform, failing on any executable of another
//! architecture.

use std::io::Write;

use super::{AuditArgs, GlobalArgs};
use crate::diagnostic::Diagnostic;
use crate::report::terminal::{self, TerminalOptions};

pub async fn audit(args: &AuditArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let quiet = global.quiet;
    let report = crate::pipeline::audit_image(&args.image, global.host.as_deref(), |n| {
        if !quiet {
            eprintln!(
                "auditing the executables of {n} platforms of {}",
                args.image
            );
        }
    })
    .await?;
    let html_failed = match &args.html {
        Some(path) => match crate::report::html::write(&report, path) {
            Ok(()) => false,
            Err(e) => {
                eprintln!("error: {e}");
                true
            }
        },
        None => false,
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        out.write_all(crate::report::json::render(&report).as_bytes())
    } else {
        terminal::summary(
            &report,
            &mut out,
            TerminalOptions {
                color: global.stdout_color(),
                quiet: global.quiet,
            },
        )
    };
    written.map_err(|e| Diagnostic::infrastructure(format!("cannot write the summary: {e}")))?;
    // Like `run`: a report that could not be written is an infrastructure failure unless a
    // check failed.
    Ok(match report.exit_code() {
        crate::exit::SUCCESS if html_failed => crate::exit::INFRASTRUCTURE,
        code => code,
    })
}
