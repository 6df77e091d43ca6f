//! Reading a JSON report back (schema version 1) into a [`RunReport`], for `archsmoke merge`:
//! the wire format is the contract between CI shards, so merge reads exactly what `--json`
//! writes and renders it with the same reporters a run uses.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::json::SCHEMA_VERSION;
use crate::mode::ExecMode;
use crate::outcome::{
    EngineSummary, EntryChoice, ImageSummary, Mismatch, Phases, PlatformReport, Problem,
    ProblemKind, PullReport, RunReport, TestReport, TestStatus,
};
use crate::platform::Platform;

#[derive(Deserialize)]
struct Wire {
    schema_version: u32,
    run_id: String,
    spec: String,
    #[serde(default)]
    spec_digest: Option<String>,
    suite: String,
    started_at: String,
    duration_secs: f64,
    interrupted: bool,
    problem: Option<WireProblem>,
    image: WireImage,
    engine: Option<WireEngine>,
    #[serde(default)]
    engines: Vec<WireEngine>,
    #[serde(default)]
    phases: Option<WirePhases>,
    #[serde(default)]
    spec_lines: std::collections::BTreeMap<String, usize>,
    platforms: Vec<WirePlatform>,
}

#[derive(Deserialize)]
struct WireProblem {
    kind: ProblemKind,
    message: String,
    hint: Option<String>,
}

#[derive(Deserialize)]
struct WireImage {
    reference: String,
    digest: Option<String>,
    media_type: Option<String>,
    is_index: bool,
    available: Vec<Platform>,
    attestations: usize,
}

#[derive(Deserialize)]
struct WireEngine {
    #[serde(default)]
    name: Option<String>,
    endpoint: String,
    local: bool,
    version: String,
    api_version: String,
    platform: Platform,
    rootless: bool,
}

#[derive(Deserialize)]
struct WirePhases {
    engine_secs: Option<f64>,
    resolve_secs: Option<f64>,
    run_secs: Option<f64>,
    audit_secs: Option<f64>,
}

#[derive(Deserialize)]
struct WirePlatform {
    platform: Platform,
    #[serde(default)]
    engine: Option<String>,
    entry: Option<WireEntry>,
    execution: Option<ExecMode>,
    #[serde(default)]
    service: Option<crate::outcome::ServiceReport>,
    pull: Option<WirePull>,
    problem: Option<WireProblem>,
    duration_secs: f64,
    slowdown: Option<f64>,
    tests: Vec<WireTest>,
}

#[derive(Deserialize)]
struct WireEntry {
    digest: String,
    platform: Platform,
    reason: String,
}

#[derive(Deserialize)]
struct WirePull {
    image_id: String,
    pulled: bool,
    duration_secs: f64,
}

#[derive(Deserialize)]
struct WireTest {
    name: String,
    status: TestStatus,
    command: Option<Vec<String>>,
    expected_exit_code: i64,
    exit_code: Option<i64>,
    stdout: String,
    stdout_dropped_bytes: u64,
    stderr: String,
    stderr_dropped_bytes: u64,
    mismatches: Vec<Mismatch2>,
    duration_secs: f64,
    /// `null` for image checks, which have no timeout (written as zero in the contract).
    timeout_secs: Option<f64>,
    slowdown: Option<f64>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Mismatch2 {
    check: String,
    expected: String,
    actual: String,
}

/// Why a report could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {detail}")]
pub struct ReadError {
    pub path: String,
    pub detail: String,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn problem(p: WireProblem) -> Problem {
    Problem {
        kind: p.kind,
        message: p.message,
        hint: p.hint,
    }
}

fn engine(e: WireEngine, fallback_name: &str) -> EngineSummary {
    EngineSummary {
        name: e.name.unwrap_or_else(|| fallback_name.to_owned()),
        endpoint: e.endpoint,
        local: e.local,
        version: e.version,
        api_version: e.api_version,
        platform: e.platform,
        rootless: e.rootless,
    }
}

/// Reads the JSON report at `path`.
pub fn read(path: &Path) -> Result<RunReport, ReadError> {
    let err = |detail: String| ReadError {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    parse(&text).map_err(err)
}

/// Parses a JSON report's text.
pub fn parse(text: &str) -> Result<RunReport, String> {
    let w: Wire = serde_json::from_str(text)
        .map_err(|e| format!("not an archsmoke JSON report (`--json`): {e}"))?;
    if w.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema version {} (this archsmoke reads {SCHEMA_VERSION}); merge with the \
             archsmoke version that wrote it",
            w.schema_version
        ));
    }
    let default = crate::outcome::DEFAULT_ENGINE;
    let mut engines: Vec<EngineSummary> =
        w.engines.into_iter().map(|e| engine(e, default)).collect();
    let first = w.engine.map(|e| engine(e, default));
    if engines.is_empty() {
        engines.extend(first.clone());
    }
    let platforms = w
        .platforms
        .into_iter()
        .map(|p| PlatformReport {
            platform: p.platform,
            engine: p.engine,
            entry: p.entry.map(|e| EntryChoice {
                digest: e.digest,
                platform: e.platform,
                reason: e.reason,
            }),
            mode: p.execution,
            service: p.service.map(Box::new),
            containers_done: None,
            pull: p.pull.map(|x| PullReport {
                image_id: x.image_id,
                pulled: x.pulled,
                duration: secs(x.duration_secs),
            }),
            problem: p.problem.map(problem),
            tests: p
                .tests
                .into_iter()
                .map(|t| TestReport {
                    name: t.name,
                    command: t.command,
                    status: t.status,
                    exit_code: t.exit_code,
                    expected_exit_code: t.expected_exit_code,
                    stdout: t.stdout,
                    stderr: t.stderr,
                    stdout_dropped: t.stdout_dropped_bytes,
                    stderr_dropped: t.stderr_dropped_bytes,
                    mismatches: t
                        .mismatches
                        .into_iter()
                        .map(|m| Mismatch {
                            check: m.check,
                            expected: m.expected,
                            actual: m.actual,
                        })
                        .collect(),
                    duration: secs(t.duration_secs),
                    timeout: secs(t.timeout_secs.unwrap_or(0.0)),
                    slowdown: t.slowdown,
                    error: t.error,
                })
                .collect(),
            duration: secs(p.duration_secs),
            slowdown: p.slowdown,
        })
        .collect();
    let phases = w.phases.map_or_else(Phases::default, |p| Phases {
        engine: p.engine_secs.map(secs),
        resolve: p.resolve_secs.map(secs),
        run: p.run_secs.map(secs),
        audit: p.audit_secs.map(secs),
    });
    Ok(RunReport {
        run_id: w.run_id,
        spec: w.spec,
        suite: w.suite,
        spec_digest: w.spec_digest,
        image: ImageSummary {
            reference: w.image.reference,
            digest: w.image.digest,
            media_type: w.image.media_type,
            is_index: w.image.is_index,
            available: w.image.available,
            attestations: w.image.attestations,
        },
        engine: engines.first().cloned().or(first),
        engines,
        started_at: w.started_at,
        duration: secs(w.duration_secs),
        platforms,
        problem: w.problem.map(problem),
        interrupted: w.interrupted,
        phases,
        spec_lines: w.spec_lines,
        // Derived from the platforms; whoever needs them (merge) computes them again.
        emulation_differences: Vec::new(),
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
