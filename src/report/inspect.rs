//! `archsmoke inspect`: the index and how each entry would run on the current engine, as a table
//! or as JSON. The report's types are plain data of the contract ([`crate::outcome::inspect`]);
//! the pipeline gathers them from the image source and the engine profile, and this module only
//! renders them.

use std::io::{self, Write};

use crate::diagnostic::printable;
use crate::mode::ExecMode;
use crate::outcome::inspect::{IndexEntryKind, InspectEntry, InspectReport};

pub fn render_json(report: &InspectReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The table at the terminal's width ([`super::terminal::terminal_width`]).
pub fn render_table(report: &InspectReport, w: &mut dyn Write) -> io::Result<()> {
    render_table_at(report, w, super::terminal::terminal_width())
}

/// What the table gives up, step by step, to fit `width`: first the digests are cut to twelve
/// hex digits (as `docker images` shows them), then the emulated modes lose "emulated by".
/// Whatever still does not fit is cut with "…". Full values stay in `--json`.
const FITS: [(Option<usize>, bool); 3] = [(None, false), (Some(12), false), (Some(12), true)];

/// Every string of the report came from an image, an index or an engine: each is printed
/// through [`printable`], so none can start a line of its own or drive the terminal.
pub fn render_table_at(report: &InspectReport, w: &mut dyn Write, width: usize) -> io::Result<()> {
    writeln!(w, "image   {}", printable(&report.reference))?;
    if report.digest.is_empty() {
        // Per-platform images have no list yet, so no digest of their own.
        writeln!(
            w,
            "digest  - (no list yet: each platform's digest is below)"
        )?;
    } else {
        writeln!(w, "digest  {}", printable(&report.digest))?;
    }
    writeln!(
        w,
        "type    {}{}",
        printable(&report.media_type),
        if report.is_index {
            ""
        } else {
            " (single platform)"
        }
    )?;
    if let Some(e) = &report.engine {
        writeln!(
            w,
            "engine  Docker {} {} at {}",
            printable(&e.version),
            printable(&e.platform.to_string()),
            printable(&e.endpoint)
        )?;
    }
    writeln!(w)?;
    let mut table = Vec::new();
    for fit in FITS {
        table = table_lines(report, fit);
        if table.iter().all(|l| l.chars().count() <= width) {
            break;
        }
    }
    for line in table {
        if line.chars().count() > width && width > 1 {
            let cut: String = line.chars().take(width - 1).collect();
            writeln!(w, "{cut}…")?;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    let problems: Vec<&InspectEntry> = report
        .entries
        .iter()
        .filter(|e| e.problem.is_some())
        .collect();
    if !problems.is_empty() {
        writeln!(w)?;
    }
    for e in problems {
        let platform = e
            .platform
            .as_ref()
            .map_or_else(|| "(none)".into(), |p| printable(&p.to_string()));
        writeln!(
            w,
            "{platform} PROBLEM: {}",
            printable(e.problem.as_deref().unwrap_or_default())
        )?;
    }
    Ok(())
}

/// Bytes as people read them (decimal units, as registries and `docker images` show sizes).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

fn table_lines(
    report: &InspectReport,
    (digest_chars, short_mode): (Option<usize>, bool),
) -> Vec<String> {
    let rows: Vec<[String; 5]> = report
        .entries
        .iter()
        .map(|e| {
            let platform = e
                .platform
                .as_ref()
                .map_or_else(|| "(none)".into(), |p| printable(&p.to_string()));
            let how = match e.kind {
                IndexEntryKind::Attestation => "attestation (not runnable)".to_owned(),
                IndexEntryKind::NoPlatform => "no platform (not runnable)".to_owned(),
                IndexEntryKind::Ignored => format!("ignored: {}", printable(&e.media_type)),
                IndexEntryKind::Image => match (&e.problem, &e.runs_here) {
                    // Said in full below the table: cut to fit, it would lose the point.
                    (Some(_), _) => "PROBLEM (below)".to_owned(),
                    (None, Some(ExecMode::Unavailable { reason, .. })) => {
                        format!("unavailable: {}", printable(reason))
                    }
                    (None, Some(mode @ ExecMode::Emulated { .. })) if short_mode => {
                        mode.to_string()
                    }
                    (None, Some(mode @ ExecMode::Emulated { .. })) => format!("emulated by {mode}"),
                    (None, Some(mode)) => mode.to_string(),
                    (None, None) => "-".into(),
                },
            };
            let digest = match digest_chars {
                Some(n) => {
                    let hex = e.digest.strip_prefix("sha256:").unwrap_or(&e.digest);
                    printable(&hex.chars().take(n).collect::<String>())
                }
                None => printable(&e.digest),
            };
            [
                platform,
                digest,
                e.image_size.map_or_else(|| "-".into(), human_size),
                e.config_platform
                    .as_ref()
                    .map_or_else(|| "-".into(), |p| printable(&p.to_string())),
                how,
            ]
        })
        .collect();
    let header = ["PLATFORM", "DIGEST", "SIZE", "CONFIG", "RUNS HERE"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header)];
    out.extend(
        rows.iter()
            .map(|r| line([&r[0], &r[1], &r[2], &r[3], &r[4]])),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_in_decimal_units_like_registries_show_them() {
        assert_eq!(human_size(406), "406 B");
        assert_eq!(human_size(33_299_345), "33.3 MB");
        assert_eq!(human_size(1_000), "1.0 kB");
        assert_eq!(human_size(95_000_000_000), "95.0 GB");
        assert_eq!(human_size(u64::MAX), "18446744.1 TB");
    }
}
