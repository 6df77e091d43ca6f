//! `archsmoke verify LIST --report REPORT.json`: confirms that every child of an assembled list
//! passed in a run's (or a merge's) JSON report; exit 1 naming every child that did not. The
//! rule is in [`crate::verify`].

use super::{GlobalArgs, VerifyArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::image::ImageSource;

pub async fn verify(args: &VerifyArgs, _global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let report = crate::report::read::read(&args.report).map_err(|e| {
        Diagnostic::usage(e.to_string()).with_hint("give the file `archsmoke run --json` wrote")
    })?;
    let fail = |e: crate::image::ImageError| {
        if e.is_usage() {
            Diagnostic::usage(e.to_string()).with_hint(e.hint())
        } else {
            Diagnostic::infrastructure(e.to_string()).with_hint(e.hint())
        }
    };
    let source = ImageSource::open(&args.list).map_err(fail)?;
    if let Some(c) = source.credentials() {
        crate::redact::register([c.password.as_str()]);
    }
    let list = source.resolve().await.map_err(fail)?;
    let bad = crate::verify::unverified(&list, &report);
    let children = list
        .entries
        .iter()
        .filter(|e| e.kind == crate::image::EntryKind::Image)
        .count();
    if bad.is_empty() {
        println!(
            "verified: all {children} child manifest(s) of {} ({}) passed in {}",
            args.list,
            list.digest,
            args.report.display()
        );
        return Ok(exit::SUCCESS);
    }
    println!(
        "NOT VERIFIED: {} of {children} child manifest(s) of {} ({}) did not pass in {}:",
        bad.len(),
        args.list,
        list.digest,
        args.report.display()
    );
    for b in &bad {
        let platform = b
            .platform
            .as_ref()
            .map_or_else(|| "(no platform)".to_owned(), ToString::to_string);
        println!("  {platform:<14} {}  {}", b.digest, b.why);
    }
    println!("  = hint: test exactly these digests before assembling the list, then verify again");
    Ok(exit::TEST_FAILED)
}
