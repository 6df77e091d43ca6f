//! `archsmoke merge`: the JSON reports of CI shards (one job per architecture) as one run: one
//! matrix, one JUnit with a suite per platform, one JSON report and one exit code. The merging
//! rules are in [`crate::report::merge`].

use super::{GlobalArgs, MergeArgs};
use crate::diagnostic::Diagnostic;

pub async fn merge(args: &MergeArgs, global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let mut shards = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let report = crate::report::read::read(path).map_err(|e| {
            Diagnostic::usage(e.to_string())
                .with_hint("merge the files `archsmoke run --json FILE` wrote")
        })?;
        shards.push((path.display().to_string(), report));
    }
    let mut merged = crate::report::merge::merge(shards)
        .map_err(|e| Diagnostic::usage(e.message).with_hint(e.hint))?;
    // A native shard beside an emulated one of the same platform is a comparison too.
    merged.emulation_differences = crate::check::across::emulation_differences(&merged.platforms);
    let files = super::outputs::ReportFiles {
        junit: args.junit.as_deref(),
        json: args.json.as_deref(),
        html: args.html.as_deref(),
    };
    super::outputs::write(&merged, &files, args.format, global)
}
