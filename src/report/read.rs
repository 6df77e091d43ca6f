//! Reading a JSON report back (schema version 1) through the one wire model
//! ([`super::json::wire`]) into a [`RunReport`], for `archsmoke merge` and `verify`:
//! the wire format is the contract between CI shards, so merge reads exactly what `--json`
//! writes and renders it with the same reporters a run uses.

use std::path::Path;

use super::json::SCHEMA_VERSION;
use super::json::wire;
use crate::outcome::RunReport;

/// Why a report could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {detail}")]
pub struct ReadError {
    pub path: String,
    pub detail: String,
}

/// Reads the JSON report at `path`.
pub fn read(path: &Path) -> Result<RunReport, ReadError> {
    read_wire(path).map(wire::Report::into_run_report)
}

/// Reads the JSON report at `path` as written, verdicts and counts included (`verify` checks
/// what the report says as well as what its rows show).
pub fn read_wire(path: &Path) -> Result<wire::Report, ReadError> {
    let err = |detail: String| ReadError {
        path: path.display().to_string(),
        detail,
    };
    let text = read_bounded(path, MAX_REPORT_BYTES).map_err(err)?;
    parse_wire(&text).map_err(err)
}

/// The largest report read back. A report holds each test's captured output tails, so a large
/// matrix reaches megabytes; a gigabyte is not a report but a mistake or an attack on the gate.
pub const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// A regular file's text, at most `limit` bytes. Anything else is refused before a byte is
/// read: a FIFO would block the gate until someone writes to it, `/dev/zero` would never end.
fn read_bounded(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that opening a FIFO with no writer returns at once; the flag does not
    // change how a regular file reads.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read its metadata: {e}"))?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a FIFO, a device or a directory): give the report file itself"
                .into(),
        );
    }
    if meta.len() > limit {
        return Err(format!(
            "{} bytes, more than a report may have ({limit} bytes)",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    // The size was checked, but the file may still grow while it is read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "it grew past {limit} bytes while being read: not a finished report"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// Parses a JSON report's text.
pub fn parse(text: &str) -> Result<RunReport, String> {
    parse_wire(text).map(wire::Report::into_run_report)
}

/// Parses a JSON report's text into the wire model, refusing another schema version.
pub fn parse_wire(text: &str) -> Result<wire::Report, String> {
    // The version first, so that a newer format is named as such rather than as a field error.
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<u32>,
    }
    if let Ok(Version {
        schema_version: Some(v),
    }) = serde_json::from_str::<Version>(text)
        && v != SCHEMA_VERSION
    {
        return Err(format!(
            "schema version {v} (this archsmoke reads {SCHEMA_VERSION}); use the archsmoke \
             version that wrote it"
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            format!("the report ends early ({e}): truncated, or still being written")
        } else {
            format!("not an archsmoke JSON report (`--json`): {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    /// What `--json` writes reads back to the same report: a round trip renders identically.
    #[test]
    fn every_fixture_round_trips_through_the_wire_format() {
        for report in [
            fixtures::all_passing(),
            fixtures::mixed(),
            fixtures::registry_unreachable(),
            fixtures::interrupted(),
            fixtures::hostile(),
        ] {
            let text = super::super::json::render(&report);
            let back = parse(&text).expect("reads back");
            assert_eq!(super::super::json::render(&back), text);
            assert_eq!(back.exit_code(), report.exit_code());
        }
    }

    #[test]
    fn other_documents_and_versions_are_refused_with_the_reason() {
        assert!(
            parse("{}")
                .expect_err("not a report")
                .contains("not an archsmoke JSON report")
        );
        let text = super::super::json::render(&fixtures::all_passing())
            .replace("\"schema_version\": 1", "\"schema_version\": 9");
        assert!(
            parse(&text)
                .expect_err("version")
                .contains("schema version 9")
        );
    }
}
