//! `archsmoke doctor [--probe]`: what this machine and its engine can run, and why.
//!
//! The facts are gathered by the library ([`crate::pipeline::doctor`]: the engine's description,
//! binfmt_misc, the emulators, the engine profile's modes, the probe cache, and with `--probe`
//! a tiny self-built container of each platform through the pipeline's one probe runner);
//! rendering is [`crate::report::doctor`]'s. This module picks the output and the exit code:
//! 0 when the engine answered (whatever it can run), 3 when it did not or a probe image could
//! not be loaded or removed.

use std::io::Write as _;

use super::{DoctorArgs, GlobalArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::pipeline::doctor::Doctored;
use crate::pipeline::probe::{DEFAULT_TTL, ProbeCache};
use crate::report::doctor::{render_json, render_table};

pub async fn doctor(args: &DoctorArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    // doctor never skips a probe for the cache; it reads it only to show what runs would use.
    let cache = ProbeCache::new(args.probe_cache_ttl.unwrap_or(DEFAULT_TTL), false);
    let Doctored {
        report,
        infrastructure_failed,
    } = crate::pipeline::doctor::doctor(
        global.host.as_deref(),
        args.probe,
        &cache,
        &super::new_run_id(),
    )
    .await;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", render_json(&report))
    } else {
        render_table(&report, &mut out)
    };
    match written {
        // `doctor | head`: the reader has what it wanted; the verdict still stands.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Diagnostic::infrastructure(format!("cannot write: {e}"))),
        Ok(()) => {}
    }
    if args.json
        && let Some(err) = &report.engine.error
    {
        eprintln!("error: {err}");
    }
    Ok(if infrastructure_failed {
        exit::INFRASTRUCTURE
    } else {
        exit::SUCCESS
    })
}
