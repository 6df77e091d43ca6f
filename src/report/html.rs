//! The HTML report (`--html FILE`): one self-contained page that a reviewer opens from a CI
//! run's artifacts. It reads the finished [`RunReport`] and nothing else, like every reporter.
//!
//! The page is built in two steps: [`view`] turns the report into plain, already-cleaned values
//! (rows, chart geometry, heat-map cells, failures), and an askama template
//! (`templates/report.html`) lays them out. The template auto-escapes every value, so text from
//! the image, the spec or a test's output can never become markup; [`view`] additionally strips
//! ANSI escapes and makes control characters visible, which HTML cannot carry either.
//!
//! Self-contained means: CSS and SVG inline, no script, no font, image or link that would make
//! the browser reach the network when the page is opened, light and dark colour schemes, and a
//! print style. The markup is also well-formed XML (void elements closed, no named entities), so
//! tests read it with a strict XML parser.

mod view;

use std::io;
use std::path::Path;

use askama::Template;

use crate::outcome::RunReport;

pub use view::Page;

/// The page for `report`, as a string.
pub fn render(report: &RunReport) -> io::Result<String> {
    view::page(report)
        .render()
        .map_err(|e| io::Error::other(format!("cannot render the HTML report: {e}")))
}

/// Writes the page for `report` to `path`, atomically (see [`super::write_atomically`]).
pub fn write(report: &RunReport, path: &Path) -> io::Result<()> {
    let html = render(report)?;
    super::write_atomically(path, html.as_bytes())
}

#[cfg(test)]
mod tests;
