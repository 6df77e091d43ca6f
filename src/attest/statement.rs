//! The in-toto Statement v1 archsmoke signs for each tested child manifest: subject the child's
//! digest (never the list's), predicate type [`PREDICATE_TYPE`], and a predicate that says what
//! ran where, natively or under which emulator, with which result. Built from the report as
//! written ([`wire::Report`]), so `run --attest` and `attest REPORT.json` sign the same thing.

use serde::{Deserialize, Serialize};

use crate::mode::ExecMode;
use crate::outcome::TestStatus;
use crate::report::json::wire::{self, Verdict};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// archsmoke's predicate, versioned in its URI: `v1` changes only by adding fields.
pub const PREDICATE_TYPE: &str = "https://archsmoke.dev/smoke-test/v1";

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Predicate {
    pub platform: String,
    /// The platform's verdict, as in the JSON report.
    pub result: Verdict,
    /// Ran on its engine's own CPU (true) or under an emulator (false).
    pub native: bool,
    /// How it ran, as the JSON report's `execution` (emulated: the emulator, its interpreter
    /// and version).
    pub execution: Option<ExecMode>,
    pub engine: Option<EngineInfo>,
    pub tests: Vec<TestResult>,
    pub counts: wire::Counts,
    pub spec: SpecInfo,
    pub image: ImageInfo,
    pub archsmoke: Tool,
    pub run: RunInfo,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EngineInfo {
    pub name: String,
    pub version: String,
    pub platform: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub status: TestStatus,
    pub duration_secs: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SpecInfo {
    pub path: String,
    pub digest: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ImageInfo {
    pub reference: String,
    /// The index the child was tested in (absent for per-platform images).
    pub index_digest: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Tool {
    pub version: String,
    /// `archsmoke --version`'s long form, with the commit it was built from when known.
    pub build: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
}

/// One statement per row of `report` that ran tests on a known child digest, with the row's
/// platform, in report order. Rows that ran nothing, were skipped, or never reached an index
/// entry vouch for nothing and get none.
pub fn statements(report: &wire::Report, repository: &str) -> Vec<Statement> {
    let finished_at = humantime::parse_rfc3339_weak(&report.started_at)
        .ok()
        .and_then(|t| {
            t.checked_add(std::time::Duration::try_from_secs_f64(report.duration_secs).ok()?)
        })
        .map_or_else(
            || report.started_at.clone(),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        );
    report
        .platforms
        .iter()
        .filter(|p| !p.tests.is_empty())
        .filter_map(|p| {
            let entry = p.entry.as_ref()?;
            let hex = entry.digest.strip_prefix("sha256:")?;
            let engine = p.engine.as_deref().and_then(|name| {
                report
                    .engines
                    .iter()
                    .find(|e| e.name.as_deref() == Some(name))
                    .map(|e| EngineInfo {
                        name: name.to_owned(),
                        version: e.engine.version.clone(),
                        platform: e.engine.platform.to_string(),
                    })
            });
            Some(Statement {
                type_: STATEMENT_TYPE.into(),
                subject: vec![Subject {
                    name: format!("{repository}@{}", entry.digest),
                    digest: [("sha256".to_owned(), hex.to_owned())].into(),
                }],
                predicate_type: PREDICATE_TYPE.into(),
                predicate: Predicate {
                    platform: p.platform.to_string(),
                    result: p.result.unwrap_or(Verdict::Error),
                    native: p.execution.as_ref().is_some_and(|m| m.is_native()),
                    execution: p.execution.clone(),
                    engine,
                    tests: p
                        .tests
                        .iter()
                        .map(|t| TestResult {
                            name: t.name.clone(),
                            status: t.status,
                            duration_secs: t.duration_secs,
                        })
                        .collect(),
                    counts: p.counts,
                    spec: SpecInfo {
                        path: report.spec.clone(),
                        digest: report.spec_digest.clone(),
                    },
                    image: ImageInfo {
                        reference: report.image.reference.clone(),
                        index_digest: report.image.digest.clone(),
                    },
                    archsmoke: Tool {
                        version: env!("CARGO_PKG_VERSION").into(),
                        build: env!("ARCHSMOKE_LONG_VERSION").into(),
                    },
                    run: RunInfo {
                        id: report.run_id.clone(),
                        started_at: report.started_at.clone(),
                        finished_at: finished_at.clone(),
                    },
                },
            })
        })
        .collect()
}

impl Statement {
    /// The subject's `sha256:<hex>` digest.
    pub fn subject_digest(&self) -> Option<String> {
        self.subject
            .first()
            .and_then(|s| s.digest.get("sha256"))
            .map(|h| format!("sha256:{h}"))
    }
}
