//! `archsmoke verify LIST --report REPORT.json`: confirms that every child of an assembled list
//! passed in a run's (or a merge's) JSON report; exit 1 naming every child that did not, with
//! its platform and each reason. The rule is in [`crate::verify`]. Beside each verdict stand the
//! report's image and spec digest, so that a log shows which run vouched for which bytes.

use super::{GlobalArgs, VerifyArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::image::ImageSource;

pub async fn verify(args: &VerifyArgs, _global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let Some(report_path) = &args.report else {
        return super::verify_attestations::verify(args).await;
    };
    let report = crate::report::read::read_wire(report_path).map_err(|e| {
        Diagnostic::usage(e.to_string()).with_hint("give the file `archsmoke run --json` wrote")
    })?;
    let (_source, list) = open_list(&args.list).await?;
    let rules = crate::verify::Rules {
        min_tests: args.min_tests,
    };
    let children = crate::verify::children(&list, &report, rules);
    let bad = children.iter().filter(|c| !c.verified()).count();
    let vouching = format!(
        "report image {} ({}), spec {} ({})",
        report.image.reference,
        report
            .image
            .digest
            .as_deref()
            .unwrap_or("per-platform images"),
        report.spec,
        report.spec_digest.as_deref().unwrap_or("no spec digest")
    );
    if bad == 0 {
        println!(
            "verified: all {} child manifest(s) of {} ({}) passed in {}",
            children.len(),
            args.list,
            list.digest,
            report_path.display()
        );
    } else {
        println!(
            "NOT VERIFIED: {bad} of {} child manifest(s) of {} ({}) did not pass in {}:",
            children.len(),
            args.list,
            list.digest,
            report_path.display()
        );
    }
    for c in &children {
        let platform = c
            .platform
            .as_ref()
            .map_or_else(|| "(no platform)".to_owned(), ToString::to_string);
        let verdict = if c.verified() { "verified" } else { "REFUSED" };
        println!(
            "  {platform:<14} {}  {verdict}  {}/{} tests passed  [{vouching}]",
            c.digest, c.passed, c.tests
        );
        for why in &c.refusals {
            println!("      refused {platform} {}: {why}", c.digest);
        }
    }
    if bad == 0 {
        return Ok(exit::SUCCESS);
    }
    println!(
        "  = hint: test exactly these digests, each with at least {} passing test(s) of its own, \
         before assembling the list, then verify again",
        args.min_tests
    );
    Ok(exit::TEST_FAILED)
}

/// The image (manifest list) `verify` names, opened and resolved; its password is masked from
/// then on. Shared by both forms of `verify`.
pub(super) async fn open_list(
    list: &str,
) -> Result<(ImageSource, crate::image::ResolvedImage), Diagnostic> {
    let source = ImageSource::open(list).map_err(image_error)?;
    if let Some(c) = source.credentials() {
        crate::redact::register([c.password.as_str()]);
    }
    let resolved = source.resolve().await.map_err(image_error)?;
    Ok((source, resolved))
}

/// An image error as `verify` exits on it: a reference the user wrote wrongly is usage (2),
/// anything else infrastructure (3).
pub(super) fn image_error(e: crate::image::ImageError) -> Diagnostic {
    if e.is_usage() {
        Diagnostic::usage(e.to_string()).with_hint(e.hint())
    } else {
        Diagnostic::infrastructure(e.to_string()).with_hint(e.hint())
    }
}
