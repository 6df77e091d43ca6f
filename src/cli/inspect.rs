//! `archsmoke inspect IMAGE`: the index, its entries, and how each would run here (gathered by
//! [`crate::pipeline::inspect`], rendered by [`crate::report::inspect`]).

use super::{GlobalArgs, InspectArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::report::inspect::{render_json, render_table};

pub async fn inspect(args: &InspectArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let report = crate::pipeline::inspect(&args.image, global.host.as_deref()).await?;
    for warning in &report.warnings {
        eprintln!("warning: {}", crate::redact::text(warning));
    }
    // An entry that could not be read (a digest mismatch, a registry error: no config, and a
    // problem) is an infrastructure failure even though the rest of the index is shown.
    let unreadable = report
        .entries
        .iter()
        .any(|e| e.config_platform.is_none() && e.problem.is_some());
    // A readable entry with a PROBLEM (its config contradicts the index) is the image's defect,
    // which the exit-code contract gives 1, as `run` and `audit` do for it.
    let defective = report
        .entries
        .iter()
        .any(|e| e.config_platform.is_some() && e.problem.is_some());
    if args.json {
        println!("{}", render_json(&report));
    } else {
        render_table(&report, &mut std::io::stdout().lock())
            .map_err(|e| Diagnostic::infrastructure(format!("cannot write: {e}")))?;
    }
    Ok(if unreadable {
        exit::INFRASTRUCTURE
    } else if defective {
        exit::TEST_FAILED
    } else {
        exit::SUCCESS
    })
}
